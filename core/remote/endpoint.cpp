// The endpoint: its URL, its requests' headers, its errors in words, and its list of models.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_parse.h"
#include "hub/http.h"
#include "remote/openai_client.h"
#include "remote/request.h"

namespace lc::remote {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string status_words(long status) {
    switch (status) {
        case 401:
            return "401 Unauthorized (the API key is missing or wrong)";
        case 403:
            return "403 Forbidden (the API key is not allowed this)";
        default:
            return hub::http_status_words(status);
    }
}

}  // namespace

std::string normalize_base_url(const std::string& url) {
    std::string u = url;
    while (!u.empty() && std::isspace(static_cast<unsigned char>(u.back())))
        u.pop_back();
    u.erase(0, u.find_first_not_of(" \t\r\n"));
    if (u.empty()) throw Error("no server URL was given (for example http://127.0.0.1:8000/v1)");
    const std::string l = lower(u);
    const size_t scheme = l.rfind("http://", 0) == 0 ? 7 : l.rfind("https://", 0) == 0 ? 8 : 0;
    if (scheme == 0)
        throw Error("the server URL '" + url + "' must begin with http:// or https://");
    while (!u.empty() && u.back() == '/')
        u.pop_back();
    for (const char* tail : {"/chat/completions", "/completions", "/models"}) {
        if (ends_with(lower(u), tail)) {
            u.resize(u.size() - std::string(tail).size());
            break;
        }
    }
    while (!u.empty() && u.back() == '/')
        u.pop_back();
    if (u.size() <= scheme) throw Error("the server URL '" + url + "' names no host");
    // No path after the host: the API lives under /v1 on every server we talk to.
    if (u.find('/', scheme) == std::string::npos) u += "/v1";
    return u;
}

hub::HttpRequest make_request(const RemoteOptions& options, const std::string& url,
                              const std::atomic<bool>* cancel) {
    hub::HttpRequest r;
    r.url = url;
    r.connect_timeout_s = options.connect_timeout_s;
    r.stall_timeout_s = options.stall_timeout_s;
    r.cancel = cancel;
    r.headers.push_back("Accept: application/json, text/event-stream");
    if (!options.api_key.empty()) r.headers.push_back("Authorization: Bearer " + options.api_key);
    return r;
}

std::string server_message(const std::string& body) {
    std::string text;
    try {
        const nlohmann::json j = parse_json(body, "the error reply");
        if (j.is_object()) {
            const auto pick = [](const nlohmann::json& v) -> std::string {
                if (v.is_string()) return v.get<std::string>();
                if (v.is_object() && v.contains("message") && v["message"].is_string())
                    return v["message"].get<std::string>();
                return v.is_null() ? std::string() : v.dump();
            };
            if (j.contains("error"))
                text = pick(j["error"]);
            else if (j.contains("message"))
                text = pick(j["message"]);
            else if (j.contains("detail"))
                text = pick(j["detail"]);
        }
    } catch (const Error&) {
        text = body;
    }
    // One line, not a page of HTML.
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    if (text.size() > 300) text = text.substr(0, 300) + "...";
    return text;
}

void check_reply(const std::string& url, const hub::HttpReply& reply) {
    if (!reply.transport_error.empty()) {
        if (reply.timed_out) throw Error(url + " did not answer in time: " + reply.transport_error);
        throw Error("could not reach " + url + ": " + reply.transport_error);
    }
    if (reply.status >= 200 && reply.status < 300) return;
    const std::string message = server_message(reply.body);
    throw Error(url + " answered " + status_words(reply.status) +
                (message.empty() ? std::string() : ": " + message));
}

std::vector<std::string> list_models(const RemoteOptions& options,
                                     const std::atomic<bool>* cancel) {
    const std::string url = normalize_base_url(options.base_url) + "/models";
    const hub::HttpReply reply = hub::http_get(make_request(options, url, cancel));
    if (reply.cancelled) throw Error("the request to " + url + " was cancelled");
    check_reply(url, reply);
    const nlohmann::json j = parse_json(reply.body, "the model list from " + url);
    // {"object": "list", "data": [{"id": ...}, ...]}
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
        throw Error(url + " did not answer with a model list (no \"data\" array)");
    std::vector<std::string> ids;
    for (const nlohmann::json& m : j["data"])
        if (m.is_object() && m.contains("id") && m["id"].is_string())
            ids.push_back(m["id"].get<std::string>());
    return ids;
}

std::string choose_model(const RemoteOptions& options, const std::atomic<bool>* cancel) {
    if (!options.model.empty()) return options.model;
    const std::vector<std::string> ids = list_models(options, cancel);
    if (ids.empty())
        throw Error(normalize_base_url(options.base_url) + "/models lists no model to chat with");
    return ids.front();
}

}  // namespace lc::remote
