#include <cstdio>

#include "command.hpp"
#include "flashmc/array/mapping.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/nn/model_file.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc map --model FILE.h5 [--tile-rows R] [--tile-cols C] [--mapping differential|offset]
                   [--column-calibration [--calibration-reads K]]

Maps every conv/FC layer of a quantized model onto NOR tiles (docs/array.md §2) and reports, per
layer: the weight matrix (rows K = C_in·k·k by outputs), tiles used, programmed cells and
utilization. Defaults: 256 × 256 tiles, differential cell pairs. --column-calibration adds the
cost of chip.column_calibration = "gain-offset" (docs/array.md §5.1): no cells, but 2 calibration
reads and 2 trim registers per bit line used, at every read condition; with --calibration-reads K
(chip.calibration_reads, averaged against read noise) 2·K reads.)";

int run(Args& a) {
    const std::string path = a.required("model");
    array::MappingParams p;
    p.tile_rows = static_cast<int>(a.integer("tile-rows", p.tile_rows));
    p.tile_cols = static_cast<int>(a.integer("tile-cols", p.tile_cols));
    p.mapping = array::parse_weight_mapping(a.str("mapping", "differential"));
    const bool calibration = a.flag("column-calibration");
    const long reads = a.integer("calibration-reads", 1);
    if (reads < 1 || reads > 64) fail("--calibration-reads ", reads, ": expected 1 to 64 (chip.calibration_reads)");
    if (reads > 1 && !calibration) fail("--calibration-reads needs --column-calibration");
    a.finish();
    nn::ModelFile f = nn::load_model_file(path);
    if (!f.quantized) fail(path, ": not a quantized model (train with --quant first)");
    std::printf("%s: %d x %d tiles, %s mapping\n", path.c_str(), p.tile_rows, p.tile_cols, array::to_string(p.mapping));
    std::printf("%-16s %5s %8s %8s %6s %12s %12s %8s\n", "layer", "bits", "rows K", "outputs", "tiles", "cells used", "cells avail", "util");
    long tiles = 0, used = 0, avail = 0, bit_lines = 0;
    for (const auto& q : f.quantized->nodes) {
        if (!q.is_mvm()) continue;
        array::MappingParams lp = p;
        lp.weight_bits = q.weight_bits;
        lp.validate();
        const array::LayerMapping m = array::map_layer(static_cast<int>(q.row()), q.out_c, lp);
        const auto r = m.report();
        for (const auto& t : m.tiles) bit_lines += t.cols;
        std::printf("%-16s %5d %8zu %8d %6d %12ld %12ld %7.1f%%\n", q.name.c_str(), q.weight_bits, q.row(), q.out_c, r.tiles,
                    r.cells_used, r.cells_available, 100 * r.utilization());
        tiles += r.tiles;
        used += r.cells_used;
        avail += r.cells_available;
    }
    std::printf("%-16s %5s %8s %8s %6ld %12ld %12ld %7.1f%%\n", "total", "", "", "", tiles, used, avail, avail ? 100.0 * used / avail : 0.0);
    if (calibration)
        std::printf("column calibration (gain-offset): %ld bit lines; 0 extra cells, %ld calibration reads and %ld trim registers "
                    "per read condition\n", bit_lines, 2 * reads * bit_lines, 2 * bit_lines);
    return 0;
}

const Registration reg({"map", "map a quantized model's layers onto NOR tiles: tiles, cells, utilization", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
