// The array-solve inputs (tile file and CSVs) are checked before anything is allocated.
#include <catch2/catch.hpp>

#include <fstream>

#include "../test_util.hpp"
#include "flashmc/array/tile_file.hpp"
#include "flashmc/core/error.hpp"

using namespace flashmc;

TEST_CASE("a tile file asking for billions of cells, or a CSV with a huge field, gets a short clear error", "[array][tile-file]") {
    test::TempDir dir("tile-file");
    // 65536 × 65536 cells: the CSV reader reserved 32 GB for them.
    std::ofstream(dir / "tile.toml") << "rows = 65536\ncols = 65536\nr_bl_ohm = 1.0\nr_sl_ohm = 1.0\nread_vgs_v = 1.2\n"
                                        "read_vds_v = 0.1\ntemperature_c = 25.0\ndevice = \"" << test::source_dir()
                                     << "/devices/nor40_cim.toml\"\nvth_csv = \"vth.csv\"\ninputs_csv = \"in.csv\"\n";
    REQUIRE_THROWS_WITH(array::load_tile_spec(dir / "tile.toml"),
                        Catch::Contains("tile.toml: a tile of 65536 x 65536 cells exceeds the limit of 4194304 cells"));
    REQUIRE_THROWS_WITH(array::read_csv_matrix(dir / "tile.toml", 65536, 65536), Catch::Contains("exceed the limit of 4194304"));
    std::ofstream(dir / "big.csv") << "1.0," << std::string(100000, 'x') << "\n";
    std::string message;
    try {
        array::read_csv_matrix(dir / "big.csv", 1, 2);
    } catch (const Error& e) {
        message = e.what();
    }
    REQUIRE_THAT(message, Catch::Contains("big.csv: line 1, value 2: 'xxx") && Catch::Contains("is not a number"));
    REQUIRE(message.size() < 300);
}
