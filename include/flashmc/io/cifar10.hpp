#pragma once
// CIFAR-10, binary version (Krizhevsky 2009): files of 3,073-byte records, 1 label byte (0-9)
// then 3,072 pixel bytes (R, G, B planes, 32x32 row-major).
#include <cstdint>
#include <string>
#include <vector>

namespace flashmc {

struct Cifar10 {
    static constexpr int kImageBytes = 3072;
    static constexpr int kRecordBytes = 3073;
    static constexpr int kClasses = 10;
    static constexpr std::size_t kMaxFileRecords = 60000;  // one file holds at most the whole set
    std::vector<std::uint8_t> pixels;  // N × 3072
    std::vector<std::uint8_t> labels;  // N
    std::size_t size() const { return labels.size(); }
    const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * kImageBytes; }
    void append(const Cifar10& o);
};

// Reads one batch file. Throws Error naming the file (and record) if it is missing, if its size is
// not a whole number of records or above kMaxFileRecords of them, or if a label is above 9.
Cifar10 read_cifar10_file(const std::string& path);
// The 50,000 training images (data_batch_1..5.bin) or the 10,000 test images (test_batch.bin) of
// the directory `dir` (usually data/cifar-10-batches-bin). limit > 0 keeps the first `limit`.
Cifar10 read_cifar10_train(const std::string& dir, std::size_t limit = 0);
Cifar10 read_cifar10_test(const std::string& dir, std::size_t limit = 0);
// Writes records in the same format (used by tests to make tiny datasets).
void write_cifar10_file(const std::string& path, const Cifar10& data);

// Per-channel training-set statistics on the 0-255 scale (shared/data/README.md).
inline constexpr float kCifarMean[3] = {125.3f, 123.0f, 113.9f};
inline constexpr float kCifarStd[3] = {63.0f, 62.1f, 66.7f};

// Default data directory: $FLASHMC_DATA if set, else data/cifar-10-batches-bin.
std::string default_cifar10_dir();

}  // namespace flashmc
