// The hub's JSON API: the environment it is reached with, a repo's file list, search by name.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "base/error.h"
#include "hub/hub.h"
#include "hub/hub_json.h"
#include "hub/hub_request.h"

namespace lc::hub {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
    return s.substr(i);
}

// huggingface_hub's reading of a boolean variable.
bool env_true(const char* name) {
    std::string v = env(name);
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

// The token `huggingface-cli login` saved, where huggingface_hub looks for it.
std::string saved_token() {
    std::filesystem::path file;
    if (!env("HF_TOKEN_PATH").empty())
        file = env("HF_TOKEN_PATH");
    else if (!env("HF_HOME").empty())
        file = std::filesystem::path(env("HF_HOME")) / "token";
    else if (!env("XDG_CACHE_HOME").empty())
        file = std::filesystem::path(env("XDG_CACHE_HOME")) / "huggingface" / "token";
    else if (!env("HOME").empty())
        file = std::filesystem::path(env("HOME")) / ".cache" / "huggingface" / "token";
    std::ifstream in(file);
    std::string token;
    if (in) std::getline(in, token);
    return trim(token);
}

}  // namespace

HubOptions HubOptions::from_environment() {
    HubOptions o;
    std::string endpoint = trim(env("HF_ENDPOINT"));
    while (!endpoint.empty() && endpoint.back() == '/')
        endpoint.pop_back();
    if (!endpoint.empty()) o.endpoint = endpoint;
    o.token = trim(env("HF_TOKEN"));
    if (o.token.empty()) o.token = saved_token();
    o.offline = env_true("HF_HUB_OFFLINE");
    return o;
}

std::vector<RepoFile> list_files(const HubOptions& options, const std::string& repo,
                                 const std::string& revision) {
    check_repo_id(repo);
    std::string url = options.endpoint + "/api/models/" + repo + "/tree/" +
                      url_encode(revision, false) + "?recursive=true";
    std::vector<RepoFile> files;
    for (int page = 0; !url.empty(); ++page) {
        if (page > 1000) throw Error(url + " keeps sending more pages of files");
        const HttpReply reply = http_get(hub_request(options, url, "the files of " + repo));
        const auto code = reply.headers.find("x-error-code");
        const bool no_revision = code != reply.headers.end() && code->second == "RevisionNotFound";
        throw_if_failed(options, reply, url,
                        no_revision ? "the model " + repo + " has no revision '" + revision + "'"
                                    : "no model '" + repo + "' on the hub");
        for (RepoFile& f : parse_file_list(reply.body, url))
            files.push_back(std::move(f));
        const auto link = reply.headers.find("link");
        url = link == reply.headers.end() ? "" : next_page_link(link->second);
    }
    std::sort(files.begin(), files.end(),
              [](const RepoFile& a, const RepoFile& b) { return a.path < b.path; });
    return files;
}

std::vector<SearchResult> search(const HubOptions& options, const std::string& text, int limit,
                                 bool all) {
    if (limit < 1) limit = 1;
    // Most hits of a name are not MLA models: ask for more than are kept.
    const int ask = all ? limit : std::min(limit * 5, 500);
    const std::string url = options.endpoint + "/api/models?search=" + url_encode(text, false) +
                            "&limit=" + std::to_string(ask) +
                            "&expand=config&expand=gguf&expand=tags&expand=downloads&expand=likes";
    const HttpReply reply = http_get(hub_request(options, url, "a search of the hub"));
    throw_if_failed(options, reply, url, "the hub has no model search at " + options.endpoint);
    return parse_search(reply.body, url, limit, all);
}

}  // namespace lc::hub
