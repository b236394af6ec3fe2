// GGUF reader (llama.cpp's format, v2 and v3, little-endian). The file is untrusted: every
// count is checked against the bytes left before anything is allocated for it, every tensor's
// byte range against the data section, and a split set's parts against each other.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata entries
// (string key, u32 value type, value); tensor infos (string name, u32 n_dims, i64 ne[n_dims],
// u32 ggml type, u64 offset into the data section); padding to general.alignment (default 32);
// the data section. Strings are a u64 byte length and the bytes; arrays a u32 element type,
// a u64 count and the elements.
#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <regex>
#include <set>
#include <system_error>

#include "base/error.h"

namespace lc {

namespace fs = std::filesystem;
static_assert(std::endian::native == std::endian::little, "GGUF files are read in place as LE");

namespace {

using Type = GgufValue::Type;

constexpr uint32_t kDefaultAlignment = 32;
constexpr int kMaxDims = 4;
// Metadata arrays are materialized (8 bytes or one std::string per element), so their sizes are
// capped well above any tokenizer's (a few 100k entries) to keep a hostile file from asking for
// gigabytes: per array, and over all arrays of a file.
constexpr uint64_t kMaxArrayElements = uint64_t(1) << 22;
constexpr uint64_t kMaxTotalArrayElements = uint64_t(1) << 23;
// The fewest bytes one metadata entry / tensor info can take (for count checks).
constexpr uint64_t kMinEntryBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;

// ggml's tensor types: code, name, weights per block, bytes per block, our DType.
struct GgmlType {
    uint32_t code;
    const char* name;
    int64_t block;
    int64_t bytes;
    DType dtype;
};
// clang-format off
constexpr GgmlType kGgmlTypes[] = {
    {0, "f32", 1, 4, DType::F32},          {1, "f16", 1, 2, DType::F16},
    {2, "q4_0", 32, 18, DType::Q4_0},      {3, "q4_1", 32, 20, DType::Q4_1},
    {6, "q5_0", 32, 22, DType::Q5_0},      {7, "q5_1", 32, 24, DType::Q5_1},
    {8, "q8_0", 32, 34, DType::Q8_0},      {9, "q8_1", 32, 36, DType::Other},
    {10, "q2_K", 256, 84, DType::Q2_K},    {11, "q3_K", 256, 110, DType::Q3_K},
    {12, "q4_K", 256, 144, DType::Q4_K},   {13, "q5_K", 256, 176, DType::Q5_K},
    {14, "q6_K", 256, 210, DType::Q6_K},   {15, "q8_K", 256, 292, DType::Other},
    {16, "iq2_xxs", 256, 66, DType::Other}, {17, "iq2_xs", 256, 74, DType::Other},
    {18, "iq3_xxs", 256, 98, DType::Other}, {19, "iq1_s", 256, 50, DType::Other},
    {20, "iq4_nl", 32, 18, DType::Other},  {21, "iq3_s", 256, 110, DType::Other},
    {22, "iq2_s", 256, 82, DType::Other},  {23, "iq4_xs", 256, 136, DType::Other},
    {24, "i8", 1, 1, DType::Other},        {25, "i16", 1, 2, DType::Other},
    {26, "i32", 1, 4, DType::Other},       {27, "i64", 1, 8, DType::Other},
    {28, "f64", 1, 8, DType::Other},       {29, "iq1_m", 256, 56, DType::Other},
    {30, "bf16", 1, 2, DType::BF16},       {34, "tq1_0", 256, 54, DType::Other},
    {35, "tq2_0", 256, 66, DType::Other},  {39, "mxfp4", 32, 17, DType::Other},
    {40, "nvfp4", 64, 36, DType::Other},   {41, "q1_0", 128, 18, DType::Other},
    {42, "q2_0", 64, 18, DType::Other},
};
// clang-format on

const GgmlType* find_ggml_type(uint32_t code) {
    for (const GgmlType& t : kGgmlTypes)
        if (t.code == code) return &t;
    return nullptr;
}

// Bytes one element of a fixed-size value type takes (0: string or array).
uint64_t fixed_size(Type t) {
    switch (t) {
        case Type::U8:
        case Type::I8:
        case Type::Bool:
            return 1;
        case Type::U16:
        case Type::I16:
            return 2;
        case Type::U32:
        case Type::I32:
        case Type::F32:
            return 4;
        case Type::U64:
        case Type::I64:
        case Type::F64:
            return 8;
        case Type::String:
        case Type::Array:
            return 0;
    }
    return 0;
}

// Reads little-endian fields from one mapped file; every read names what it reads when the
// file ends first.
class Cursor {
public:
    explicit Cursor(const MappedFile& file)
        : data_(file.data()), size_(file.size()), name_(file.path().string()) {}

    size_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }
    const std::string& name() const { return name_; }

    [[noreturn]] void fail(const std::string& message) const {
        throw Error(name_ + ": " + message);
    }

    void need(uint64_t n, const std::string& what) const {
        if (n > remaining())
            fail("the file ends inside " + what + " (byte " + std::to_string(pos_) + ", " +
                 std::to_string(n) + " bytes needed, " + std::to_string(remaining()) +
                 " left); it is truncated or not a GGUF file");
    }
    template <class T>
    T read(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string read_string(const std::string& what) {
        const uint64_t n = read<uint64_t>(what);
        need(n, what);
        std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
        pos_ += static_cast<size_t>(n);
        return s;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    std::string name_;
};

// One value of fixed-size type `t`, as GgufValue stores it: uint64_t, int64_t or double.
template <class Out>
void read_scalar(Cursor& c, Type t, const std::string& what, Out&& out) {
    switch (t) {
        case Type::U8:
            return out(uint64_t{c.read<uint8_t>(what)});
        case Type::Bool:
            return out(uint64_t{c.read<uint8_t>(what) != 0});
        case Type::U16:
            return out(uint64_t{c.read<uint16_t>(what)});
        case Type::U32:
            return out(uint64_t{c.read<uint32_t>(what)});
        case Type::U64:
            return out(c.read<uint64_t>(what));
        case Type::I8:
            return out(int64_t{c.read<int8_t>(what)});
        case Type::I16:
            return out(int64_t{c.read<int16_t>(what)});
        case Type::I32:
            return out(int64_t{c.read<int32_t>(what)});
        case Type::I64:
            return out(c.read<int64_t>(what));
        case Type::F32:
            return out(double{c.read<float>(what)});
        case Type::F64:
            return out(c.read<double>(what));
        case Type::String:
        case Type::Array:
            break;
    }
}

Type read_type(Cursor& c, const std::string& key, const char* which) {
    const uint32_t code = c.read<uint32_t>("the " + std::string(which) + " of key '" + key + "'");
    if (code > static_cast<uint32_t>(Type::F64))
        c.fail("key '" + key + "' has " + which + " " + std::to_string(code) +
               ", which is not a GGUF value type (0 to 12)");
    return static_cast<Type>(code);
}

GgufValue read_value(Cursor& c, const std::string& key, uint64_t& array_budget) {
    GgufValue v;
    v.type = read_type(c, key, "value type");
    const std::string what = "the value of key '" + key + "'";
    if (v.type == Type::String) {
        v.scalar = c.read_string(what);
        return v;
    }
    if (v.type != Type::Array) {
        read_scalar(c, v.type, what, [&](auto x) { v.scalar = x; });
        return v;
    }
    v.element_type = read_type(c, key, "array element type");
    if (v.element_type == Type::Array)
        c.fail("key '" + key + "' is an array of arrays, which GGUF readers do not accept");
    const uint64_t n = c.read<uint64_t>(what);
    // Check the count against the bytes left before reserving anything for it.
    const uint64_t min_bytes = v.element_type == Type::String ? 8 : fixed_size(v.element_type);
    if (n > c.remaining() / min_bytes)
        c.fail("key '" + key + "' claims " + std::to_string(n) + " array elements, more than the " +
               std::to_string(c.remaining()) + " bytes left in the file can hold");
    if (n > kMaxArrayElements || n > array_budget)
        c.fail("key '" + key + "' holds an array of " + std::to_string(n) +
               " elements, more than this reader accepts in metadata (" +
               std::to_string(std::min(kMaxArrayElements, array_budget)) + ")");
    array_budget -= n;
    const size_t count = static_cast<size_t>(n);
    switch (v.element_type) {
        case Type::String:
            v.strings.reserve(count);
            for (size_t i = 0; i < count; ++i)
                v.strings.push_back(c.read_string(what));
            break;
        case Type::F32:
        case Type::F64:
            v.floats.reserve(count);
            for (size_t i = 0; i < count; ++i)
                read_scalar(c, v.element_type, what,
                            [&](auto x) { v.floats.push_back(static_cast<double>(x)); });
            break;
        case Type::I8:
        case Type::I16:
        case Type::I32:
        case Type::I64:
            v.ints.reserve(count);
            for (size_t i = 0; i < count; ++i)
                read_scalar(c, v.element_type, what,
                            [&](auto x) { v.ints.push_back(static_cast<int64_t>(x)); });
            break;
        default:  // unsigned integers and bools
            v.uints.reserve(count);
            for (size_t i = 0; i < count; ++i)
                read_scalar(c, v.element_type, what,
                            [&](auto x) { v.uints.push_back(static_cast<uint64_t>(x)); });
            break;
    }
    return v;
}

// One parsed file of a set.
struct Part {
    uint32_t version = 0;
    uint32_t alignment = kDefaultAlignment;
    std::map<std::string, GgufValue, std::less<>> metadata;
    std::vector<GgufTensor> tensors;
};

uint32_t read_version(Cursor& c) {
    if (c.remaining() < 4) c.fail("is too short to be a GGUF file");
    const auto magic = c.read<uint32_t>("the magic");
    if (std::memcmp(&magic, "GGUF", 4) != 0) {
        std::string shown;
        for (int i = 0; i < 4; ++i) {
            const char ch = reinterpret_cast<const char*>(&magic)[i];
            shown += ch >= 32 && ch < 127 ? ch : '?';
        }
        c.fail("is not a GGUF file (it starts with '" + shown + "', not 'GGUF')");
    }
    const auto version = c.read<uint32_t>("the version");
    if ((version & 0xFFFFu) == 0 && version != 0) {
        c.fail("is a big-endian GGUF file (version field " + std::to_string(version) +
               "); LatentChat reads little-endian GGUF files");
    }
    if (version == 1)
        c.fail(
            "is GGUF version 1, which is no longer read; convert the model again with a "
            "current llama.cpp (versions 2 and 3 are read)");
    if (version < 2 || version > 3)
        c.fail("has GGUF version " + std::to_string(version) + "; versions 2 and 3 are read");
    return version;
}

uint32_t read_alignment(const Cursor& c, const std::map<std::string, GgufValue, std::less<>>& md) {
    auto it = md.find("general.alignment");
    if (it == md.end()) return kDefaultAlignment;
    const GgufValue& v = it->second;
    const uint64_t* a = std::get_if<uint64_t>(&v.scalar);
    if (!v.is_integer() || !a || *a == 0 || *a > (uint64_t(1) << 30) || (*a & (*a - 1)) != 0)
        c.fail("'general.alignment' must be a power of two (at most 2^30), got a " +
               std::string(gguf_type_name(v.type)) +
               (a ? " of value " + std::to_string(*a) : std::string()));
    return static_cast<uint32_t>(*a);
}

GgufTensor read_tensor_info(Cursor& c, size_t index) {
    GgufTensor t;
    t.file = c.name();
    const std::string nth = "tensor info " + std::to_string(index);
    t.name = c.read_string("the name of " + nth);
    if (t.name.empty()) c.fail(nth + " has an empty name");
    const std::string what = "the info of tensor '" + t.name + "'";
    const auto n_dims = c.read<uint32_t>(what);
    if (n_dims > kMaxDims)
        c.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) +
               " dimensions; GGUF tensors have at most 4");
    std::vector<int64_t> ne(n_dims);
    int64_t numel = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < n_dims; ++d) {
        ne[d] = c.read<int64_t>(what);
        if (ne[d] < 0)
            c.fail("tensor '" + t.name + "' has a negative dimension (" + std::to_string(ne[d]) +
                   ")");
        if (ne[d] != 0 && numel > INT64_MAX / ne[d]) overflow = true;
        if (!overflow) numel *= ne[d];
    }
    if (overflow && std::find(ne.begin(), ne.end(), 0) == ne.end())
        c.fail("tensor '" + t.name + "' has more elements than fit in 64 bits");
    if (overflow) numel = 0;  // a zero dimension: no elements however large the others
    t.shape.assign(ne.rbegin(), ne.rend());
    t.ggml_type = c.read<uint32_t>(what);
    const GgmlType* type = find_ggml_type(t.ggml_type);
    if (!type)
        c.fail("tensor '" + t.name + "' has ggml type " + std::to_string(t.ggml_type) +
               ", which ggml does not define (the file is damaged or from a newer llama.cpp)");
    t.dtype = type->dtype;
    const int64_t row = n_dims > 0 ? ne[0] : 1;
    if (row % type->block != 0)
        c.fail("tensor '" + t.name + "' has rows of " + std::to_string(row) + " " + type->name +
               " elements, not a multiple of its block of " + std::to_string(type->block));
    const uint64_t blocks = static_cast<uint64_t>(numel / type->block);
    if (blocks > SIZE_MAX / static_cast<uint64_t>(type->bytes))
        c.fail("tensor '" + t.name + "' is larger than memory can address");
    t.nbytes = static_cast<size_t>(blocks * static_cast<uint64_t>(type->bytes));
    return t;
}

// Parses one file; `array_budget` is shared by the parts of a set.
Part parse_part(const MappedFile& file, uint64_t& array_budget) {
    Cursor c(file);
    Part p;
    p.version = read_version(c);
    const auto n_tensors = c.read<uint64_t>("the tensor count");
    const auto n_kv = c.read<uint64_t>("the metadata count");
    if (n_kv > c.remaining() / kMinEntryBytes)
        c.fail("the header claims " + std::to_string(n_kv) +
               " metadata entries, more than the file's remaining " +
               std::to_string(c.remaining()) + " bytes can hold");
    if (n_tensors > c.remaining() / kMinTensorInfoBytes)
        c.fail("the header claims " + std::to_string(n_tensors) +
               " tensors, more than the file's remaining " + std::to_string(c.remaining()) +
               " bytes can hold");
    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string key = c.read_string("the key of metadata entry " + std::to_string(i));
        if (key.empty()) c.fail("metadata entry " + std::to_string(i) + " has an empty key");
        if (p.metadata.count(key)) c.fail("key '" + key + "' appears twice");
        GgufValue v = read_value(c, key, array_budget);
        p.metadata.emplace(std::move(key), std::move(v));
    }
    p.alignment = read_alignment(c, p.metadata);

    p.tensors.reserve(static_cast<size_t>(n_tensors));
    std::vector<uint64_t> offsets;  // into the data section, by tensor
    offsets.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        p.tensors.push_back(read_tensor_info(c, static_cast<size_t>(i)));
        offsets.push_back(c.read<uint64_t>("the info of tensor '" + p.tensors.back().name + "'"));
    }
    if (p.tensors.empty()) return p;

    // The data section starts at the next multiple of the alignment.
    const uint64_t data_start = (c.pos() + p.alignment - 1) / p.alignment * p.alignment;
    if (data_start > file.size())
        c.fail("the file ends before its data section (byte " + std::to_string(data_start) +
               "); it is truncated");
    const uint64_t data_size = file.size() - data_start;
    std::vector<std::pair<uint64_t, size_t>> by_offset;  // (offset, index) of non-empty tensors
    for (size_t i = 0; i < p.tensors.size(); ++i) {
        GgufTensor& t = p.tensors[i];
        const uint64_t offset = offsets[i];
        if (offset % p.alignment != 0)
            c.fail("tensor '" + t.name + "' starts at data offset " + std::to_string(offset) +
                   ", which is not a multiple of the alignment " + std::to_string(p.alignment));
        if (offset > data_size || t.nbytes > data_size - offset)
            c.fail("tensor '" + t.name + "' (" + std::to_string(t.nbytes) +
                   " bytes at data offset " + std::to_string(offset) +
                   ") extends past the end of the file (data section of " +
                   std::to_string(data_size) + " bytes); the file is truncated or damaged");
        t.data = file.data() + data_start + offset;
        if (t.nbytes > 0) by_offset.emplace_back(offset, i);
    }
    std::sort(by_offset.begin(), by_offset.end());
    for (size_t k = 1; k < by_offset.size(); ++k) {
        const GgufTensor& a = p.tensors[by_offset[k - 1].second];
        const GgufTensor& b = p.tensors[by_offset[k].second];
        if (by_offset[k - 1].first + a.nbytes > by_offset[k].first)
            c.fail("tensors '" + a.name + "' and '" + b.name + "' overlap in the data section");
    }
    return p;
}

// NAME-0000K-of-0000N.gguf: the prefix path, K and N; nullopt for other names.
struct SplitName {
    std::string prefix;
    int part;
    int count;
};
std::optional<SplitName> parse_split_name(const fs::path& path) {
    static const std::regex pattern(R"((.*)-([0-9]{5})-of-([0-9]{5})\.gguf)");
    std::smatch m;
    const std::string name = path.filename().string();
    if (!std::regex_match(name, m, pattern)) return std::nullopt;
    return SplitName{m[1].str(), std::stoi(m[2].str()), std::stoi(m[3].str())};
}

std::string part_name(const std::string& prefix, int part, int count) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%05d-of-%05d.gguf", part, count);
    return prefix + buf;
}

// An integer metadata value of a part (split.no, split.count ...), or nullopt.
std::optional<int64_t> part_int(const std::map<std::string, GgufValue, std::less<>>& metadata,
                                const char* key, const std::string& file) {
    auto it = metadata.find(key);
    if (it == metadata.end()) return std::nullopt;
    const GgufValue& v = it->second;
    if (const auto* u = std::get_if<uint64_t>(&v.scalar); v.is_integer() && u && *u <= INT64_MAX)
        return static_cast<int64_t>(*u);
    if (const auto* i = std::get_if<int64_t>(&v.scalar); v.is_integer() && i) return *i;
    throw Error(file + ": '" + key + "' must be an integer");
}

}  // namespace

bool GgufValue::is_integer() const {
    switch (type) {
        case Type::U8:
        case Type::I8:
        case Type::U16:
        case Type::I16:
        case Type::U32:
        case Type::I32:
        case Type::U64:
        case Type::I64:
            return true;
        default:
            return false;
    }
}

size_t GgufValue::array_size() const {
    return uints.size() + ints.size() + floats.size() + strings.size();
}

const char* gguf_type_name(GgufValue::Type type) {
    static const char* const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<size_t>(type);
    return i < std::size(names) ? names[i] : "unknown";
}

int64_t GgufTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

std::string ggml_type_name(uint32_t ggml_type) {
    const GgmlType* t = find_ggml_type(ggml_type);
    return t ? std::string(t->name) : "type " + std::to_string(ggml_type);
}

GgufFile GgufFile::open(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw Error(path.string() +
                    " is a folder; a GGUF model is opened by its .gguf file (for a split model, "
                    "the part named ...-00001-of-0000N.gguf)");
    const std::optional<SplitName> split = parse_split_name(path);
    std::vector<fs::path> paths;
    if (split && split->count > 1) {
        if (split->part < 1 || split->part > split->count)
            throw Error(path.string() + ": its name says part " + std::to_string(split->part) +
                        " of " + std::to_string(split->count) + ", which cannot be");
        for (int k = 1; k <= split->count; ++k) {
            fs::path p = path.parent_path() / part_name(split->prefix, k, split->count);
            if (!fs::is_regular_file(p, ec))
                throw Error(p.string() + " is missing: the split model " + path.string() +
                            " needs all " + std::to_string(split->count) +
                            " parts in the same folder");
            paths.push_back(std::move(p));
        }
    } else {
        paths.push_back(path);
    }

    GgufFile f;
    f.path_ = paths.front();
    uint64_t array_budget = kMaxTotalArrayElements;
    const int count = static_cast<int>(paths.size());
    for (int k = 0; k < count; ++k) {
        auto mapped = std::make_shared<MappedFile>(paths[static_cast<size_t>(k)]);
        Part part = parse_part(*mapped, array_budget);
        const std::string name = paths[static_cast<size_t>(k)].string();
        const std::optional<int64_t> split_count = part_int(part.metadata, "split.count", name);
        const std::optional<int64_t> split_no = part_int(part.metadata, "split.no", name);
        if (count == 1 && split_count && *split_count > 1)
            throw Error(name + ": 'split.count' says this is one of " +
                        std::to_string(*split_count) +
                        " parts, but the file's name does not follow NAME-00001-of-0000N.gguf, "
                        "so the other parts cannot be found");
        if (count > 1) {
            if (!split_count || *split_count != count)
                throw Error(name + ": 'split.count' is " +
                            (split_count ? std::to_string(*split_count) : "missing") +
                            " but the file's name says the model has " + std::to_string(count) +
                            " parts");
            if (!split_no || *split_no != k)
                throw Error(name + ": 'split.no' is " +
                            (split_no ? std::to_string(*split_no) : "missing") +
                            " but the file's name says it is part " + std::to_string(k + 1) +
                            " (split.no " + std::to_string(k) + ")");
        }
        for (GgufTensor& t : part.tensors) {
            if (f.index_.count(t.name))
                throw Error(name + ": tensor '" + t.name + "' appears twice" +
                            (count > 1 ? " in the split model" : ""));
            f.index_.emplace(t.name, f.tensors_.size());
            f.tensors_.push_back(std::move(t));
        }
        if (k == 0) {
            f.version_ = part.version;
            f.alignment_ = part.alignment;
            f.metadata_ = std::move(part.metadata);
        }
        f.files_.push_back(std::move(mapped));
    }
    if (count > 1) {
        if (const auto total = part_int(f.metadata_, "split.tensors.count", f.path_.string());
            total && *total != static_cast<int64_t>(f.tensors_.size()))
            throw Error(f.path_.string() + ": 'split.tensors.count' is " + std::to_string(*total) +
                        " but the " + std::to_string(count) + " parts hold " +
                        std::to_string(f.tensors_.size()) + " tensors");
    }
    return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
}

void GgufFile::fail_key(std::string_view key, const std::string& message) const {
    throw Error(path_.string() + ": '" + std::string(key) + "' " + message);
}

namespace {

bool is_float_type(GgufValue::Type t) {
    return t == Type::F32 || t == Type::F64;
}

}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer())
        fail_key(key, "must be an integer, but is a " + std::string(gguf_type_name(v->type)));
    if (const auto* u = std::get_if<uint64_t>(&v->scalar)) {
        if (*u > static_cast<uint64_t>(INT64_MAX))
            fail_key(key, "is " + std::to_string(*u) + ", out of range");
        return static_cast<int64_t>(*u);
    }
    return std::get<int64_t>(v->scalar);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (is_float_type(v->type)) return std::get<double>(v->scalar);
    if (v->is_integer()) return static_cast<double>(*get_int(key));
    fail_key(key, "must be a number, but is a " + std::string(gguf_type_name(v->type)));
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != Type::Bool)
        fail_key(key, "must be a bool, but is a " + std::string(gguf_type_name(v->type)));
    return std::get<uint64_t>(v->scalar) != 0;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != Type::String)
        fail_key(key, "must be a string, but is a " + std::string(gguf_type_name(v->type)));
    return std::get<std::string>(v->scalar);
}

std::vector<std::string> GgufFile::get_strings(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return {};
    if (!v->is_array() || v->element_type != Type::String)
        fail_key(key, "must be an array of strings");
    return v->strings;
}

std::vector<int64_t> GgufFile::get_ints(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return {};
    if (!v->is_array() || v->element_type == Type::Bool || v->element_type == Type::String ||
        is_float_type(v->element_type))
        fail_key(key, "must be an array of integers");
    if (!v->ints.empty()) return v->ints;
    std::vector<int64_t> out;
    out.reserve(v->uints.size());
    for (uint64_t u : v->uints) {
        if (u > static_cast<uint64_t>(INT64_MAX))
            fail_key(key, "holds " + std::to_string(u) + ", out of range");
        out.push_back(static_cast<int64_t>(u));
    }
    return out;
}

std::vector<double> GgufFile::get_floats(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return {};
    if (!v->is_array() || v->element_type == Type::Bool || v->element_type == Type::String)
        fail_key(key, "must be an array of numbers");
    if (!v->floats.empty()) return v->floats;
    std::vector<double> out;
    for (int64_t i : v->ints)
        out.push_back(static_cast<double>(i));
    for (uint64_t u : v->uints)
        out.push_back(static_cast<double>(u));
    return out;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(std::string_view name) const {
    if (const GgufTensor* t = find_tensor(name)) return *t;
    throw Error(path_.string() + ": tensor '" + std::string(name) + "' is missing");
}

size_t GgufFile::tensor_bytes() const {
    size_t total = 0;
    for (const GgufTensor& t : tensors_)
        total += t.nbytes;
    return total;
}

std::string GgufFile::architecture() const {
    const std::optional<std::string> arch = get_string("general.architecture");
    if (!arch) throw Error(path_.string() + ": 'general.architecture' is missing");
    return *arch;
}

bool is_gguf_path(const fs::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return ext == ".gguf";
}

}  // namespace lc
