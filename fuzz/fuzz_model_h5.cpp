// Fuzz target: a model file (FP32 graph and quantized export) as `flashmc eval` loads and runs it,
// structure-aware: the input's first byte picks one of three valid model files (FP32, W4A4, W4A4
// with float64 index attributes), the rest is an edit script (h5_edit.hpp) applied to a copy of it.
#include <filesystem>

#include "check_model.hpp"
#include "h5_edit.hpp"
#include "seeds.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<std::string> bases = fuzz::write_model_seeds(fuzz::scratch());
    fuzz::Script script(data, size);
    const std::string path = (fuzz::scratch() / "model.h5").string();
    std::filesystem::copy_file(script.pick(bases), path, std::filesystem::copy_options::overwrite_existing);
    fuzz::apply_edits(path, script);
    fuzz::check_model_file(path);
    return 0;
}
