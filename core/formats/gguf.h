#pragma once
// Read-only access to a GGUF file (v2/v3) or a split set (NAME-00001-of-0000N.gguf ...),
// memory-mapped: tensors stay in the file's pages. The header, every metadata value and every
// tensor's offset and size are checked against the file before anything is used or allocated;
// a truncated or lying file is one lc::Error naming the file and what is wrong.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/dtype.h"
#include "formats/safetensors.h"  // MappedFile

namespace lc {

// A metadata value. Arrays hold one element type (GGUF forbids nested arrays of mixed types;
// nested arrays are refused). Integers keep their sign; bools are stored as integers.
struct GgufValue {
    enum class Type { U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };
    Type type = Type::U32;
    std::variant<uint64_t, int64_t, double, std::string> scalar;  // by type
    Type element_type = Type::U32;                                // arrays only
    std::vector<GgufValue> array;                                 // arrays only

    bool is_integer() const;
    bool is_array() const { return type == Type::Array; }
};

struct GgufTensor {
    std::string name;
    DType dtype = DType::Other;
    uint32_t ggml_type = 0;      // as written (also for types this build does not read)
    std::vector<int64_t> shape;  // outermost first (the reverse of GGUF's ne[]), like safetensors
    const void* data = nullptr;  // in the mapped file
    size_t nbytes = 0;
    std::string file;  // for error messages
};

class GgufFile {
public:
    // Opens `path`; when its name ends in -00001-of-0000N.gguf, also the other N-1 parts
    // (same folder), whose tensors are added to the first's (metadata comes from the first).
    static GgufFile open(const std::filesystem::path& path);

    uint32_t version() const { return version_; }
    const std::filesystem::path& path() const { return path_; }

    const GgufValue* find(std::string_view key) const;  // nullptr when absent
    const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
    // Typed getters: a missing key gives nullopt; a present key of the wrong type or out of
    // the target's range throws lc::Error naming the key and the file.
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;  // ints are accepted too
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    std::vector<std::string> get_strings(std::string_view key) const;  // empty when absent
    std::vector<int64_t> get_ints(std::string_view key) const;
    std::vector<double> get_floats(std::string_view key) const;

    const GgufTensor* find_tensor(std::string_view name) const;  // nullptr when absent
    const GgufTensor& tensor(std::string_view name) const;  // throws naming the tensor and file
    const std::vector<GgufTensor>& tensors() const { return tensors_; }
    size_t tensor_bytes() const;  // all tensors' data

    // general.architecture (e.g. "deepseek2")
    std::string architecture() const;

private:
    std::filesystem::path path_;
    uint32_t version_ = 0;
    std::vector<std::shared_ptr<MappedFile>> files_;
    std::map<std::string, GgufValue, std::less<>> metadata_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t, std::less<>> index_;  // name -> tensors_ position
};

// True when `path` names a .gguf file (by extension), so callers pick this reader.
bool is_gguf_path(const std::filesystem::path& path);

}  // namespace lc
