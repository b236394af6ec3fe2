// The hub's JSON API: the environment it is reached with, a repo's file list, search by name.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>

#include "base/error.h"
#include "hub/hub.h"
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

// The next page of a listing, from `Link: <URL>; rel="next"`.
std::string next_page(const HttpReply& reply) {
    auto it = reply.headers.find("link");
    if (it == reply.headers.end()) return "";
    const std::string& link = it->second;
    size_t pos = 0;
    while (pos < link.size()) {
        const size_t open = link.find('<', pos);
        const size_t close = link.find('>', open == std::string::npos ? pos : open);
        if (open == std::string::npos || close == std::string::npos) return "";
        const size_t end = link.find(',', close);
        const std::string params =
            link.substr(close + 1, end == std::string::npos ? std::string::npos : end - close - 1);
        if (params.find("rel=\"next\"") != std::string::npos ||
            params.find("rel=next") != std::string::npos)
            return link.substr(open + 1, close - open - 1);
        if (end == std::string::npos) return "";
        pos = end + 1;
    }
    return "";
}

nlohmann::json parse_json(const HttpReply& reply, const std::string& url) {
    try {
        return nlohmann::json::parse(reply.body);
    } catch (const nlohmann::json::exception&) {
        throw Error(url + " did not answer with JSON; is HF_ENDPOINT a Hugging Face hub?");
    }
}

const std::set<std::string>& mla_model_types() {
    static const std::set<std::string> types = {"deepseek_v2", "deepseek_v3", "kimi_k2",
                                                "glm4_moe_lite"};
    return types;
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
        const nlohmann::json list = parse_json(reply, url);
        if (!list.is_array()) throw Error(url + " did not answer with a list of files");
        for (const auto& entry : list) {
            if (!entry.is_object() || entry.value("type", "") != "file") continue;
            RepoFile f;
            try {
                f.path = entry.at("path").get<std::string>();
                f.size = entry.at("size").get<int64_t>();
                if (auto lfs = entry.find("lfs"); lfs != entry.end() && lfs->is_object()) {
                    f.sha256 = lfs->at("oid").get<std::string>();
                    f.size = lfs->value("size", f.size);
                } else {
                    f.git_oid = entry.value("oid", "");
                }
            } catch (const nlohmann::json::exception&) {
                throw Error(url + " listed a file without its path or size");
            }
            files.push_back(std::move(f));
        }
        url = next_page(reply);
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
    const nlohmann::json list = parse_json(reply, url);
    if (!list.is_array()) throw Error(url + " did not answer with a list of models");
    std::vector<SearchResult> results;
    for (const auto& m : list) {
        if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) continue;
        SearchResult r;
        r.repo = m["id"].get<std::string>();
        if (auto v = m.find("downloads"); v != m.end() && v->is_number())
            r.downloads = v->get<int64_t>();
        if (auto v = m.find("likes"); v != m.end() && v->is_number()) r.likes = v->get<int64_t>();
        if (auto c = m.find("config"); c != m.end() && c->is_object()) {
            if (auto t = c->find("model_type"); t != c->end() && t->is_string())
                r.model_type = t->get<std::string>();
        }
        // GGUF repos have no config.json: llama.cpp calls every MLA model "deepseek2".
        std::string gguf_arch;
        if (auto g = m.find("gguf"); g != m.end() && g->is_object()) {
            if (auto a = g->find("architecture"); a != g->end() && a->is_string())
                gguf_arch = a->get<std::string>();
        }
        if (r.model_type.empty() && !gguf_arch.empty()) r.model_type = gguf_arch;
        r.mla = mla_model_types().count(r.model_type) > 0 || gguf_arch == "deepseek2";
        if (auto tags = m.find("tags"); !r.mla && tags != m.end() && tags->is_array()) {
            for (const auto& t : *tags)
                if (t.is_string() && mla_model_types().count(t.get<std::string>())) r.mla = true;
        }
        if (!r.mla && !all) continue;
        results.push_back(std::move(r));
        if (static_cast<int>(results.size()) >= limit) break;
    }
    return results;
}

}  // namespace lc::hub
