#include "engine/cache_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "base/error.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace lc {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[4] = {'L', 'C', 'K', 'V'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kFloat32 = 1;
constexpr uint32_t kMaxFingerprintBytes = 256;
constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

// FNV-1a 64, byte by byte: for the fingerprint's small inputs.
struct Fnv1a {
    uint64_t h = kFnvOffset;
    void add(const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        for (size_t i = 0; i < n; ++i)
            h = (h ^ p[i]) * kFnvPrime;
    }
    void add(const std::string& s) {
        add_u64(s.size());
        add(s.data(), s.size());
    }
    void add_u64(uint64_t v) { add(&v, sizeof v); }
};

uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

// The payload checksum: FNV-1a over 64-bit words in four interleaved lanes (several GB/s), fed
// in pieces of any size. Every step is a bijection of a lane, so any one changed word changes
// the result.
class Checksum {
public:
    void add(const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        total_ += n;
        if (pending_ > 0) {
            const size_t take = std::min(n, sizeof buf_ - pending_);
            std::memcpy(buf_ + pending_, p, take);
            pending_ += take;
            p += take;
            n -= take;
            if (pending_ < sizeof buf_) return;
            block(buf_);
            pending_ = 0;
        }
        for (; n >= sizeof buf_; p += sizeof buf_, n -= sizeof buf_)
            block(p);
        std::memcpy(buf_, p, n);
        pending_ = n;
    }
    uint64_t digest() const {
        Checksum c = *this;
        std::memset(c.buf_ + c.pending_, 0, sizeof buf_ - c.pending_);
        if (c.pending_ > 0) c.block(c.buf_);
        uint64_t h = fmix64(c.total_);
        for (uint64_t lane : c.lanes_)
            h = fmix64(h ^ lane);
        return h;
    }

private:
    void block(const uint8_t* p) {
        for (int i = 0; i < 4; ++i) {
            uint64_t w;
            std::memcpy(&w, p + 8 * i, 8);
            lanes_[i] = (lanes_[i] ^ w) * kFnvPrime;
        }
    }
    uint64_t lanes_[4] = {kFnvOffset, kFnvOffset ^ 1, kFnvOffset ^ 2, kFnvOffset ^ 3};
    uint8_t buf_[32] = {};
    size_t pending_ = 0;
    uint64_t total_ = 0;
};

std::string hex64(uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
    return text;
}

// Calls f(rows as f32, count) for the pages of layer `layer`, positions [0, n), in order (copied
// out of the backend's pages, so device caches save the same way).
template <class F>
void for_each_run(const LatentCache& cache, int layer, int n, F&& f) {
    const int pt = cache.page_tokens();
    std::vector<float> rows(static_cast<size_t>(pt) * cache.row_elements());
    for (int first = 0; first < n; first += pt) {
        const int count = std::min(pt, n - first);
        cache.read_rows(layer, first, count, rows.data());
        f(static_cast<const float*>(rows.data()), count);
    }
}

void put_u32(std::string& out, uint32_t v) {
    out.append(reinterpret_cast<const char*>(&v), 4);
}
void put_u64(std::string& out, uint64_t v) {
    out.append(reinterpret_cast<const char*>(&v), 8);
}

// Bounds-checked reads from the mapped file.
struct Reader {
    const uint8_t* data;
    size_t size;
    size_t at = 0;
    bool ok = true;
    const uint8_t* take(size_t n) {
        if (!ok || n > size - at) {
            ok = false;
            return nullptr;
        }
        const uint8_t* p = data + at;
        at += n;
        return p;
    }
    uint32_t u32() {
        uint32_t v = 0;
        if (const uint8_t* p = take(4)) std::memcpy(&v, p, 4);
        return v;
    }
    uint64_t u64() {
        uint64_t v = 0;
        if (const uint8_t* p = take(8)) std::memcpy(&v, p, 8);
        return v;
    }
};

LoadedCache ignored(LatentCache& cache, std::vector<int>& tokens_out, const fs::path& file,
                    const std::string& why) {
    cache.clear();
    tokens_out.clear();
    return LoadedCache{false, 0, file.string() + " " + why};
}

}  // namespace

namespace {

// A tensor's name, type, shape, size and its first and last 64 bytes.
void add_tensor(Fnv1a& h, const std::string& name, const std::string& type,
                const std::vector<int64_t>& shape, const void* data, size_t nbytes) {
    h.add(name);
    h.add(type);
    h.add_u64(shape.size());
    for (int64_t d : shape)
        h.add_u64(static_cast<uint64_t>(d));
    h.add_u64(nbytes);
    const size_t sample = std::min<size_t>(64, nbytes);
    const auto* p = static_cast<const uint8_t*>(data);
    h.add(p, sample);
    h.add(p + nbytes - sample, sample);
}

std::string gguf_fingerprint(const fs::path& file) {
    Fnv1a h;
    const GgufFile gguf = GgufFile::open(file);
    // The metadata that shapes the forward is in the config; the tensors identify the weights.
    for (const GgufTensor& t : gguf.tensors())
        add_tensor(h, t.name, std::to_string(t.ggml_type), t.shape, t.data, t.nbytes);
    return hex64(h.h);
}

}  // namespace

std::string model_fingerprint(const fs::path& model_dir) {
    if (is_gguf_path(model_dir)) return gguf_fingerprint(model_dir);
    Fnv1a h;
    const fs::path config_path = model_dir / "config.json";
    std::ifstream config(config_path, std::ios::binary);
    if (!config) throw Error(config_path.string() + " cannot be read to fingerprint the model.");
    std::string bytes((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
    if (config.bad())
        throw Error(config_path.string() + " could not be read to the end to fingerprint it.");
    h.add(bytes);
    const SafetensorsArchive archive = SafetensorsArchive::open_dir(model_dir);
    for (const std::string& name : archive.names()) {  // sorted
        const TensorView& t = archive.get(name);
        add_tensor(h, name, t.dtype_text, t.shape, t.data, t.nbytes);
    }
    return hex64(h.h);
}

uint64_t latent_cache_checksum(std::span<const uint8_t> bytes) {
    Checksum sum;
    sum.add(bytes.data(), bytes.size());
    return sum.digest();
}

std::string model_fingerprint(const Model& model) {
    return model_fingerprint(model.dir());
}

void save_latent_cache(const fs::path& file, const LatentCache& cache,
                       const std::vector<int>& tokens, const std::string& fingerprint) {
    const int n = cache.size();
    if (static_cast<int>(tokens.size()) != n)
        throw Error("internal: saving " + file.string() + " with " + std::to_string(tokens.size()) +
                    " token ids for a cache of " + std::to_string(n) + " positions");
    if (fingerprint.size() > kMaxFingerprintBytes)
        throw Error("internal: the model fingerprint for " + file.string() + " is too long");
    const size_t row_bytes = static_cast<size_t>(cache.row_elements()) * sizeof(float);

    Checksum payload_sum;
    for (int l = 0; l < cache.layers(); ++l)
        for_each_run(cache, l, n, [&](const float* rows, int count) {
            payload_sum.add(rows, count * row_bytes);
        });
    const uint64_t payload_bytes = static_cast<uint64_t>(cache.layers()) * n * row_bytes;

    std::string header(kMagic, 4);
    put_u32(header, kVersion);
    put_u32(header, 0);  // header_bytes, set below
    put_u32(header, kFloat32);
    put_u32(header, static_cast<uint32_t>(cache.layers()));
    put_u32(header, static_cast<uint32_t>(cache.latent_dim()));
    put_u32(header, static_cast<uint32_t>(cache.rope_dim()));
    put_u32(header, static_cast<uint32_t>(n));
    put_u32(header, static_cast<uint32_t>(fingerprint.size()));
    header += fingerprint;
    header.append(reinterpret_cast<const char*>(tokens.data()), tokens.size() * sizeof(int));
    put_u64(header, payload_bytes);
    put_u64(header, payload_sum.digest());
    const uint32_t header_bytes = static_cast<uint32_t>(header.size() + 8);
    std::memcpy(header.data() + 8, &header_bytes, 4);
    Checksum header_sum;
    header_sum.add(header.data(), header.size());
    put_u64(header, header_sum.digest());

    fs::path tmp = file;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            throw Error("the latent cache file " + tmp.string() + " cannot be created (" +
                        std::strerror(errno) + ").");
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        for (int l = 0; l < cache.layers() && out; ++l)
            for_each_run(cache, l, n, [&](const float* rows, int count) {
                out.write(reinterpret_cast<const char*>(rows),
                          static_cast<std::streamsize>(count * row_bytes));
            });
        out.flush();
        if (!out) {
            const std::string why = std::strerror(errno);
            out.close();
            std::error_code ignore;
            fs::remove(tmp, ignore);
            throw Error("the latent cache file " + tmp.string() + " could not be written (" + why +
                        ").");
        }
    }
    std::error_code ec;
    fs::rename(tmp, file, ec);
    if (ec) {
        std::error_code ignore;
        fs::remove(tmp, ignore);
        throw Error("the latent cache file " + file.string() + " could not be put in place (" +
                    ec.message() + ").");
    }
}

LoadedCache load_latent_cache(const fs::path& file, LatentCache& cache,
                              std::vector<int>& tokens_out, const std::string& fingerprint,
                              std::span<const int> expected_prefix) {
    cache.clear();
    tokens_out.clear();
    std::error_code ec;
    if (!fs::exists(file, ec)) return ignored(cache, tokens_out, file, "does not exist.");
    std::unique_ptr<MappedFile> mapped;
    try {
        mapped = std::make_unique<MappedFile>(file);
    } catch (const Error& e) {
        return LoadedCache{false, 0, e.what()};
    }
    Reader r{mapped->data(), mapped->size()};
    const uint8_t* magic = r.take(4);
    if (!magic || std::memcmp(magic, kMagic, 4) != 0)
        return ignored(cache, tokens_out, file, "is not a latent cache file (no LCKV magic).");
    const uint32_t version = r.u32();
    if (r.ok && version != kVersion)
        return ignored(cache, tokens_out, file,
                       "has format version " + std::to_string(version) + ", not " +
                           std::to_string(kVersion) + ".");
    const uint32_t header_bytes = r.u32();
    if (!r.ok || header_bytes > mapped->size() || header_bytes < 8)
        return ignored(cache, tokens_out, file, "is truncated in its header.");
    Checksum header_sum;
    header_sum.add(mapped->data(), header_bytes - 8);
    uint64_t stored_header_sum = 0;
    std::memcpy(&stored_header_sum, mapped->data() + header_bytes - 8, 8);
    if (header_sum.digest() != stored_header_sum)
        return ignored(cache, tokens_out, file, "has a damaged header (checksum mismatch).");

    const uint32_t element_type = r.u32();
    const uint32_t layers = r.u32(), d_c = r.u32(), d_rope = r.u32(), n = r.u32();
    const uint32_t fp_bytes = r.u32();
    if (!r.ok || fp_bytes > kMaxFingerprintBytes)
        return ignored(cache, tokens_out, file, "has a malformed header.");
    const uint8_t* fp = r.take(fp_bytes);
    const uint8_t* ids = r.take(static_cast<size_t>(n) * sizeof(int));
    const uint64_t payload_bytes = r.u64();
    const uint64_t payload_sum = r.u64();
    if (!r.ok || r.at + 8 != header_bytes)
        return ignored(cache, tokens_out, file, "has a malformed header.");
    if (element_type != kFloat32)
        return ignored(cache, tokens_out, file, "holds elements of an unknown type.");
    if (std::string(reinterpret_cast<const char*>(fp), fp_bytes) != fingerprint)
        return ignored(cache, tokens_out, file,
                       "was saved with another model (fingerprint differs).");
    if (static_cast<int>(layers) != cache.layers() || static_cast<int>(d_c) != cache.latent_dim() ||
        static_cast<int>(d_rope) != cache.rope_dim())
        return ignored(cache, tokens_out, file,
                       "holds a cache of another shape (" + std::to_string(layers) + " layers, " +
                           std::to_string(d_c) + "+" + std::to_string(d_rope) + ").");
    const size_t row_bytes = static_cast<size_t>(d_c + d_rope) * sizeof(float);
    const size_t layer_bytes = static_cast<size_t>(n) * row_bytes;
    if (payload_bytes != layers * layer_bytes || payload_bytes != mapped->size() - header_bytes)
        return ignored(cache, tokens_out, file,
                       "is truncated or has extra bytes (payload size differs).");
    const uint8_t* payload = mapped->data() + header_bytes;
    Checksum sum;
    sum.add(payload, payload_bytes);
    if (sum.digest() != payload_sum)
        return ignored(cache, tokens_out, file, "has damaged cache rows (checksum mismatch).");

    if (n == 0) return ignored(cache, tokens_out, file, "holds no tokens.");
    // The saved tokens that match the conversation from its start.
    int keep = 0;
    while (keep < static_cast<int>(n) && keep < static_cast<int>(expected_prefix.size())) {
        int id;
        std::memcpy(&id, ids + static_cast<size_t>(keep) * sizeof(int), sizeof(int));
        if (id != expected_prefix[keep]) break;
        ++keep;
    }
    keep = std::min(keep, cache.max_tokens());
    if (keep == 0)
        return ignored(cache, tokens_out, file,
                       "was saved for another conversation (its first token differs).");

    cache.reserve(keep);
    const int pt = cache.page_tokens();
    std::vector<float> rows;
    for (int l = 0; l < static_cast<int>(layers); ++l) {
        const uint8_t* src = payload + l * layer_bytes;
        for (int first = 0; first < keep; first += pt) {
            const int count = std::min(pt, keep - first);
            rows.resize(static_cast<size_t>(count) * (d_c + d_rope));
            std::memcpy(rows.data(), src + first * row_bytes, count * row_bytes);
            cache.write_rows(l, first, count, rows.data());
        }
    }
    cache.set_size(keep);
    tokens_out.assign(expected_prefix.begin(), expected_prefix.begin() + keep);
    return LoadedCache{true, keep, ""};
}

namespace {

// Session::adopt_cache_prefix(tokens) makes `tokens` the context of a session whose cache
// already holds them. Used when Session has it; without it a resume is declined.
template <class S>
bool adopt(S& session, std::span<const int> tokens) {
    if constexpr (requires { session.adopt_cache_prefix(tokens); }) {
        session.adopt_cache_prefix(tokens);
        return true;
    } else {
        return false;
    }
}

}  // namespace

LoadedCache resume_session(Session& session, const fs::path& file, const std::string& fingerprint,
                           std::span<const int> conversation_tokens) {
    session.reset();
    std::vector<int> restored;
    LoadedCache loaded =
        load_latent_cache(file, session.cache(), restored, fingerprint, conversation_tokens);
    if (loaded.used && !adopt(session, restored)) {
        session.reset();
        return LoadedCache{false, 0, "Session cannot adopt a restored cache in this build."};
    }
    return loaded;
}

}  // namespace lc
