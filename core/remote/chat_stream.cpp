// POST {base}/chat/completions with "stream": true, read as server-sent events.
#include <chrono>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/error.h"
#include "base/json_parse.h"
#include "remote/openai_client.h"
#include "remote/request.h"
#include "remote/sse.h"

namespace lc::remote {

namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json request_body(const std::string& model, const ChatRequest& r) {
    nlohmann::json messages = nlohmann::json::array();
    for (const Message& m : r.messages) {
        if (m.role == "system" && m.content.empty()) continue;
        messages.push_back({{"role", m.role}, {"content", m.content}});
    }
    nlohmann::json body = {{"model", model},
                           {"messages", messages},
                           {"stream", true},
                           // The token counts at the end (OpenAI, vLLM, SGLang and our serve).
                           {"stream_options", {{"include_usage", true}}},
                           {"max_tokens", r.max_tokens},
                           {"temperature", r.temperature},
                           {"top_p", r.top_p}};
    if (r.seed) body["seed"] = *r.seed;
    if (!r.stop.empty()) body["stop"] = r.stop;
    if (r.top_k) body["top_k"] = *r.top_k;
    if (r.min_p) body["min_p"] = *r.min_p;
    if (r.repetition_penalty) body["repetition_penalty"] = *r.repetition_penalty;
    return body;
}

// One reply being read: the events' contents in order, and what ended it.
struct StreamState {
    const std::string* url = nullptr;
    const PieceCallback* on_piece = nullptr;
    Clock::time_point start;
    ChatStreamResult result;
    bool done = false;                 // "data: [DONE]" came
    std::optional<std::string> error;  // what went wrong inside the stream
    std::exception_ptr callback_error;
    bool whole_json = false;  // the server answered with one JSON body instead of a stream
    std::string json_body;

    void add_text(const std::string& text) {
        if (text.empty()) return;
        if (result.pieces == 0)
            result.time_to_first_token =
                std::chrono::duration<double>(Clock::now() - start).count();
        ++result.pieces;
        result.text += text;
        if (*on_piece) (*on_piece)(text);
    }

    // One chunk object ({"choices": [{"delta": {"content"}, "finish_reason"}], "usage"}) or,
    // with `whole`, a complete reply ({"choices": [{"message": {"content"}}]}).
    void take(const nlohmann::json& j, bool whole) {
        if (!j.is_object()) {
            error = *url + " sent an event that is not a JSON object";
            return;
        }
        if (j.contains("error") && !j["error"].is_null()) {
            error =
                *url + " reported an error in the middle of the reply: " + server_message(j.dump());
            return;
        }
        if (j.contains("model") && j["model"].is_string()) result.model = j["model"];
        if (j.contains("usage") && j["usage"].is_object()) {
            const nlohmann::json& u = j["usage"];
            if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer())
                result.prompt_tokens = u["prompt_tokens"].get<int>();
            if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
                result.completion_tokens = u["completion_tokens"].get<int>();
        }
        if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
        const nlohmann::json& choice = j["choices"][0];
        if (!choice.is_object()) return;
        const char* key = whole ? "message" : "delta";
        if (choice.contains(key) && choice[key].is_object()) {
            const nlohmann::json& d = choice[key];
            if (d.contains("content") && d["content"].is_string())
                add_text(d["content"].get<std::string>());
        }
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
            result.finish_reason = choice["finish_reason"];
    }

    bool on_event(const std::string& data) {
        if (data == "[DONE]") {
            done = true;
            return false;
        }
        try {
            take(parse_json(data, "an event from " + *url), false);
        } catch (const Error& e) {
            error = e.what();
        } catch (...) {
            callback_error = std::current_exception();
        }
        return !error && !callback_error;
    }
};

}  // namespace

ChatStreamResult stream_chat(const RemoteOptions& options, const ChatRequest& request,
                             const PieceCallback& on_piece, const std::atomic<bool>* cancel) {
    if (options.model.empty()) throw Error("internal: stream_chat without a model name");
    const std::string url = normalize_base_url(options.base_url) + "/chat/completions";
    hub::HttpRequest http = make_request(options, url, cancel);
    http.headers.push_back("Content-Type: application/json");

    StreamState state;
    state.url = &url;
    state.on_piece = &on_piece;
    state.start = Clock::now();
    SseParser parser([&state](const std::string& data) { return state.on_event(data); });
    bool first = true;
    const hub::BodySink sink = [&](const hub::HttpReply& head, const char* data, size_t n) {
        if (first) {
            first = false;
            const auto type = head.headers.find("content-type");
            state.whole_json = type != head.headers.end() &&
                               type->second.find("application/json") != std::string::npos;
        }
        if (cancel && cancel->load()) return false;
        if (state.whole_json) {
            state.json_body.append(data, n);
            return state.json_body.size() < (size_t{64} << 20);
        }
        try {
            return parser.feed(std::string_view(data, n));
        } catch (const Error& e) {
            state.error = url + ": " + e.what();
            return false;
        }
    };
    const hub::HttpReply reply =
        hub::http_post(http, request_body(options.model, request).dump(), sink);
    ChatStreamResult& result = state.result;
    result.seconds = std::chrono::duration<double>(Clock::now() - state.start).count();
    if (state.callback_error) std::rethrow_exception(state.callback_error);
    if (state.error) throw Error(*state.error);
    if (state.done) return result;
    if (cancel && cancel->load()) {
        result.cancelled = true;
        result.finish_reason = "cancelled";
        return result;
    }
    if (reply.status == 200 && !reply.transport_error.empty()) {
        const std::string after =
            " after " + std::to_string(result.pieces) + " pieces of the reply";
        if (reply.timed_out)
            throw Error(url + " stopped sending for " + std::to_string(options.stall_timeout_s) +
                        " s" + after);
        throw Error(url + " cut the stream" + after + ": " + reply.transport_error);
    }
    check_reply(url, reply);
    if (state.whole_json) {
        state.take(parse_json(state.json_body, "the reply from " + url), true);
        if (state.error) throw Error(*state.error);
        return result;
    }
    // A finish reason without [DONE] is a finished reply from a terse server; neither is a cut.
    if (!result.finish_reason.empty() && !parser.mid_event()) return result;
    throw Error(url + " ended the stream before the reply was complete (after " +
                std::to_string(result.pieces) + " pieces, no \"data: [DONE]\")");
}

}  // namespace lc::remote
