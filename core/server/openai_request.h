#pragma once
// Requests of the OpenAI API as the server accepts them: the JSON body of
// POST /v1/chat/completions and POST /v1/completions turned into a typed request, every field
// checked. The body comes from the network, so it is parsed by base/json_parse.h (nesting
// limited) and any fault is an ApiError (400) naming the field; nothing else escapes.
// Plain C++ with no engine types, so it can be fuzzed alone (fuzz/fuzz_openai_request.cpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/message.h"

namespace lc::server {

// The sampling and stopping fields both endpoints share. Unset fields take the server's
// defaults (those of `latentchat-cli generate`, docs/design.md section 9).
struct SamplingRequest {
    std::optional<int> max_tokens;  // max_tokens, or max_completion_tokens (which wins)
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<int> top_k;     // not OpenAI's; vLLM and llama.cpp take it
    std::optional<double> min_p;  // likewise
    std::optional<double> repetition_penalty;
    std::optional<uint64_t> seed;  // a negative seed is taken modulo 2^64
    std::vector<std::string> stop;
    bool ignore_eos = false;  // vLLM's: generate max_tokens whatever the model says (benchmarks)
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
};

struct ChatRequest {
    std::string model;              // empty when the request names none
    std::vector<Message> messages;  // roles system, user, assistant; the user's last
    SamplingRequest sampling;
};

struct CompletionRequest {
    std::string model;
    std::string prompt;
    SamplingRequest sampling;
};

// Largest request the parsers accept in a few of their dimensions; the transport limits the
// body's bytes before them.
inline constexpr size_t kMaxMessages = 4096;
inline constexpr size_t kMaxStopStrings = 4;
inline constexpr int kMaxTokensLimit = 1 << 20;

// Throw ApiError (400) with the field at fault in param().
ChatRequest parse_chat_request(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);

}  // namespace lc::server
