// The models on this machine: LatentChat's models folder and the huggingface_hub cache.
#include "hub/model_store.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <regex>
#include <system_error>

#include "base/error.h"

namespace fs = std::filesystem;

namespace lc::hub {

namespace {

fs::path env_path(const char* name) {
    const char* v = std::getenv(name);
    // The XDG variables count only when absolute (XDG Base Directory spec).
    if (!v || !*v || v[0] != '/') return {};
    return v;
}

fs::path home() {
    fs::path h = env_path("HOME");
    if (h.empty()) throw Error("HOME is not set, so there is no default models folder; use --dir");
    return h;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "<stem>-00002-of-00003.gguf": a later part of a split set, listed by its first part.
bool is_later_split_part(const std::string& name) {
    static const std::regex pattern(R"(^.*-([0-9]{5})-of-[0-9]{5}\.gguf$)", std::regex::icase);
    std::smatch m;
    return std::regex_match(name, m, pattern) && m[1].str() != "00001";
}

// "<stem>-00001-of-00003.gguf" -> every existing part of that set (itself alone otherwise).
std::vector<fs::path> split_set(const fs::path& first) {
    static const std::regex pattern(R"(^(.*)-00001-of-([0-9]{5})\.gguf$)", std::regex::icase);
    const std::string name = first.filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, pattern)) return {first};
    std::vector<fs::path> parts;
    const int count = std::stoi(m[2].str());
    for (int i = 1; i <= count; ++i) {
        char part[32];
        std::snprintf(part, sizeof part, "-%05d-of-%s.gguf", i, m[2].str().c_str());
        parts.push_back(first.parent_path() / (m[1].str() + part));
    }
    return parts;
}

int64_t size_of(const fs::path& p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);  // follows the HF cache's symlinks to their blobs
    return ec ? 0 : static_cast<int64_t>(n);
}

// Walks `dir` (to a few levels: models keep repo paths such as "Q4_K_M/x.gguf") and adds its
// GGUF files, and the folder itself when it has config.json. `prefix` names them.
void scan(const fs::path& dir, const std::string& prefix, bool in_cache, int depth,
          std::vector<LocalModel>& out) {
    std::error_code ec;
    std::vector<fs::directory_entry> entries;
    for (const auto& e : fs::directory_iterator(dir, ec))
        entries.push_back(e);
    if (ec) return;
    std::map<std::string, LocalModel> ggufs;  // by file name, for the .part bookkeeping
    bool folder_model = false, folder_parts = false;
    int64_t folder_bytes = 0;
    for (const auto& e : entries) {
        const std::string name = e.path().filename().string();
        if (e.is_directory(ec)) {
            if (depth > 0 && name[0] != '.')
                scan(e.path(), prefix + name + "/", in_cache, depth - 1, out);
            continue;
        }
        if (name == "config.json") folder_model = true;
        if (name == kPullingMarker) folder_parts = true;
        const bool part = ends_with(name, ".part");
        const std::string whole = part ? name.substr(0, name.size() - 5) : name;
        if (ends_with(whole, ".gguf")) {
            // A split set is one model, named by its first part, incomplete while any part is.
            std::string key = whole;
            if (is_later_split_part(whole)) {
                static const std::regex to_first(R"(-[0-9]{5}(-of-[0-9]{5}\.gguf)$)",
                                                 std::regex::icase);
                key = std::regex_replace(whole, to_first, "-00001$1");
            }
            LocalModel& m = ggufs[key];
            m.name = prefix + key;
            m.path = dir / key;
            m.in_hf_cache = in_cache;
            m.bytes += size_of(e.path());
            if (part) m.complete = false;
            continue;
        }
        folder_bytes += size_of(e.path());
        if (part) folder_parts = true;
    }
    for (auto& [key, m] : ggufs) {
        for (const fs::path& p : split_set(m.path))
            if (!fs::exists(p, ec) && !fs::exists(p.string() + ".part", ec)) m.complete = false;
        out.push_back(std::move(m));
    }
    if (folder_model && !prefix.empty()) {
        LocalModel m;
        m.name = prefix.substr(0, prefix.size() - 1);
        m.path = dir;
        m.bytes = folder_bytes;
        m.in_hf_cache = in_cache;
        m.complete = !folder_parts;
        out.push_back(std::move(m));
    }
}

// models--owner--name/snapshots/<revision>/: one entry per snapshot, "owner/name" (with
// "@<revision>" when the cache holds several).
void scan_hf_cache(std::vector<LocalModel>& out) {
    const fs::path cache = huggingface_cache_dir();
    std::error_code ec;
    for (const auto& repo : fs::directory_iterator(cache, ec)) {
        const std::string dir = repo.path().filename().string();
        if (dir.rfind("models--", 0) != 0) continue;
        std::string id = dir.substr(8);
        if (auto sep = id.find("--"); sep != std::string::npos) id.replace(sep, 2, "/");
        std::vector<fs::path> snapshots;
        for (const auto& s : fs::directory_iterator(repo.path() / "snapshots", ec))
            if (s.is_directory()) snapshots.push_back(s.path());
        std::sort(snapshots.begin(), snapshots.end());
        for (const fs::path& s : snapshots) {
            std::string name = id;
            if (snapshots.size() > 1) {
                const std::string revision = s.filename().string();
                name.push_back('@');
                name.append(revision, 0, 12);
            }
            scan(s, name + "/", true, 3, out);
        }
    }
}

}  // namespace

fs::path default_models_dir() {
    fs::path data = env_path("XDG_DATA_HOME");
    if (data.empty()) data = home() / ".local" / "share";
    return data / "LatentChat" / "models";
}

fs::path huggingface_cache_dir() {
    if (fs::path p = env_path("HF_HUB_CACHE"); !p.empty()) return p;
    if (fs::path p = env_path("HUGGINGFACE_HUB_CACHE"); !p.empty()) return p;
    if (fs::path p = env_path("HF_HOME"); !p.empty()) return p / "hub";
    if (fs::path p = env_path("XDG_CACHE_HOME"); !p.empty()) return p / "huggingface" / "hub";
    return home() / ".cache" / "huggingface" / "hub";
}

std::vector<LocalModel> list_local_models(const fs::path& models_dir) {
    std::vector<LocalModel> out;
    std::error_code ec;
    if (fs::is_directory(models_dir, ec)) scan(models_dir, "", false, 4, out);
    scan_hf_cache(out);
    std::sort(out.begin(), out.end(), [](const LocalModel& a, const LocalModel& b) {
        return a.name != b.name ? a.name < b.name : a.in_hf_cache < b.in_hf_cache;
    });
    return out;
}

void remove_local_model(const fs::path& models_dir, const std::string& name) {
    const std::vector<LocalModel> models = list_local_models(models_dir);
    const LocalModel* found = nullptr;
    for (const LocalModel& m : models)
        if (m.name == name && (!found || found->in_hf_cache)) found = &m;
    if (!found)
        throw Error("no model named '" + name + "' in " + models_dir.string() +
                    " (latentchat-cli models list shows their names)");
    if (found->in_hf_cache)
        throw Error("'" + name + "' is in the huggingface_hub cache (" + found->path.string() +
                    "), which LatentChat does not change; remove it with `hf cache delete`");
    std::error_code ec;
    if (fs::is_directory(found->path, ec)) {
        fs::remove_all(found->path, ec);
        if (ec) throw Error("cannot remove " + found->path.string() + ": " + ec.message());
        return;
    }
    for (const fs::path& p : split_set(found->path)) {
        for (const fs::path& f : {p, fs::path(p.string() + ".part")}) {
            fs::remove(f, ec);
            if (ec) throw Error("cannot remove " + f.string() + ": " + ec.message());
        }
    }
    // Folders the pull made for it ("owner--name/Q4_K_M/") go with their last model.
    const std::string root = fs::weakly_canonical(models_dir, ec).string() + "/";
    for (fs::path dir = found->path.parent_path(); !dir.empty(); dir = dir.parent_path()) {
        const std::string here = fs::weakly_canonical(dir, ec).string() + "/";
        if (ec || here.size() <= root.size() || here.compare(0, root.size(), root) != 0) break;
        if (!fs::is_empty(dir, ec) || ec) break;
        fs::remove(dir, ec);
    }
}

}  // namespace lc::hub
