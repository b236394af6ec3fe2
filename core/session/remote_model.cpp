#include "session/remote_model.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/json_parse.h"
#include "session/model_files.h"

namespace lc {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "q4_k_m", "q8_0", "iq2_xs", "f16", "bf16", "fp8": a quantization's name.
bool is_quantization(const std::string& s) {
    if (s == "f16" || s == "bf16" || s == "f32" || s == "fp8" || s == "fp16") return true;
    size_t i = s.rfind("iq", 0) == 0 ? 2 : (s.rfind('q', 0) == 0 ? 1 : std::string::npos);
    return i != std::string::npos && i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));
}

// A published MLA model's cache shape (its config.json): what the estimate needs.
struct Published {
    const char* match;  // a part of the lowercased name
    const char* title;
    int layers, heads, kv_lora_rank, rope, nope, v, positions;
};

// Checked in order: the first whose `match` is in the name wins.
constexpr Published kPublished[] = {
    {"v2-lite", "DeepSeek-V2-Lite", 27, 16, 512, 64, 128, 128, 163840},
    {"deepseek-v2", "DeepSeek-V2", 60, 128, 512, 64, 128, 128, 163840},
    {"deepseek-coder-v2", "DeepSeek-Coder-V2", 60, 128, 512, 64, 128, 128, 163840},
    {"deepseek-v3", "DeepSeek-V3", 61, 128, 512, 64, 128, 128, 163840},
    {"deepseek-r1", "DeepSeek-R1", 61, 128, 512, 64, 128, 128, 163840},
    {"kimi-k2", "Kimi-K2", 61, 64, 512, 64, 128, 128, 131072},
};

std::optional<RemoteModelShape> published_shape(const std::string& key) {
    if (key.find("distill") != std::string::npos) return std::nullopt;  // R1-Distill: not MLA
    for (const Published& p : kPublished) {
        if (key.find(p.match) == std::string::npos) continue;
        RemoteModelShape s;
        s.config.model_type = ModelType::DeepseekV3;
        s.config.num_hidden_layers = p.layers;
        s.config.num_attention_heads = p.heads;
        s.config.kv_lora_rank = p.kv_lora_rank;
        s.config.qk_rope_head_dim = p.rope;
        s.config.qk_nope_head_dim = p.nope;
        s.config.v_head_dim = p.v;
        s.config.max_position_embeddings = p.positions;
        s.source = std::string(p.title) + "'s published config.json";
        return s;
    }
    return std::nullopt;
}

// A folder's config.json (no weights needed), a GGUF file's metadata, or a .json file itself.
ModelConfig read_config(const fs::path& path) {
    if (fs::is_directory(path)) return ModelConfig::load(path);
    const std::string name = path.filename().string();
    if (name == "config.json") return ModelConfig::load(path.parent_path());
    if (ends_with(name, ".gguf")) return inspect_model(path).config;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path.string());
    std::stringstream text;
    text << in.rdbuf();
    return ModelConfig::from_json(parse_json(text.str(), path.string()), path.string());
}

}  // namespace

std::string model_match_key(const std::string& name) {
    std::string key = name;
    while (!key.empty() && (key.back() == '/' || key.back() == '\\'))
        key.pop_back();
    if (const size_t slash = key.find_last_of("/\\"); slash != std::string::npos)
        key = key.substr(slash + 1);
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (const size_t owner = key.rfind("--"); owner != std::string::npos)
        key = key.substr(owner + 2);
    if (ends_with(key, ".gguf")) key.resize(key.size() - 5);
    if (ends_with(key, "-gguf")) key.resize(key.size() - 5);
    // "-00001-of-00003" of a split set, then the quantization.
    if (const size_t of = key.rfind("-of-"); of != std::string::npos && of >= 6) key.resize(of - 6);
    if (const size_t cut = key.find_last_of(".-");
        cut != std::string::npos && cut > 0 && is_quantization(key.substr(cut + 1)))
        key.resize(cut);
    return key;
}

std::optional<RemoteModelShape> find_remote_model_shape(const std::string& remote_model,
                                                        const fs::path& config_path,
                                                        const std::vector<fs::path>& local_models) {
    if (!config_path.empty()) {
        try {
            return RemoteModelShape{read_config(config_path),
                                    "the configuration in " + config_path.string()};
        } catch (const std::exception& e) {
            throw Error("the model configuration " + config_path.string() +
                        " cannot be read: " + e.what());
        }
    }
    const std::string key = model_match_key(remote_model);
    if (key.empty()) return std::nullopt;
    for (const fs::path& local : local_models) {
        if (model_match_key(local.string()) != key) continue;
        try {
            return RemoteModelShape{read_config(local), "the local model " + local.string()};
        } catch (const std::exception&) {
            // Not readable here: another candidate, or the published table, may still say.
        }
    }
    return published_shape(key);
}

}  // namespace lc
