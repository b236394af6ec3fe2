#include "hub/hub_request.h"

#include <cctype>

#include "base/error.h"

namespace lc::hub {

namespace {

// The hub explains refusals in X-Error-Message; a short one is worth passing on.
std::string hub_says(const HttpReply& reply) {
    auto it = reply.headers.find("x-error-message");
    if (it == reply.headers.end() || it->second.empty() || it->second.size() > 300) return "";
    return " (the hub says: " + it->second + ")";
}

}  // namespace

HttpRequest hub_request(const HubOptions& options, const std::string& url,
                        const std::string& what) {
    if (options.offline)
        throw Error("HF_HUB_OFFLINE is set, so " + what +
                    " cannot be fetched from the hub; unset HF_HUB_OFFLINE to go online");
    HttpRequest request;
    request.url = url;
    if (!options.token.empty()) request.headers.push_back("Authorization: Bearer " + options.token);
    request.connect_timeout_s = options.connect_timeout_s;
    request.stall_timeout_s = options.stall_timeout_s;
    return request;
}

void throw_if_failed(const HubOptions& options, const HttpReply& reply, const std::string& url,
                     const std::string& not_found) {
    if (!reply.transport_error.empty())
        throw Error("cannot download " + url + ": " + reply.transport_error);
    const long s = reply.status;
    if (s >= 200 && s < 300) return;
    const std::string answered = url + " answered " + http_status_words(s) + hub_says(reply);
    if (s == 401 && options.token.empty())
        throw Error(answered +
                    ": the repo is gated, private or does not exist; if you have access, set "
                    "HF_TOKEN to a Hugging Face access token");
    if (s == 401 || s == 403)
        throw Error(answered +
                    ": the token in HF_TOKEN was refused; check that it is valid and that your "
                    "account has accepted this model's terms on its hub page");
    if (s == 404) throw Error(not_found + " (" + answered + ")");
    if (s == 429 || s >= 500) throw Error(answered + "; try again later");
    throw Error(answered);
}

void check_repo_id(const std::string& repo) {
    auto part_ok = [](const std::string& part) {
        if (part.empty() || part == "." || part == ".." || part.size() > 96) return false;
        for (unsigned char c : part)
            if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
        return true;
    };
    const size_t slash = repo.find('/');
    const bool ok = slash == std::string::npos
                        ? part_ok(repo)
                        : part_ok(repo.substr(0, slash)) && part_ok(repo.substr(slash + 1));
    if (!ok)
        throw Error("'" + repo +
                    "' is not a hub model id: expected OWNER/NAME, e.g. "
                    "deepseek-ai/DeepSeek-V2-Lite-Chat");
}

}  // namespace lc::hub
