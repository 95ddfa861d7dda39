// Fuzz target: the input of `flashmc array-solve`: a tile file and its two CSV files, given as one
// input whose parts are separated by lines "%%" (tile.toml, then vth.csv, then inputs.csv). The
// tile file names them (and the device card, card.toml, a copy of devices/nor40_cim.toml) relative
// to itself.
#include <filesystem>
#include <string>

#include "flashmc/array/tile_file.hpp"
#include "flashmc/core/error.hpp"
#include "fuzz_util.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool card = [] {
        std::filesystem::copy_file(std::string(FLASHMC_SOURCE_DIR) + "/devices/nor40_cim.toml", fuzz::scratch() / "card.toml",
                                   std::filesystem::copy_options::overwrite_existing);
        return true;
    }();
    (void)card;
    const std::string input(reinterpret_cast<const char*>(data), size);
    std::string parts[3];
    std::size_t start = 0;
    for (int i = 0; i < 3; ++i) {
        const std::size_t sep = i < 2 ? input.find("\n%%\n", start) : std::string::npos;
        parts[i] = input.substr(std::min(start, input.size()), sep == std::string::npos ? std::string::npos : sep - start);
        if (sep == std::string::npos) break;
        start = sep + 4;
    }
    const std::string tile = fuzz::write_file("tile.toml", parts[0].data(), parts[0].size());
    fuzz::write_file("vth.csv", parts[1].data(), parts[1].size());
    fuzz::write_file("inputs.csv", parts[2].data(), parts[2].size());
    try {
        const array::TileSpec spec = array::load_tile_spec(tile);
        if (spec.cells.vth_v.size() != static_cast<std::size_t>(spec.rows) * spec.cols || spec.inputs.size() != static_cast<std::size_t>(spec.rows))
            std::abort();  // a spec that loads must hold what it says
    } catch (const Error&) {
        // the clean rejection of a bad file
    }
    return 0;
}
