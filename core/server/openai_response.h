#pragma once
// The JSON the server answers with, in the shapes of OpenAI's API: whole chat and text
// completions, their stream chunks as server-sent events, the model list, and errors.
// Plain C++ (no engine types): the transport fills in the text and the counts.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lc::server {

class ApiError;

// What every response of one request repeats: its id ("chatcmpl-..." or "cmpl-..."), its time
// (Unix seconds) and the model's name as the server calls it.
struct ResponseIds {
    std::string id;
    int64_t created = 0;
    std::string model;
};

struct Usage {
    int prompt_tokens = 0;  // the whole prompt, also the part the cache already held
    int completion_tokens = 0;
};

// OpenAI's finish_reason for the engine's (engine/generator.h finish_reason_name): "eos" and
// "stop" are "stop", "length" and "context_full" are "length".
std::string openai_finish_reason(std::string_view engine_reason);

// {"error": {"message", "type", "param", "code"}}; param and code are null when empty.
std::string error_json(const ApiError& error);

std::string model_json(const std::string& id, int64_t created);
std::string models_json(const std::vector<std::string>& ids, int64_t created);

std::string chat_completion_json(const ResponseIds& ids, const std::string& text,
                                 const std::string& finish_reason, const Usage& usage);
// One chunk of a streamed chat reply: the first carries the role, the last the finish reason.
std::string chat_chunk_json(const ResponseIds& ids, const std::string& content, bool with_role,
                            const std::optional<std::string>& finish_reason);
// The chunk stream_options.include_usage asks for: no choices, the usage.
std::string chat_usage_chunk_json(const ResponseIds& ids, const Usage& usage);

std::string completion_json(const ResponseIds& ids, const std::string& text,
                            const std::string& finish_reason, const Usage& usage);
std::string completion_chunk_json(const ResponseIds& ids, const std::string& text,
                                  const std::optional<std::string>& finish_reason);
std::string completion_usage_chunk_json(const ResponseIds& ids, const Usage& usage);

// One server-sent event carrying `data`, and the event that ends an OpenAI stream.
std::string sse_event(const std::string& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

}  // namespace lc::server
