#include "session/model_locator.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace lc {
namespace fs = std::filesystem;

namespace {

std::optional<fs::path> first_model_in(const fs::path& root) {
    std::error_code ec;
    if (fs::exists(root / "config.json", ec)) return root;
    if (!fs::is_directory(root, ec)) return std::nullopt;
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(root, ec))
        if (fs::exists(entry.path() / "config.json", ec)) found.push_back(entry.path());
    if (found.empty()) return std::nullopt;
    return *std::min_element(found.begin(), found.end());
}

}  // namespace

std::optional<fs::path> default_model_dir(const fs::path& source_models) {
    if (const char* env = std::getenv("LATENTCHAT_MODEL"); env && *env) {
        if (auto m = first_model_in(env)) return m;
        return fs::path(env);  // not a model: loading it says what is wrong with it
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        if (auto m =
                first_model_in(exe.parent_path().parent_path() / "share" / "latentchat" / "models"))
            return m;
    if (!source_models.empty()) return first_model_in(source_models);
    return std::nullopt;
}

}  // namespace lc
