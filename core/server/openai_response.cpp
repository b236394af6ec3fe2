#include "server/openai_response.h"

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace lc::server {

namespace {

using nlohmann::json;

// A model may emit bytes that are no UTF-8 (a byte-level token cut short at the end); they
// become U+FFFD instead of making the whole answer fail.
std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json usage_json(const Usage& u) {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json envelope(const ResponseIds& ids, const char* object) {
    return {{"id", ids.id}, {"object", object}, {"created", ids.created}, {"model", ids.model}};
}

json optional_string(const std::optional<std::string>& s) {
    return s ? json(*s) : json(nullptr);
}

}  // namespace

std::string openai_finish_reason(std::string_view engine_reason) {
    if (engine_reason == "length" || engine_reason == "context_full") return "length";
    return "stop";
}

std::string error_json(const ApiError& error) {
    auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
    return dump({{"error",
                  {{"message", error.what()},
                   {"type", error.type()},
                   {"param", or_null(error.param())},
                   {"code", or_null(error.code())}}}});
}

std::string model_json(const std::string& id, int64_t created) {
    return dump(
        {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "latentchat"}});
}

std::string models_json(const std::vector<std::string>& ids, int64_t created) {
    json data = json::array();
    for (const std::string& id : ids)
        data.push_back(
            {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "latentchat"}});
    return dump({{"object", "list"}, {"data", data}});
}

std::string chat_completion_json(const ResponseIds& ids, const std::string& text,
                                 const std::string& finish_reason, const Usage& usage) {
    json j = envelope(ids, "chat.completion");
    j["choices"] = json::array({{{"index", 0},
                                 {"message", {{"role", "assistant"}, {"content", text}}},
                                 {"logprobs", nullptr},
                                 {"finish_reason", finish_reason}}});
    j["usage"] = usage_json(usage);
    return dump(j);
}

std::string chat_chunk_json(const ResponseIds& ids, const std::string& content, bool with_role,
                            const std::optional<std::string>& finish_reason) {
    json delta = json::object();
    if (with_role) delta["role"] = "assistant";
    if (!content.empty() || with_role) delta["content"] = content;
    json j = envelope(ids, "chat.completion.chunk");
    j["choices"] = json::array({{{"index", 0},
                                 {"delta", delta},
                                 {"logprobs", nullptr},
                                 {"finish_reason", optional_string(finish_reason)}}});
    return dump(j);
}

std::string chat_usage_chunk_json(const ResponseIds& ids, const Usage& usage) {
    json j = envelope(ids, "chat.completion.chunk");
    j["choices"] = json::array();
    j["usage"] = usage_json(usage);
    return dump(j);
}

std::string completion_json(const ResponseIds& ids, const std::string& text,
                            const std::string& finish_reason, const Usage& usage) {
    json j = envelope(ids, "text_completion");
    j["choices"] = json::array(
        {{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}});
    j["usage"] = usage_json(usage);
    return dump(j);
}

std::string completion_chunk_json(const ResponseIds& ids, const std::string& text,
                                  const std::optional<std::string>& finish_reason) {
    json j = envelope(ids, "text_completion");
    j["choices"] = json::array({{{"text", text},
                                 {"index", 0},
                                 {"logprobs", nullptr},
                                 {"finish_reason", optional_string(finish_reason)}}});
    return dump(j);
}

std::string completion_usage_chunk_json(const ResponseIds& ids, const Usage& usage) {
    json j = envelope(ids, "text_completion");
    j["choices"] = json::array();
    j["usage"] = usage_json(usage);
    return dump(j);
}

std::string sse_event(const std::string& data) {
    return "data: " + data + "\n\n";
}

}  // namespace lc::server
