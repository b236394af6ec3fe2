#pragma once
// The shape of a model that runs on a remote engine, for the cache panel's MLA vs MHA estimate:
// the config.json the user pointed to, else a model on this machine with the same name, else
// the published configuration of a well-known MLA model of that name. None: not known.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "formats/config.h"

namespace lc {

struct RemoteModelShape {
    ModelConfig config;
    std::string source;  // where it came from, for the user: "config.json in /x", ...
};

// `remote_model`: the name the server answers to ("deepseek-ai/DeepSeek-V3", "/models/x").
// `config_path`: a config.json, a model folder or a GGUF file the user chose (empty: none; one
// that cannot be read is lc::Error naming it). `local_models`: model folders and GGUF files on
// this machine, matched by name (owner--name folders, quantization suffixes of GGUF files and
// case do not matter); unreadable ones are passed over.
std::optional<RemoteModelShape> find_remote_model_shape(
    const std::string& remote_model, const std::filesystem::path& config_path,
    const std::vector<std::filesystem::path>& local_models);

// The name a model is known by, for matching: the last path part, lowercased, without ".gguf",
// an "owner--" prefix or a quantization suffix ("DeepSeek-V2-Lite-Chat.Q4_K_M.gguf" ->
// "deepseek-v2-lite-chat").
std::string model_match_key(const std::string& name);

}  // namespace lc
