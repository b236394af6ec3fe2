#include "hub/digest.h"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "base/error.h"

namespace lc::hub {

namespace {
EVP_MD_CTX* ctx_of(void* p) {
    return static_cast<EVP_MD_CTX*>(p);
}
}  // namespace

Digest::Digest(Kind kind, int64_t blob_size) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) throw std::bad_alloc();
    ctx_ = ctx;
    const EVP_MD* md = kind == Kind::Sha256 ? EVP_sha256() : EVP_sha1();
    if (EVP_DigestInit_ex(ctx, md, nullptr) != 1) {
        EVP_MD_CTX_free(ctx);
        throw Error("OpenSSL could not start a hash");
    }
    if (kind == Kind::GitBlobSha1) {
        const std::string header = "blob " + std::to_string(blob_size);
        update(header.data(), header.size() + 1);  // with the terminating NUL
    }
}

Digest::~Digest() {
    EVP_MD_CTX_free(ctx_of(ctx_));
}

void Digest::update(const void* data, size_t n) {
    if (n > 0) EVP_DigestUpdate(ctx_of(ctx_), data, n);
}

void Digest::update_from_file(const std::filesystem::path& file, int64_t bytes) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error("cannot read " + file.string());
    std::vector<char> buf(1 << 20);
    while (bytes > 0) {
        const auto want = static_cast<std::streamsize>(std::min<int64_t>(bytes, buf.size()));
        in.read(buf.data(), want);
        if (in.gcount() != want) throw Error("cannot read " + file.string());
        update(buf.data(), static_cast<size_t>(want));
        bytes -= want;
    }
}

std::string Digest::hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_of(ctx_), out, &n);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
        s += digits[out[i] >> 4];
        s += digits[out[i] & 15];
    }
    return s;
}

}  // namespace lc::hub
