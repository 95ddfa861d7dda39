// Fuzz target: a CIFAR-10 batch file (data_batch_N.bin / test_batch.bin).
#include "flashmc/core/error.hpp"
#include "flashmc/io/cifar10.hpp"
#include "fuzz_util.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_file("batch.bin", data, size);
    try {
        const Cifar10 d = read_cifar10_file(path);
        for (std::size_t i = 0; i < d.size(); ++i)
            if (d.labels[i] >= Cifar10::kClasses || d.image(i)[Cifar10::kImageBytes - 1] != data[i * Cifar10::kRecordBytes + 3072])
                std::abort();  // the reader accepted a label above 9, or misplaced a record
    } catch (const Error&) {
        // the clean rejection of a bad file
    }
    return 0;
}
