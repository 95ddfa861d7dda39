#pragma once
// Weight-to-tile mapping (docs/array.md §2). A layer's integer weights W[out][K] (K = in_c·k·k, the
// QuantModel layout) are placed with input j on word line (row) j mod R of row tile j / R and
// output o on bit lines of column tile o / outputs_per_tile:
//   differential  output o uses bit lines 2o (I⁺, level max(w, 0)) and 2o+1 (I⁻, level max(−w, 0));
//                 outputs_per_tile = C / 2; the ADC reads I⁺ − I⁻.
//   offset        output o uses bit line o with level w + w_max; the tile's last used bit line is a
//                 reference column at level w_max; outputs_per_tile = C − 1; the ADC reads I_o − I_ref.
// Partial sums of the row tiles of one column tile are digitized separately and added digitally.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace flashmc::array {

enum class WeightMapping { differential, offset };
WeightMapping parse_weight_mapping(const std::string& s);  // "differential" | "offset"
const char* to_string(WeightMapping m);

struct MappingParams {
    int tile_rows = 256;
    int tile_cols = 256;
    WeightMapping mapping = WeightMapping::differential;
    int weight_bits = 4;  // signed weights −w_max … w_max, w_max = 2^(B−1) − 1
    int weight_max() const { return (1 << (weight_bits - 1)) - 1; }
    int max_level() const { return mapping == WeightMapping::differential ? weight_max() : 2 * weight_max(); }
    void validate() const;  // rows, cols in [2, 65536] (cols >= 2), weight_bits in [2, 9]
};

// One tile of a layer: rows [row_begin, row_begin + rows) of the inputs, outputs
// [out_begin, out_begin + outputs); it uses `rows` word lines and `cols` bit lines.
struct TilePlacement {
    int row_tile = 0, col_tile = 0;
    int row_begin = 0, rows = 0;
    int out_begin = 0, outputs = 0;
    int cols = 0;  // bit lines used (differential: 2·outputs; offset: outputs + 1)
};

struct MappingReport {
    int tiles = 0;
    long cells_used = 0;      // programmed cells holding a weight or a reference
    long cells_available = 0; // tiles · R · C
    double utilization() const { return cells_available ? double(cells_used) / double(cells_available) : 0.0; }
};

struct LayerMapping {
    MappingParams params;
    int inputs = 0;   // K
    int outputs = 0;  // out_c
    int row_tiles = 0, col_tiles = 0;
    int outputs_per_tile = 0;
    std::vector<TilePlacement> tiles;  // row-tile-major within a column tile: t = ct·row_tiles + rt
    MappingReport report() const;
};

LayerMapping map_layer(int inputs, int outputs, const MappingParams& params);

// Magnitude levels of tile t's cells, column-major (cell (row, col) at col·rows + row, the layout of
// TileCells and of device::sample_cells with Grid{rows, cols}). weights: [outputs][inputs] int8;
// a weight outside ±w_max throws, naming output, input and value.
std::vector<std::uint8_t> tile_levels(const LayerMapping& mapping, std::span<const std::int8_t> weights, int tile);

}  // namespace flashmc::array
