#pragma once
// SHA-256 (FIPS 180-4), for provenance: checksums of datasets and model files in result files.
#include <cstddef>
#include <cstdint>
#include <string>

namespace flashmc {

class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t n);
    std::string hex();  // finalizes; the object is spent afterwards

private:
    void block(const std::uint8_t* p);
    std::uint32_t h_[8];
    std::uint8_t buf_[64];
    std::size_t fill_ = 0;
    std::uint64_t bytes_ = 0;
};

std::string sha256_file(const std::string& path);  // throws Error if unreadable

}  // namespace flashmc
