// Fuzz target: a model file given byte for byte (libFuzzer mutates the HDF5 file itself). Checks
// that no damaged file gets past the integrity block to libhdf5's parser, which crashes on some
// corrupted headers (fuzz/README.md); the structure-aware fuzz_model_h5 checks the loader.
#include "check_model.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::check_model_file(fuzz::write_file("model.h5", data, size));
    return 0;
}
