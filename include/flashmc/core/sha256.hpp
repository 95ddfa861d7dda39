#pragma once
// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, for provenance (checksums of datasets and model
// files in result files) and for the integrity block of every HDF5 file flashmc writes.
#include <cstddef>
#include <memory>
#include <string>

namespace flashmc {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, std::size_t n);
    std::string hex();  // finalizes: 64 lowercase hex digits; the object is spent afterwards

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
};

std::string sha256_hex(const void* data, std::size_t n);
std::string sha256_file(const std::string& path);  // throws Error if unreadable

}  // namespace flashmc
