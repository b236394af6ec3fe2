// Which of a repo's files a model needs (files_to_pull): a folder model's config, tokenizer,
// template and safetensors, or one GGUF file with the rest of its split set.
#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "base/error.h"
#include "hub/hub.h"

namespace lc::hub {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_gguf(const std::string& path) {
    return ends_with(lower(path), ".gguf");
}

std::string base_name(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// llama.cpp's split sets: "<stem>-00001-of-00003.gguf".
struct SplitName {
    std::string stem;
    int part = 0, count = 0;
};
// Matched by hand as the regex ^(.*)-([0-9]{5})-of-([0-9]{5})\.gguf$ (icase) matched: std::regex
// recurses once per character, and a hub path of 100,000 characters overflowed the stack
// (fuzz_hub_json, issue 22).
std::optional<SplitName> split_name(const std::string& path) {
    constexpr size_t kTail = 20;  // "-00001-of-00003.gguf"
    if (path.size() < kTail) return std::nullopt;
    const std::string stem = path.substr(0, path.size() - kTail);
    const std::string tail = lower(path.substr(path.size() - kTail));
    auto digits = [&](size_t at) {
        for (size_t i = at; i < at + 5; ++i)
            if (!std::isdigit(static_cast<unsigned char>(tail[i]))) return false;
        return true;
    };
    // ECMAScript's '.' matches neither '\n' nor '\r'.
    if (stem.find_first_of("\n\r") != std::string::npos || tail[0] != '-' || !digits(1) ||
        tail.compare(6, 4, "-of-") != 0 || !digits(10) || tail.compare(15, 5, ".gguf") != 0)
        return std::nullopt;
    return SplitName{stem, std::stoi(tail.substr(1, 5)), std::stoi(tail.substr(10, 5))};
}

// The GGUF models of a repo: single files, and split sets by their first part.
std::vector<std::string> gguf_models(const std::vector<RepoFile>& all) {
    std::vector<std::string> names;
    for (const RepoFile& f : all) {
        if (!is_gguf(f.path)) continue;
        auto split = split_name(f.path);
        if (!split || split->part == 1) names.push_back(f.path);
    }
    return names;
}

std::string listing(const std::vector<std::string>& names) {
    if (names.empty()) return "none";
    std::string s;
    const size_t shown = std::min<size_t>(names.size(), 30);
    for (size_t i = 0; i < shown; ++i)
        s += (i ? ", " : "") + names[i];
    if (names.size() > shown) s += " and " + std::to_string(names.size() - shown) + " more";
    return s;
}

// `tag` as a whole word of `path` (words split at '/', '.', '-'): "Q4_K" is not "Q4_K_M".
bool names_tag(const std::string& path, const std::string& tag) {
    const std::string p = lower(path), t = lower(tag);
    auto boundary = [](char c) { return c == '/' || c == '.' || c == '-'; };
    for (size_t pos = p.find(t); pos != std::string::npos; pos = p.find(t, pos + 1)) {
        const bool left = pos == 0 || boundary(p[pos - 1]);
        const size_t end = pos + t.size();
        const bool right = end == p.size() || boundary(p[end]);
        if (left && right) return true;
    }
    return false;
}

std::vector<RepoFile> folder_model(const std::vector<RepoFile>& all) {
    static const std::set<std::string> needed = {
        "config.json",         "generation_config.json", "tokenizer.json",
        "tokenizer.model",     "tokenizer_config.json",  "special_tokens_map.json",
        "chat_template.jinja", "chat_template.json",     "model.safetensors.index.json"};
    std::vector<RepoFile> out;
    bool config = false, weights = false;
    for (const RepoFile& f : all) {
        if (f.path.find('/') != std::string::npos) continue;  // other formats live in folders
        if (needed.count(f.path)) {
            out.push_back(f);
            config = config || f.path == "config.json";
        } else if (ends_with(lower(f.path), ".safetensors")) {
            out.push_back(f);
            weights = true;
        }
    }
    const std::vector<std::string> ggufs = gguf_models(all);
    if (!config || !weights) {
        const std::string missing = !config ? "no config.json" : "no .safetensors weights";
        if (!ggufs.empty())
            throw Error("the repo has " + missing +
                        "; it has GGUF files, pick one with --file: " + listing(ggufs));
        throw Error("the repo has " + missing +
                    ", so it is no model LatentChat runs (it reads safetensors folders and GGUF "
                    "files)");
    }
    return out;
}

}  // namespace

std::vector<RepoFile> files_to_pull(const std::vector<RepoFile>& all,
                                    const std::optional<std::string>& file) {
    if (!file) return folder_model(all);
    const std::vector<std::string> ggufs = gguf_models(all);
    const std::string& want = *file;
    std::vector<std::string> found;
    if (is_gguf(want)) {
        for (const RepoFile& f : all)
            if (f.path == want) found = {f.path};
        if (found.empty())
            for (const RepoFile& f : all)
                if (is_gguf(f.path) && base_name(f.path) == want) found.push_back(f.path);
    } else {
        for (const std::string& g : ggufs)
            if (names_tag(g, want)) found.push_back(g);
    }
    if (found.empty())
        throw Error("the repo has no GGUF file '" + want + "'; its GGUF files: " + listing(ggufs));
    if (found.size() > 1)
        throw Error("'" + want + "' names several GGUF files of the repo (" + listing(found) +
                    "); give one with --file");

    const auto split = split_name(found[0]);
    if (!split) {
        for (const RepoFile& f : all)
            if (f.path == found[0]) return {f};
    }
    // Every part of the set, whichever part was named.
    std::map<int, RepoFile> parts;
    for (const RepoFile& f : all) {
        auto s = split_name(f.path);
        if (s && s->stem == split->stem && s->count == split->count) parts[s->part] = f;
    }
    if (static_cast<int>(parts.size()) != split->count)
        throw Error("the repo has " + std::to_string(parts.size()) + " of the " +
                    std::to_string(split->count) + " parts of " + split->stem + ".gguf");
    std::vector<RepoFile> out;
    for (auto& [n, f] : parts)
        out.push_back(f);
    return out;
}

}  // namespace lc::hub
