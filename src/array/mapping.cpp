#include "flashmc/array/mapping.hpp"

#include <algorithm>

#include "flashmc/array/encoding.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::array {

WeightMapping parse_weight_mapping(const std::string& s) {
    if (s == "differential") return WeightMapping::differential;
    if (s == "offset") return WeightMapping::offset;
    fail("weight mapping must be 'differential' or 'offset', got '", s, "'");
}
const char* to_string(WeightMapping m) { return m == WeightMapping::differential ? "differential" : "offset"; }

InputEncoding parse_input_encoding(const std::string& s) {
    if (s == "pulse_width") return InputEncoding::pulse_width;
    if (s == "bit_serial") return InputEncoding::bit_serial;
    fail("input encoding must be 'pulse_width' or 'bit_serial', got '", s, "'");
}
const char* to_string(InputEncoding e) { return e == InputEncoding::pulse_width ? "pulse_width" : "bit_serial"; }

void MappingParams::validate() const {
    check_range("tile_rows", tile_rows, Range{1, 65536});
    check_range("tile_cols", tile_cols, Range{2, 65536});
    check_range("weight_bits", weight_bits, Range{2, 9});
}

LayerMapping map_layer(int inputs, int outputs, const MappingParams& params) {
    params.validate();
    if (inputs < 1 || outputs < 1) fail("map_layer: a layer needs inputs and outputs, got ", inputs, " x ", outputs);
    LayerMapping m;
    m.params = params;
    m.inputs = inputs, m.outputs = outputs;
    const bool diff = params.mapping == WeightMapping::differential;
    m.outputs_per_tile = diff ? params.tile_cols / 2 : params.tile_cols - 1;
    m.row_tiles = (inputs + params.tile_rows - 1) / params.tile_rows;
    m.col_tiles = (outputs + m.outputs_per_tile - 1) / m.outputs_per_tile;
    for (int ct = 0; ct < m.col_tiles; ++ct)
        for (int rt = 0; rt < m.row_tiles; ++rt) {
            TilePlacement p;
            p.row_tile = rt, p.col_tile = ct;
            p.row_begin = rt * params.tile_rows;
            p.rows = std::min(params.tile_rows, inputs - p.row_begin);
            p.out_begin = ct * m.outputs_per_tile;
            p.outputs = std::min(m.outputs_per_tile, outputs - p.out_begin);
            p.cols = diff ? 2 * p.outputs : p.outputs + 1;
            m.tiles.push_back(p);
        }
    return m;
}

MappingReport LayerMapping::report() const {
    MappingReport r;
    r.tiles = static_cast<int>(tiles.size());
    for (const auto& t : tiles) r.cells_used += static_cast<long>(t.rows) * t.cols;
    r.cells_available = static_cast<long>(r.tiles) * params.tile_rows * params.tile_cols;
    return r;
}

std::vector<std::uint8_t> tile_levels(const LayerMapping& m, std::span<const std::int8_t> weights, int tile) {
    if (weights.size() != static_cast<std::size_t>(m.inputs) * m.outputs)
        fail("tile_levels: ", weights.size(), " weights for a ", m.outputs, " x ", m.inputs, " layer");
    if (tile < 0 || tile >= static_cast<int>(m.tiles.size()))
        fail("tile_levels: tile ", tile, " out of range [0, ", m.tiles.size(), ")");
    const TilePlacement& p = m.tiles[tile];
    const int wmax = m.params.weight_max();
    std::vector<std::uint8_t> levels(static_cast<std::size_t>(p.rows) * p.cols);
    for (int a = 0; a < p.outputs; ++a)
        for (int r = 0; r < p.rows; ++r) {
            const int o = p.out_begin + a, j = p.row_begin + r;
            const int w = weights[static_cast<std::size_t>(o) * m.inputs + j];
            if (w < -wmax || w > wmax)
                fail("tile_levels: weight [", o, "][", j, "] = ", w, " is out of range [", -wmax, ", ", wmax, "] for ",
                     m.params.weight_bits, "-bit weights");
            if (m.params.mapping == WeightMapping::differential) {
                levels[static_cast<std::size_t>(2 * a) * p.rows + r] = static_cast<std::uint8_t>(std::max(w, 0));
                levels[static_cast<std::size_t>(2 * a + 1) * p.rows + r] = static_cast<std::uint8_t>(std::max(-w, 0));
            } else {
                levels[static_cast<std::size_t>(a) * p.rows + r] = static_cast<std::uint8_t>(w + wmax);
            }
        }
    if (m.params.mapping == WeightMapping::offset)
        for (int r = 0; r < p.rows; ++r) levels[static_cast<std::size_t>(p.outputs) * p.rows + r] = static_cast<std::uint8_t>(wmax);
    return levels;
}

}  // namespace flashmc::array
