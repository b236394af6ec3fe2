#pragma once
// The models on this machine: LatentChat's own folder and the huggingface_hub cache.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lc::hub {

// Left in a folder model's directory while its pull has not finished (list: complete = false).
inline constexpr const char* kPullingMarker = ".latentchat-pulling";

// $XDG_DATA_HOME/LatentChat/models, else ~/.local/share/LatentChat/models.
std::filesystem::path default_models_dir();
// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
std::filesystem::path huggingface_cache_dir();

struct LocalModel {
    std::string name;            // "deepseek-ai--DeepSeek-V2-Lite-Chat" or "x.Q4_K_M.gguf"
    std::filesystem::path path;  // what --model takes: a folder, or a .gguf file
    int64_t bytes = 0;           // on disk
    bool in_hf_cache = false;    // found in the huggingface_hub cache (never removed by us)
    bool complete = true;        // false: a cut download (.part files, parts or files missing)
};

// Models under `models_dir` (folders with config.json, .gguf files; split sets once) and in the
// huggingface_hub cache (snapshots/<rev>/ of models--owner--name), sorted by name.
std::vector<LocalModel> list_local_models(const std::filesystem::path& models_dir);

// Removes a model of `models_dir` by name (folder or file, with its .part files). A name that is
// not there, or a model of the HF cache, is an lc::Error saying so.
void remove_local_model(const std::filesystem::path& models_dir, const std::string& name);

}  // namespace lc::hub
