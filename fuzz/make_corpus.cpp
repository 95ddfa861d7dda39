// Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/): small valid inputs of each
// kind, from which libFuzzer mutates (for the structure-aware HDF5 targets: short edit scripts). Built with the fuzz targets (scripts/fuzz.sh); run from the
// repository root as  build/fuzz/flashmc_fuzz_corpus fuzz/corpus  to regenerate the committed files.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flashmc/io/cifar10.hpp"
#include "seeds.hpp"

using namespace flashmc;
namespace fs = std::filesystem;

namespace {
std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

void cifar(const fs::path& dir) {
    Cifar10 d;
    for (int i = 0; i < 3; ++i) {
        d.labels.push_back(static_cast<std::uint8_t>(3 * i));
        for (int p = 0; p < Cifar10::kImageBytes; ++p) d.pixels.push_back(static_cast<std::uint8_t>(p * (i + 1)));
    }
    write_cifar10_file((dir / "three.bin").string(), d);
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR   (run from the repository root)\n", argv[0]);
        return 2;
    }
    const fs::path out = argv[1];
    for (const char* t : {"model_h5", "model_h5_raw", "result_h5", "result_h5_raw", "cifar", "device_card", "sweep_toml", "tile"})
        fs::create_directories(out / t);
    // Raw targets: the files. Structure-aware targets: edit scripts (h5_edit.hpp); the empty script
    // of each base file, and one edit of each kind.
    fuzz::write_model_seeds(out / "model_h5_raw");
    fuzz::write_result_seed(out / "result_h5_raw");
    for (int base = 0; base < 3; ++base) write_text(out / "model_h5" / ("base" + std::to_string(base)), std::string(1, char(base)));
    write_text(out / "result_h5" / "base", std::string(1, '\0'));
    for (int op = 0; op < 9; ++op) {
        const std::string edit = {char(op), char(3 * op + 1), char(op), char(5), char(7 * op), char(2), char(9)};
        write_text(out / "model_h5" / ("edit" + std::to_string(op)), std::string(1, char(op % 3)) + edit);
        write_text(out / "result_h5" / ("edit" + std::to_string(op)), std::string(1, '\0') + edit);
    }
    cifar(out / "cifar");
    for (const char* card : {"nor40_cim", "fg180_esf1", "nor_cim_ua"})
        fs::copy_file(std::string("devices/") + card + ".toml", out / "device_card" / (std::string(card) + ".toml"),
                      fs::copy_options::overwrite_existing);
    for (const char* sweep : {"test_tiny", "quickstart", "ir_drop"})
        fs::copy_file(std::string("experiments/") + sweep + ".toml", out / "sweep_toml" / (std::string(sweep) + ".toml"),
                      fs::copy_options::overwrite_existing);
    // The example tile, its card and CSV files side by side (fuzz_tile.cpp splits at "%%" lines).
    std::string tile = read_text("examples/array-solve/tile.toml");
    const auto at = tile.find("../../devices/nor40_cim.toml");
    if (at != std::string::npos) tile.replace(at, std::string("../../devices/nor40_cim.toml").size(), "card.toml");
    write_text(out / "tile" / "example.txt", tile + "\n%%\n" + read_text("examples/array-solve/vth.csv") + "\n%%\n" +
                                                 read_text("examples/array-solve/inputs.csv"));
    // ONNX: the raw target's seeds are the test fixture and the two models of
    // scripts/make_onnx_fuzz_seeds.py (written by it into fuzz/corpus/onnx_raw/); the structure-aware
    // target's are the empty edit script of each (onnx_edit.hpp) and a few edits.
    fs::create_directories(out / "onnx_raw");
    fs::create_directories(out / "onnx");
    fs::copy_file("tests/data/onnx/net.onnx", out / "onnx_raw" / "net.onnx", fs::copy_options::overwrite_existing);
    for (int base = 0; base < 3; ++base) {
        write_text(out / "onnx" / ("base" + std::to_string(base)), std::string(1, char(base)));
        for (int op = 0; op < 6; ++op) {
            const std::string edit = {char(op), char(base), char(37 * op + 11 * base), char(13 * op + 5)};
            write_text(out / "onnx" / ("edit" + std::to_string(base) + std::to_string(op)), std::string(1, char(base)) + edit);
        }
    }
    std::printf("wrote the seed corpus into %s\n", out.c_str());
    return 0;
}
