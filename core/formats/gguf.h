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

// A metadata value. Arrays hold one element type (nested arrays are refused, as llama.cpp does).
// Integers keep their sign; bools are stored as unsigned integers 0/1.
struct GgufValue {
    // GGUF's value type codes, in their order (U8 = 0 ... F64 = 12).
    enum class Type { U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };
    Type type = Type::U32;
    // Scalars: unsigned integers and bools as uint64_t, signed as int64_t, floats as double,
    // strings as std::string.
    std::variant<uint64_t, int64_t, double, std::string> scalar;
    // Arrays: the element type, and the elements in the one vector that type uses (as scalars).
    Type element_type = Type::U32;
    std::vector<uint64_t> uints;
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;

    bool is_integer() const;  // an integer scalar (not a bool)
    bool is_array() const { return type == Type::Array; }
    size_t array_size() const;
};

// "u32", "string", "array" ...: a value type as messages name it.
const char* gguf_type_name(GgufValue::Type type);

struct GgufTensor {
    std::string name;
    DType dtype = DType::Other;
    uint32_t ggml_type = 0;      // as written (also for types this build does not read)
    std::vector<int64_t> shape;  // outermost first (the reverse of GGUF's ne[]), like safetensors
    const void* data = nullptr;  // in the mapped file
    size_t nbytes = 0;
    std::string file;  // for error messages

    int64_t numel() const;
};

// ggml's name of a tensor type code ("q4_K", "iq2_xs" ...; "type N" for codes it never had).
std::string ggml_type_name(uint32_t ggml_type);

class GgufFile {
public:
    // Opens `path`; when its name ends in -0000K-of-0000N.gguf (5 digits), all N parts of the
    // set (same folder), whose tensors form one table (metadata comes from the first part).
    static GgufFile open(const std::filesystem::path& path);

    uint32_t version() const { return version_; }
    const std::filesystem::path& path() const { return path_; }  // the first part
    size_t part_count() const { return files_.size(); }
    uint32_t alignment() const { return alignment_; }  // of the first part

    const GgufValue* find(std::string_view key) const;  // nullptr when absent
    const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
    // Typed getters: a missing key gives nullopt (or an empty list); a present key of the wrong
    // type or out of the target's range throws lc::Error naming the key and the file.
    std::optional<int64_t> get_int(std::string_view key) const;   // any integer type
    std::optional<double> get_float(std::string_view key) const;  // ints are accepted too
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    std::vector<std::string> get_strings(std::string_view key) const;
    std::vector<int64_t> get_ints(std::string_view key) const;
    std::vector<double> get_floats(std::string_view key) const;

    const GgufTensor* find_tensor(std::string_view name) const;  // nullptr when absent
    const GgufTensor& tensor(std::string_view name) const;  // throws naming the tensor and file
    const std::vector<GgufTensor>& tensors() const { return tensors_; }
    size_t tensor_bytes() const;  // all tensors' data

    // general.architecture (e.g. "deepseek2"); throws when the file has none.
    std::string architecture() const;

    // "PATH: 'KEY' MESSAGE": the form of every error about a key.
    [[noreturn]] void fail_key(std::string_view key, const std::string& message) const;

private:
    std::filesystem::path path_;
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    std::vector<std::shared_ptr<MappedFile>> files_;
    std::map<std::string, GgufValue, std::less<>> metadata_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t, std::less<>> index_;  // name -> tensors_ position
};

// True when `path` names a .gguf file (by extension), so callers pick this reader.
bool is_gguf_path(const std::filesystem::path& path);

}  // namespace lc
