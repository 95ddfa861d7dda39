// Fuzz target: an ONNX file given byte for byte (libFuzzer mutates the protobuf itself): import_onnx,
// then the imported model saved, loaded and run (check_onnx.hpp). Most mutations break the protobuf
// encoding; the structure-aware fuzz_onnx edits well-formed models.
#include "check_onnx.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::check_onnx_file(fuzz::write_file("model.onnx", data, size));
    return 0;
}
