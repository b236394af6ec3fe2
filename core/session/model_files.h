#pragma once
// What a model path holds, checked without reading a weight: a folder (config.json and
// safetensors) or a GGUF file. The one inspection `info` and the settings dialog share.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "engine/weights.h"
#include "formats/config.h"

namespace lc {

struct ModelFiles {
    std::filesystem::path path;
    bool gguf = false;
    ModelConfig config;
    ModelWeights weights;  // bound with BindMode::CheckOnly: shapes and types checked
    int64_t parameters = 0;
    size_t file_bytes = 0;  // of all tensors in the file(s)
    // Matrices the forward reads, by element type ("Q4_K" -> count), and their bits per weight.
    std::map<std::string, int> matrix_types;
    double bits_per_weight = 0.0;
};

// Throws lc::Error naming the file and what is wrong.
ModelFiles inspect_model(const std::filesystem::path& path);

}  // namespace lc
