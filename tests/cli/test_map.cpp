#include <catch2/catch.hpp>

#include <cstdio>
#include <sstream>

#include "../test_util.hpp"
#include "flashmc/array/mapping.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;

namespace {
// The fields after the layer name on its row of the map table, single-spaced ("" if no such row).
std::string row_of(const std::string& output, const std::string& layer) {
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream f(line);
        std::string name, field, rest;
        f >> name;
        if (name != layer) continue;
        while (f >> field) rest += (rest.empty() ? "" : " ") + field;
        return rest;
    }
    return "";
}
}  // namespace

TEST_CASE("flashmc map reports tiles, cells and utilization per layer", "[cli][array]") {
    test::TempDir dir("map");
    Tensor calib(8, 3, 32, 32);
    Stream r = Streams(5).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::ModelFile f;
    f.model = nn::build_model("resnet20", 1);
    nn::prepare_qat(f.model, nn::parse_quant("w4a4"), calib);
    nn::save_model_file(dir / "q.h5", f);
    auto out = test::run_cli("map --model " + dir / "q.h5");
    INFO(out.output);
    REQUIRE(out.code == 0);
    // s3b1_conv2: K = 64·9 = 576 rows -> 3 row tiles; 64 outputs on 128 bit lines -> 1 column tile;
    // cells used = 576 · 128.
    // (bits, rows K, outputs, tiles, cells used, cells available, utilization), on that layer's row.
    REQUIRE(row_of(out.output, "s3b1_conv2") == "4 576 64 3 73728 196608 37.5%");
    auto off = test::run_cli("map --model " + dir / "q.h5 --mapping offset --tile-rows 128 --tile-cols 64");
    INFO(off.output);
    REQUIRE(off.code == 0);
    REQUIRE_THAT(off.output, Catch::Contains("128 x 64 tiles, offset mapping"));
    array::MappingParams op;
    op.tile_rows = 128;
    op.tile_cols = 64;
    op.mapping = array::WeightMapping::offset;
    const auto rep = array::map_layer(576, 64, op).report();
    char expect[128];
    std::snprintf(expect, sizeof expect, "4 576 64 %d %ld %ld %.1f%%", rep.tiles, rep.cells_used, rep.cells_available, 100 * rep.utilization());
    REQUIRE(row_of(off.output, "s3b1_conv2") == expect);
    REQUIRE(rep.tiles > 3);  // 128-row tiles and a reference column need more tiles than the default
    // The cost of per-bit-line calibration: every bit line used, of every tile, twice.
    long bit_lines = 0;
    const nn::ModelFile q_file = nn::load_model_file(dir / "q.h5");  // kept alive over the loop
    for (const auto& q : q_file.quantized->nodes) {
        if (!q.is_mvm()) continue;
        array::MappingParams lp;
        lp.weight_bits = q.weight_bits;
        for (const auto& t : array::map_layer(static_cast<int>(q.row()), q.out_c, lp).tiles) bit_lines += t.cols;
    }
    REQUIRE(bit_lines > 1000);
    auto cal = test::run_cli("map --model " + dir / "q.h5 --column-calibration");
    REQUIRE(cal.code == 0);
    REQUIRE_THAT(cal.output, Catch::Contains("column calibration (gain-offset): " + std::to_string(bit_lines) + " bit lines; 0 extra cells, " +
                                             std::to_string(2 * bit_lines) + " calibration reads"));
    auto cal16 = test::run_cli("map --model " + dir / "q.h5 --column-calibration --calibration-reads 16");
    REQUIRE(cal16.code == 0);
    REQUIRE_THAT(cal16.output, Catch::Contains(std::to_string(32 * bit_lines) + " calibration reads and " + std::to_string(2 * bit_lines) +
                                               " trim registers"));
    REQUIRE(test::run_cli("map --model " + dir / "q.h5 --calibration-reads 16").code == 1);
    REQUIRE(test::run_cli("map --model " + dir / "q.h5 --column-calibration --calibration-reads 0").code == 1);
    auto bad = test::run_cli("map --model " + dir / "q.h5 --mapping diagonal");
    REQUIRE(bad.code == 1);
    REQUIRE_THAT(bad.output, Catch::Contains("diagonal"));
    nn::ModelFile fp;
    fp.model = nn::build_model("tiny", 1);
    nn::save_model_file(dir / "fp.h5", fp);
    auto notq = test::run_cli("map --model " + dir / "fp.h5");
    REQUIRE(notq.code == 1);
    REQUIRE_THAT(notq.output, Catch::Contains("not a quantized model"));
}
