// Fuzz target: a sweep result file as inspect, merge and resume read it, structure-aware: the input
// is a byte (reserved) and an edit script (h5_edit.hpp) applied to a copy of a valid result file.
#include <filesystem>

#include "check_results.hpp"
#include "h5_edit.hpp"
#include "seeds.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string base = fuzz::write_result_seed(fuzz::scratch());
    fuzz::Script script(data, size);
    script.byte();  // the base file (one kind only; the byte keeps the scripts' layout that of fuzz_model_h5)
    const std::string path = (fuzz::scratch() / "result.h5").string();
    std::filesystem::copy_file(base, path, std::filesystem::copy_options::overwrite_existing);
    fuzz::apply_edits(path, script);
    fuzz::check_results_file(path);
    return 0;
}
