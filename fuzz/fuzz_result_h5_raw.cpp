// Fuzz target: a sweep result file given byte for byte (libFuzzer mutates the HDF5 file itself).
// Checks that no damaged file gets past the integrity block to libhdf5's parser, which crashes on
// some corrupted headers (fuzz/README.md); the structure-aware fuzz_result_h5 checks the reader.
#include "check_results.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::check_results_file(fuzz::write_file("result.h5", data, size));
    return 0;
}
