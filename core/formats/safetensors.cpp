// Memory-mapped safetensors reader. The header is untrusted input: every offset, size and
// shape is validated with overflow-safe arithmetic before any pointer into the map is formed.
#include "formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <system_error>

#include "base/error.h"
#include "base/json_parse.h"

namespace lc {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

// Byte sizes of the safetensors dtypes we know but do not compute with; lets us still check
// that their byte ranges match their shapes. 0 means "unknown": the size check is skipped.
size_t known_dtype_size(const std::string& text) {
    static const std::map<std::string, size_t, std::less<>> sizes = {
        {"F64", 8},  {"I64", 8},     {"U64", 8},     {"F32", 4},     {"I32", 4},      {"U32", 4},
        {"F16", 2},  {"BF16", 2},    {"I16", 2},     {"U16", 2},     {"I8", 1},       {"U8", 1},
        {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1}, {"F8_E4M3FN", 1}};
    auto it = sizes.find(text);
    return it == sizes.end() ? 0 : it->second;
}

DType parse_dtype(const std::string& text) {
    if (text == "F32") return DType::F32;
    if (text == "F16") return DType::F16;
    if (text == "BF16") return DType::BF16;
    return DType::Other;
}

// nlohmann's what() starts with "[json.exception.parse_error.101] "; the user needs the rest.
std::string json_reason(const nlohmann::json::exception& e) {
    std::string w = e.what();
    const size_t cut = w.find("] ");
    return cut == std::string::npos ? w : w.substr(cut + 2);
}

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

// Reads a small text file (an index json) fully; throws lc::Error naming it.
std::string read_text_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot be opened for reading.");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(path.string() + ": could not be read.");
    return ss.str();
}

// Converts a JSON integer to int64, rejecting floats, negatives and values beyond int64.
// Returns false when the value is not an integer at all; sets `negative`/`too_big` otherwise.
bool json_to_u63(const json& v, int64_t& out, bool& negative, bool& too_big) {
    negative = too_big = false;
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) {
            too_big = true;
            return true;
        }
        out = static_cast<int64_t>(u);
        return true;
    }
    if (v.is_number_integer()) {
        int64_t s = v.get<int64_t>();
        if (s < 0) {
            negative = true;
            return true;
        }
        out = s;
        return true;
    }
    return false;
}

}  // namespace

int64_t TensorView::numel() const {
    // Shapes are validated at load (non-negative, product fits in int64).
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

// ---------------------------------------------------------------------------------------------
// MappedFile

MappedFile::MappedFile(const fs::path& path) : path_(path) {
    const std::string name = path.string();
    int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT) throw Error(name + ": file not found.");
        throw Error(name + ": cannot be opened (" + errno_text(err) + ").");
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        throw Error(name + ": cannot be inspected (" + errno_text(err) + ").");
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error(name + " is a folder, not a file.");
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(name + " is not a regular file.");
    }
    if (st.st_size <= 0) {
        ::close(fd);
        throw Error(name + ": file is empty.");
    }
    size_ = static_cast<size_t>(st.st_size);
    // MAP_PRIVATE + PROT_READ: the weights are read in place; nothing is copied at load.
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (p == MAP_FAILED) throw Error(name + ": cannot be memory-mapped (" + errno_text(err) + ").");
    data_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

// ---------------------------------------------------------------------------------------------
// SafetensorsArchive

void SafetensorsArchive::add_file(const fs::path& file) {
    auto mf = std::make_shared<MappedFile>(file);
    const std::string fname = file.string();
    const uint64_t fsize = mf->size();
    auto fail = [&](const std::string& what) { throw Error(fname + ": " + what); };

    if (fsize < 8)
        fail("file is too short to be a safetensors file (" + std::to_string(fsize) +
             " bytes; the 8-byte header length alone needs 8).");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i)
        header_len = (header_len << 8) | mf->data()[i];  // little-endian
    if (header_len > fsize - 8)
        fail("file is truncated (the header claims " + std::to_string(header_len) +
             " bytes, but only " + std::to_string(fsize - 8) + " follow the length field).");
    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = fsize - data_start;

    // Parse the header. nlohmann keeps the last of duplicate keys silently, so top-level keys
    // (depth 1) are tracked to reject a tensor declared twice in one file.
    const char* hbegin = reinterpret_cast<const char*>(mf->data() + 8);
    std::set<std::string> seen;
    std::string dup_key;
    json header;
    try {
        header = json::parse(
            hbegin, hbegin + header_len, [&](int depth, json::parse_event_t ev, json& parsed) {
                if (depth > kMaxJsonDepth)
                    throw Error(file.string() + ": the header nests JSON deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels.");
                if (ev == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
                    const auto& k = parsed.get_ref<const std::string&>();
                    if (!seen.insert(k).second && dup_key.empty()) dup_key = k;
                }
                return true;
            });
    } catch (const json::exception& e) {
        fail("header is not valid JSON (" + json_reason(e) + ").");
    }
    if (!header.is_object()) fail("header is not a JSON object.");
    if (!dup_key.empty()) fail("header lists tensor '" + dup_key + "' twice.");

    std::map<std::string, TensorView, std::less<>> found;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) fail("'__metadata__' is not a JSON object.");
            for (const auto& [k, v] : entry.items()) {
                if (!v.is_string()) fail("metadata value '" + k + "' is not a string.");
                metadata_.emplace(k, v.get<std::string>());  // first shard wins on conflicts
            }
            continue;
        }
        const std::string tn = "tensor '" + name + "'";
        if (!entry.is_object()) fail(tn + " is not described by a JSON object.");

        auto dt = entry.find("dtype");
        if (dt == entry.end() || !dt->is_string()) fail(tn + " has no 'dtype' string.");
        TensorView tv;
        tv.name = name;
        tv.file = fname;
        tv.dtype_text = dt->get<std::string>();
        tv.dtype = parse_dtype(tv.dtype_text);

        auto sh = entry.find("shape");
        if (sh == entry.end() || !sh->is_array()) fail(tn + " has no 'shape' list.");
        int64_t numel = 1;
        for (const auto& d : *sh) {
            int64_t dim = 0;
            bool neg = false, big = false;
            if (!json_to_u63(d, dim, neg, big))
                fail(tn + " has a shape entry that is not an integer.");
            if (neg) fail(tn + " has a negative dimension (" + d.dump() + ").");
            if (big || __builtin_mul_overflow(numel, dim, &numel))
                fail(tn + " has a shape too large to address (" + sh->dump() + ").");
            tv.shape.push_back(dim);
        }

        auto off = entry.find("data_offsets");
        if (off == entry.end() || !off->is_array() || off->size() != 2)
            fail(tn + " has no 'data_offsets' pair [begin, end].");
        int64_t begin = 0, end = 0;
        bool neg0 = false, big0 = false, neg1 = false, big1 = false;
        if (!json_to_u63((*off)[0], begin, neg0, big0) ||
            !json_to_u63((*off)[1], end, neg1, big1) || neg0 || neg1)
            fail(tn + " has 'data_offsets' that are not non-negative integers.");
        if (big1 || static_cast<uint64_t>(end) > data_size) {
            // Report absolute byte positions: they are what a user can compare with `ls -l`.
            const std::string at =
                big1 ? (*off)[1].dump() : std::to_string(static_cast<uint64_t>(end) + data_start);
            fail("header points past the end of the file (" + tn + " ends at byte " + at +
                 ", the file has " + std::to_string(fsize) + ").");
        }
        if (big0 || begin > end)
            fail(tn + " has data_offsets whose begin " + (*off)[0].dump() + " is after its end " +
                 std::to_string(end) + ".");
        tv.nbytes = static_cast<size_t>(end - begin);

        const size_t esize = known_dtype_size(tv.dtype_text);
        if (esize != 0) {
            int64_t want = 0;
            const bool overflow = __builtin_mul_overflow(numel, static_cast<int64_t>(esize), &want);
            if (overflow || static_cast<uint64_t>(want) != tv.nbytes)
                fail(tn + " holds " + std::to_string(tv.nbytes) + " bytes, but its shape " +
                     sh->dump() + " of " + tv.dtype_text + " needs " +
                     (overflow ? std::string("more") : std::to_string(want)) + ".");
        }
        // Alignment is not guaranteed by the format; consumers use unaligned loads.
        tv.data = mf->data() + data_start + static_cast<uint64_t>(begin);
        found.emplace(name, std::move(tv));
    }

    // Only merge once the whole file is valid, so a failure leaves no half-added shard.
    for (const auto& [name, tv] : found) {
        auto it = tensors_.find(name);
        if (it != tensors_.end())
            throw Error("tensor '" + name + "' appears in both " + it->second.file + " and " +
                        fname + "; a checkpoint must name each tensor once.");
    }
    tensors_.merge(found);
    files_.push_back(std::move(mf));
}

SafetensorsArchive SafetensorsArchive::open_file(const fs::path& file) {
    SafetensorsArchive a;
    a.source_ = file.string();
    a.add_file(file);
    return a;
}

SafetensorsArchive SafetensorsArchive::open_dir(const fs::path& dir) {
    std::error_code ec;
    const std::string dname = dir.string();
    if (!fs::exists(dir, ec)) throw Error("checkpoint folder " + dname + " does not exist.");
    if (!fs::is_directory(dir, ec)) throw Error(dname + " is not a folder.");

    SafetensorsArchive a;
    a.source_ = dname;

    const fs::path index = dir / kIndexName;
    if (fs::exists(index, ec)) {
        const std::string iname = index.string();
        const json j = parse_json(read_text_file(index), iname);
        if (!j.is_object()) throw Error(iname + ": not a JSON object.");
        auto wm = j.find("weight_map");
        if (wm == j.end() || !wm->is_object()) throw Error(iname + ": has no 'weight_map' object.");

        std::map<std::string, std::string> wanted;  // tensor -> shard, sorted for determinism
        std::set<std::string> shards;
        for (const auto& [tensor, shard] : wm->items()) {
            if (!shard.is_string())
                throw Error(iname + ": the shard of tensor '" + tensor + "' is not a string.");
            const std::string s = shard.get<std::string>();
            // Shards live inside the checkpoint folder; refuse paths that leave it.
            const fs::path sp(s);
            bool escapes =
                s.empty() || sp.is_absolute() ||
                std::any_of(sp.begin(), sp.end(), [](const fs::path& c) { return c == ".."; });
            if (escapes)
                throw Error(iname + ": shard '" + s + "' of tensor '" + tensor +
                            "' is not a file name inside the checkpoint folder.");
            wanted.emplace(tensor, s);
            shards.insert(s);
        }
        for (const auto& s : shards) {
            const fs::path sp = dir / s;
            if (!fs::exists(sp, ec))
                throw Error(iname + ": shard '" + s + "' is listed but " + sp.string() +
                            " does not exist.");
            a.add_file(sp);
        }
        for (const auto& [tensor, s] : wanted) {
            const std::string sp = (dir / s).string();
            auto it = a.tensors_.find(tensor);
            if (it == a.tensors_.end() || it->second.file != sp)
                throw Error(iname + ": tensor '" + tensor + "' should be in shard '" + s +
                            "', but " + sp + " does not contain it.");
        }
        return a;
    }

    const fs::path single = dir / kSingleName;
    if (fs::exists(single, ec)) {
        a.add_file(single);
        return a;
    }

    std::vector<fs::path> found;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".safetensors" && it->is_regular_file(ec))
            found.push_back(it->path());
    }
    if (ec) throw Error(dname + ": the folder cannot be listed (" + ec.message() + ").");
    if (found.empty()) throw Error("no .safetensors files in " + dname + ".");
    std::sort(found.begin(), found.end());
    for (const auto& f : found)
        a.add_file(f);
    return a;
}

const TensorView* SafetensorsArchive::find(std::string_view name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& SafetensorsArchive::get(std::string_view name) const {
    const TensorView* t = find(name);
    if (t == nullptr)
        throw Error("tensor '" + std::string(name) + "' is missing from the checkpoint in " +
                    source_ + ".");
    return *t;
}

std::vector<std::string> SafetensorsArchive::names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& [name, tv] : tensors_)
        out.push_back(name);
    return out;
}

size_t SafetensorsArchive::tensor_bytes() const {
    size_t total = 0;
    for (const auto& [name, tv] : tensors_)
        total += tv.nbytes;
    return total;
}

}  // namespace lc
