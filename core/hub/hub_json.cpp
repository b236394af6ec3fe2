// The hub's JSON replies (hub_json.h): a listing page, its Link header, search results.
#include "hub/hub_json.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>

#include "base/error.h"
#include "base/json_parse.h"

namespace lc::hub {

namespace {

using nlohmann::json;

// Through base/json_parse.h: nesting limited, every failure one lc::Error.
json parse_reply(const std::string& body, const std::string& url) {
    try {
        return parse_json(body, url);
    } catch (const Error& e) {
        std::string why = e.what();
        if (why.rfind(url, 0) == 0) why = why.substr(url.size() + 1);
        throw Error(url + " did not answer with JSON (" + why +
                    "); is HF_ENDPOINT a Hugging Face hub?");
    }
}

// A whole number in [lo, hi] as int64_t, checked before any conversion: nlohmann's get<int64_t>
// of 1e300 (a float) or of 2^64 - 1 (unsigned) is a plain cast, undefined or wrapped.
std::optional<int64_t> whole_number(const json& v, int64_t lo, int64_t hi) {
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (hi < 0 || u > static_cast<uint64_t>(hi)) return std::nullopt;
        return static_cast<int64_t>(u);
    }
    if (v.is_number_integer()) {
        const int64_t i = v.get<int64_t>();
        if (i < lo || i > hi) return std::nullopt;
        return i;
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) ||
            d > static_cast<double>(hi))
            return std::nullopt;
        return static_cast<int64_t>(d);
    }
    return std::nullopt;
}

// A file's size in the listing: [0, kMaxListedFileBytes].
int64_t byte_count(const json& v, const std::string& url, const std::string& path) {
    if (!v.is_number()) throw Error(url + " listed a file without its path or size");
    const auto n = whole_number(v, 0, kMaxListedFileBytes);
    if (!n)
        throw Error(url + " listed " + path + " with a size of " + v.dump() +
                    " bytes, which no file has");
    return *n;
}

// Downloads and likes: 0 when absent, not a number or out of range. 2^53 leaves any double of
// the range exactly convertible.
int64_t count_of(const json& m, const char* key) {
    auto v = m.find(key);
    if (v == m.end()) return 0;
    return whole_number(*v, -(int64_t{1} << 53), int64_t{1} << 53).value_or(0);
}

const std::set<std::string>& mla_model_types() {
    static const std::set<std::string> types = {"deepseek_v2", "deepseek_v3", "kimi_k2",
                                                "glm4_moe_lite"};
    return types;
}

}  // namespace

std::vector<RepoFile> parse_file_list(const std::string& body, const std::string& url) {
    const json list = parse_reply(body, url);
    if (!list.is_array()) throw Error(url + " did not answer with a list of files");
    std::vector<RepoFile> files;
    for (const auto& entry : list) {
        if (!entry.is_object()) continue;
        const auto type = entry.find("type");
        if (type == entry.end() || !type->is_string() || *type != "file") continue;
        RepoFile f;
        const auto path = entry.find("path");
        const auto size = entry.find("size");
        if (path == entry.end() || !path->is_string() || size == entry.end())
            throw Error(url + " listed a file without its path or size");
        f.path = path->get<std::string>();
        f.size = byte_count(*size, url, f.path);
        if (auto lfs = entry.find("lfs"); lfs != entry.end() && lfs->is_object()) {
            const auto oid = lfs->find("oid");
            if (oid == lfs->end() || !oid->is_string())
                throw Error(url + " listed " + f.path + " as an LFS file without its sha256");
            f.sha256 = oid->get<std::string>();
            if (auto lfs_size = lfs->find("size"); lfs_size != lfs->end())
                f.size = byte_count(*lfs_size, url, f.path);
        } else if (auto oid = entry.find("oid"); oid != entry.end()) {
            if (!oid->is_string())
                throw Error(url + " listed " + f.path + " with an oid that is not a string");
            f.git_oid = oid->get<std::string>();
        }
        files.push_back(std::move(f));
    }
    return files;
}

std::string next_page_link(const std::string& link) {
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

std::vector<SearchResult> parse_search(const std::string& body, const std::string& url, int limit,
                                       bool all) {
    const json list = parse_reply(body, url);
    if (!list.is_array()) throw Error(url + " did not answer with a list of models");
    std::vector<SearchResult> results;
    for (const auto& m : list) {
        if (static_cast<int>(results.size()) >= limit) break;
        if (!m.is_object()) continue;
        const auto id = m.find("id");
        if (id == m.end() || !id->is_string()) continue;
        SearchResult r;
        r.repo = id->get<std::string>();
        r.downloads = count_of(m, "downloads");
        r.likes = count_of(m, "likes");
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
    }
    return results;
}

}  // namespace lc::hub
