#include "flashmc/core/sha256.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "flashmc/core/error.hpp"

namespace flashmc {

struct Sha256::Ctx {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
    if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) fail("SHA-256: OpenSSL cannot start a digest");
}
Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t n) {
    if (EVP_DigestUpdate(ctx_->md, data, n) != 1) fail("SHA-256: OpenSSL digest update failed");
}

std::string Sha256::hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_->md, digest, &len) != 1 || len != 32) fail("SHA-256: OpenSSL digest failed");
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += digits[digest[i] >> 4];
        out += digits[digest[i] & 0xF];
    }
    return out;
}

std::string sha256_hex(const void* data, std::size_t n) {
    Sha256 s;
    s.update(data, n);
    return s.hex();
}

std::string sha256_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open for reading");
    Sha256 s;
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        s.update(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) fail(path, ": read error");
    return s.hex();
}

}  // namespace flashmc
