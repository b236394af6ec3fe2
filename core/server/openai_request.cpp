#include "server/openai_request.h"

#include <cmath>
#include <limits>

#include "base/json_parse.h"
#include "server/api_error.h"

namespace lc::server {

namespace {

using nlohmann::json;

json parse_body(std::string_view body) {
    json j;
    try {
        j = parse_json(body, "the request body");
    } catch (const Error& e) {
        throw ApiError::invalid(e.what());
    }
    if (!j.is_object()) throw ApiError::invalid("the request body must be a JSON object");
    return j;
}

// The field, or null when it is absent or JSON null (OpenAI's clients send null for "unset").
const json* field(const json& body, const char* name) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return nullptr;
    return &*it;
}

std::optional<double> number_in(const json& body, const char* name, double min, double max,
                                bool min_open = false) {
    const json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw ApiError::invalid(std::string(name) + " must be a number", name);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x > max || (min_open ? x <= min : x < min))
        throw ApiError::invalid(std::string(name) + " must be " +
                                    (min_open ? "above " : "at least ") + json(min).dump() +
                                    " and at most " + json(max).dump(),
                                name);
    return x;
}

std::optional<int> integer_in(const json& body, const char* name, int min, int max) {
    const json* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer())
        throw ApiError::invalid(std::string(name) + " must be an integer", name);
    // Read as uint64 or int64 (whichever the number is), so a huge value cannot wrap into range.
    int64_t x = max + int64_t{1};
    if (!v->is_number_unsigned())
        x = v->get<int64_t>();
    else if (v->get<uint64_t>() <= static_cast<uint64_t>(max))
        x = static_cast<int64_t>(v->get<uint64_t>());
    if (x < min || x > max)
        throw ApiError::invalid(std::string(name) + " must be between " + std::to_string(min) +
                                    " and " + std::to_string(max),
                                name);
    return static_cast<int>(x);
}

bool boolean(const json& body, const char* name) {
    const json* v = field(body, name);
    if (!v) return false;
    if (!v->is_boolean())
        throw ApiError::invalid(std::string(name) + " must be true or false", name);
    return v->get<bool>();
}

std::string model_of(const json& body) {
    const json* v = field(body, "model");
    if (!v) return {};
    if (!v->is_string()) throw ApiError::invalid("model must be a string", "model");
    return v->get<std::string>();
}

std::vector<std::string> stop_strings(const json& body) {
    const json* v = field(body, "stop");
    std::vector<std::string> out;
    if (!v) return out;
    auto add = [&](const json& s) {
        if (!s.is_string())
            throw ApiError::invalid("stop must be a string or a list of strings", "stop");
        if (s.get_ref<const std::string&>().empty())
            throw ApiError::invalid("a stop string must not be empty", "stop");
        out.push_back(s.get<std::string>());
    };
    if (v->is_array()) {
        if (v->size() > kMaxStopStrings)
            throw ApiError::invalid(
                "stop takes at most " + std::to_string(kMaxStopStrings) + " strings", "stop");
        for (const json& s : *v)
            add(s);
    } else {
        add(*v);
    }
    return out;
}

SamplingRequest sampling_of(const json& body) {
    SamplingRequest s;
    s.max_tokens = integer_in(body, "max_tokens", 1, kMaxTokensLimit);
    if (auto m = integer_in(body, "max_completion_tokens", 1, kMaxTokensLimit)) s.max_tokens = m;
    s.temperature = number_in(body, "temperature", 0, 2);
    s.top_p = number_in(body, "top_p", 0, 1, true);
    s.top_k = integer_in(body, "top_k", 0, 1 << 24);
    s.min_p = number_in(body, "min_p", 0, 1, false);
    if (s.min_p && *s.min_p >= 1) throw ApiError::invalid("min_p must be below 1", "min_p");
    s.repetition_penalty = number_in(body, "repetition_penalty", 0.01, 100);
    if (const json* seed = field(body, "seed")) {
        if (!seed->is_number_integer()) throw ApiError::invalid("seed must be an integer", "seed");
        s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>()
                                            : static_cast<uint64_t>(seed->get<int64_t>());
    }
    s.stop = stop_strings(body);
    if (auto n = integer_in(body, "n", 1, 1 << 20); n && *n != 1)
        throw ApiError::invalid("n must be 1: one choice per request", "n");
    if (boolean(body, "logprobs") || field(body, "top_logprobs"))
        throw ApiError::invalid("logprobs are not supported", "logprobs");
    s.ignore_eos = boolean(body, "ignore_eos");
    s.stream = boolean(body, "stream");
    if (const json* options = field(body, "stream_options")) {
        if (!options->is_object())
            throw ApiError::invalid("stream_options must be an object", "stream_options");
        s.include_usage = boolean(*options, "include_usage");
    }
    return s;
}

// A message's content: a string, null (an assistant turn that only called tools), or a list of
// text parts, joined.
std::string content_of(const json& message, size_t index) {
    const std::string where = "messages[" + std::to_string(index) + "].content";
    const json* c = field(message, "content");
    if (!c) return {};
    if (c->is_string()) return c->get<std::string>();
    if (!c->is_array())
        throw ApiError::invalid(where + " must be a string or a list of parts", where);
    std::string text;
    for (const json& part : *c) {
        if (!part.is_object() || !part.contains("type") || part["type"] != "text")
            throw ApiError::invalid(where + ": only parts of type \"text\" are supported", where);
        const json* t = field(part, "text");
        if (!t || !t->is_string())
            throw ApiError::invalid(where + ": a text part needs its text", where);
        text += t->get<std::string>();
    }
    return text;
}

std::vector<Message> messages_of(const json& body) {
    const json* list = field(body, "messages");
    if (!list) throw ApiError::invalid("messages is required", "messages");
    if (!list->is_array()) throw ApiError::invalid("messages must be a list", "messages");
    if (list->empty()) throw ApiError::invalid("messages must not be empty", "messages");
    if (list->size() > kMaxMessages)
        throw ApiError::invalid("at most " + std::to_string(kMaxMessages) + " messages",
                                "messages");
    std::vector<Message> out;
    out.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
        const json& m = (*list)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) throw ApiError::invalid(where + " must be an object", where);
        const json* role = field(m, "role");
        if (!role || !role->is_string())
            throw ApiError::invalid(where + ".role must be a string", where + ".role");
        std::string r = role->get<std::string>();
        if (r == "developer") r = "system";  // OpenAI's newer name for the system role
        if (r != "system" && r != "user" && r != "assistant")
            throw ApiError::invalid(where + ".role must be system, user or assistant, not '" +
                                        role->get<std::string>().substr(0, 40) + "'",
                                    where + ".role");
        out.emplace_back(std::move(r), content_of(m, i));
    }
    if (out.back().role != "user")
        throw ApiError::invalid("the last message must be the user's", "messages");
    return out;
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body) {
    const json j = parse_body(body);
    ChatRequest r;
    r.model = model_of(j);
    r.messages = messages_of(j);
    r.sampling = sampling_of(j);
    return r;
}

CompletionRequest parse_completion_request(std::string_view body) {
    const json j = parse_body(body);
    CompletionRequest r;
    r.model = model_of(j);
    const json* prompt = field(j, "prompt");
    if (!prompt) throw ApiError::invalid("prompt is required", "prompt");
    // One prompt per request: a string, or a list holding one string.
    if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string())
        prompt = &(*prompt)[0];
    if (!prompt->is_string())
        throw ApiError::invalid("prompt must be a string (one prompt per request)", "prompt");
    r.prompt = prompt->get<std::string>();
    if (r.prompt.empty()) throw ApiError::invalid("prompt must not be empty", "prompt");
    if (boolean(j, "echo")) throw ApiError::invalid("echo is not supported", "echo");
    if (field(j, "suffix")) throw ApiError::invalid("suffix is not supported", "suffix");
    r.sampling = sampling_of(j);
    return r;
}

}  // namespace lc::server
