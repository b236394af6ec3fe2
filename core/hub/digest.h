#pragma once
// Streaming hashes of downloaded bytes (OpenSSL's EVP): SHA-256 for the hub's LFS files, and the
// git blob SHA-1 for small files kept in git, which is the only hash the hub lists for those.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace lc::hub {

class Digest {
public:
    enum class Kind { Sha256, GitBlobSha1 };
    // A git blob hash covers "blob <size>\0" before the bytes, so it needs the size up front.
    explicit Digest(Kind kind, int64_t blob_size = 0);
    ~Digest();
    Digest(const Digest&) = delete;
    Digest& operator=(const Digest&) = delete;

    void update(const void* data, size_t n);
    // Reads `bytes` bytes of `file` from its start into the hash (the part of a resumed download
    // that is already on disk). Throws lc::Error when the file cannot be read.
    void update_from_file(const std::filesystem::path& file, int64_t bytes);
    std::string hex();  // lowercase; ends the hash

private:
    void* ctx_ = nullptr;  // EVP_MD_CTX
};

}  // namespace lc::hub
