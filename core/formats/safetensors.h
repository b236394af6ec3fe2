#pragma once
// Read-only access to a checkpoint's safetensors files, memory-mapped (no copy at load).
// Handles one `model.safetensors`, or shards listed by `model.safetensors.index.json`.
// Every header is parsed with bounds checks: a truncated or hostile file is an lc::Error.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/dtype.h"

namespace lc {

struct TensorView {
    std::string name;
    DType dtype = DType::Other;
    std::string dtype_text;      // as written in the header, e.g. "BF16", "I64"
    std::vector<int64_t> shape;  // row-major, outermost first
    const void* data = nullptr;  // points into the mapped file
    size_t nbytes = 0;
    std::string file;  // file name the tensor lives in, for error messages

    int64_t numel() const;
};

// One memory-mapped file; unmapped on destruction.
class MappedFile {
public:
    explicit MappedFile(const std::filesystem::path& path);  // throws lc::Error
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

class SafetensorsArchive {
public:
    // Opens `dir/model.safetensors.index.json` if present (and every shard it names),
    // else `dir/model.safetensors`, else every `*.safetensors` file in the folder.
    static SafetensorsArchive open_dir(const std::filesystem::path& dir);
    // Opens one file.
    static SafetensorsArchive open_file(const std::filesystem::path& file);

    const TensorView* find(std::string_view name) const;  // nullptr when absent
    const TensorView& get(std::string_view name) const;   // throws lc::Error naming the tensor
    std::vector<std::string> names() const;
    size_t tensor_bytes() const;  // sum of nbytes of all tensors
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

private:
    std::vector<std::shared_ptr<MappedFile>> files_;
    std::map<std::string, TensorView, std::less<>> tensors_;
    std::map<std::string, std::string> metadata_;
    std::string source_;  // the folder or file opened, for "missing tensor" messages
    void add_file(const std::filesystem::path& file);
};

}  // namespace lc
