// Fuzz target: an edit script on a valid ONNX model (onnx_edit.hpp: a seed model, then field edits
// made through protobuf's reflection: values from tables of troublemakers, fields cleared or added,
// nodes copied and reordered, names exchanged), then as fuzz_onnx_raw: import_onnx, and the imported
// model saved, loaded and run (check_onnx.hpp).
#include "check_onnx.hpp"
#include "onnx_edit.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string model = fuzz::edited_onnx(data, size);
    fuzz::check_onnx_file(fuzz::write_file("model.onnx", model.data(), model.size()));
    return 0;
}
