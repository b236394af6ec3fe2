#pragma once
// Minimal NumPy .npy reader/writer for float arrays: reference activations and debug dumps
// exchanged with Python tools (np.save / np.load).
#include <cstdint>
#include <filesystem>
#include <vector>

namespace lc {

// Writes `data` (numel = product of `shape`, row-major) as a .npy v1.0 '<f4' array.
// Written to `path` + ".tmp" and renamed, so a reader never sees a half-written file.
// Throws lc::Error naming the path on failure.
void write_npy_f32(const std::filesystem::path& path, const float* data,
                   const std::vector<int64_t>& shape);

struct NpyArray {
    std::vector<int64_t> shape;
    std::vector<float> data;  // row-major
};

// Reads a .npy v1/v2/v3 file holding a C-order '<f4', '<f8' or '<f2' array, converted to float.
// Throws lc::Error naming the path on anything else or on truncation.
NpyArray read_npy_f32(const std::filesystem::path& path);

}  // namespace lc
