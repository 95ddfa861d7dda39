#include "flashmc/io/cifar10.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "flashmc/core/error.hpp"
#include "flashmc/io/atomic_file.hpp"

namespace flashmc {

void Cifar10::append(const Cifar10& o) {
    pixels.insert(pixels.end(), o.pixels.begin(), o.pixels.end());
    labels.insert(labels.end(), o.labels.begin(), o.labels.end());
}

Cifar10 read_cifar10_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        fail(path, ": CIFAR-10 file not found (run scripts/prepare-cifar10.sh)");
    auto bytes = std::filesystem::file_size(path, ec);
    if (ec) fail(path, ": cannot read size: ", ec.message());
    if (bytes == 0 || bytes % Cifar10::kRecordBytes != 0)
        fail(path, ": size ", bytes, " bytes is not a whole number of 3073-byte CIFAR-10 records");
    if (bytes / Cifar10::kRecordBytes > Cifar10::kMaxFileRecords)
        fail(path, ": ", bytes / Cifar10::kRecordBytes, " records, more than the whole CIFAR-10 set (", Cifar10::kMaxFileRecords, ")");
    std::size_t n = bytes / Cifar10::kRecordBytes;
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open");
    std::vector<std::uint8_t> raw(bytes);
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(bytes));
    if (static_cast<std::uintmax_t>(in.gcount()) != bytes) fail(path, ": short read");
    Cifar10 d;
    d.labels.resize(n);
    d.pixels.resize(n * Cifar10::kImageBytes);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* rec = raw.data() + i * Cifar10::kRecordBytes;
        if (rec[0] >= Cifar10::kClasses)
            fail(path, ": record ", i, ": label ", int(rec[0]), " is above 9");
        d.labels[i] = rec[0];
        std::copy(rec + 1, rec + Cifar10::kRecordBytes, d.pixels.begin() + static_cast<std::ptrdiff_t>(i * Cifar10::kImageBytes));
    }
    return d;
}

namespace {
void truncate(Cifar10& d, std::size_t limit) {
    if (limit == 0 || limit >= d.size()) return;
    d.labels.resize(limit);
    d.pixels.resize(limit * Cifar10::kImageBytes);
}
}  // namespace

Cifar10 read_cifar10_train(const std::string& dir, std::size_t limit) {
    Cifar10 all;
    for (int b = 1; b <= 5; ++b) {
        all.append(read_cifar10_file(dir + "/data_batch_" + std::to_string(b) + ".bin"));
        if (limit && all.size() >= limit) break;
    }
    truncate(all, limit);
    return all;
}

Cifar10 read_cifar10_test(const std::string& dir, std::size_t limit) {
    Cifar10 d = read_cifar10_file(dir + "/test_batch.bin");
    truncate(d, limit);
    return d;
}

void write_cifar10_file(const std::string& path, const Cifar10& d) {
    io::AtomicFile out(path);
    for (std::size_t i = 0; i < d.size(); ++i) {
        const char label = static_cast<char>(d.labels[i]);
        out.write(&label, 1);
        out.write(d.image(i), Cifar10::kImageBytes);
    }
    out.commit();
}

std::string default_cifar10_dir() {
    if (const char* e = std::getenv("FLASHMC_DATA"); e && *e) return e;
    return "data/cifar-10-batches-bin";
}

}  // namespace flashmc
