#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/array/analog_layer.hpp"
#include "flashmc/core/rng.hpp"

using namespace flashmc;
using namespace flashmc::array;

namespace {
std::vector<std::int8_t> random_weights(int out, int k, std::uint64_t seed) {
    std::vector<std::int8_t> w(static_cast<std::size_t>(out) * k);
    Stream s = Streams(seed).at({1});
    for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(s.below(15)) - 7);
    return w;
}
std::vector<float> random_codes(int n, int k, std::uint64_t seed) {
    std::vector<float> c(static_cast<std::size_t>(n) * k);
    Stream s = Streams(seed).at({2});
    for (auto& v : c) v = s.uniform() < 0.3 ? 0.0f : static_cast<float>(s.below(16));
    return c;
}
// Ideal cells: every cell reads exactly level · I_unit.
std::vector<TileOperatingPoint> ideal_cells(const LayerMapping& m, const std::vector<std::int8_t>& w, double unit) {
    std::vector<TileOperatingPoint> ops;
    for (std::size_t t = 0; t < m.tiles.size(); ++t) {
        const auto levels = tile_levels(m, w, static_cast<int>(t));
        std::vector<float> cur(levels.size());
        for (std::size_t i = 0; i < levels.size(); ++i) cur[i] = static_cast<float>(levels[i] * unit);
        ops.push_back(operating_point_from_currents(m.tiles[t].rows, m.tiles[t].cols, cur));
    }
    return ops;
}
}  // namespace

TEST_CASE("mapping: tiles, utilization and cells of a layer", "[array][mapping]") {
    const LayerMapping d = map_layer(600, 300, MappingParams{});
    REQUIRE(d.row_tiles == 3);
    REQUIRE(d.outputs_per_tile == 128);
    REQUIRE(d.col_tiles == 3);
    const MappingReport r = d.report();
    REQUIRE(r.tiles == 9);
    REQUIRE(r.cells_used == 2L * 600 * 300);
    REQUIRE(r.cells_available == 9L * 256 * 256);
    REQUIRE(r.utilization() == Approx(360000.0 / 589824.0));
    MappingParams op;
    op.mapping = WeightMapping::offset;
    const LayerMapping o = map_layer(600, 300, op);
    REQUIRE(o.outputs_per_tile == 255);
    REQUIRE(o.col_tiles == 2);
    REQUIRE(o.report().cells_used == 600L * 300 + 600L * 2);  // weights plus one reference column per column tile
    REQUIRE(o.tiles.back().cols == 300 - 255 + 1);
}

TEST_CASE("mapping: tile levels place I+ / I- pairs and offset levels", "[array][mapping]") {
    MappingParams p;
    p.tile_rows = 2, p.tile_cols = 4;
    const std::vector<std::int8_t> w = {3, -2, 0,   // output 0
                                        -7, 5, 1};  // output 1
    const LayerMapping d = map_layer(3, 2, p);
    REQUIRE(d.tiles.size() == 2);
    // tile 0: rows 0–1, columns (0+, 0−, 1+, 1−), column-major
    REQUIRE(tile_levels(d, w, 0) == std::vector<std::uint8_t>{3, 0, 0, 2, 0, 5, 7, 0});
    REQUIRE(tile_levels(d, w, 1) == std::vector<std::uint8_t>{0, 0, 1, 0});
    p.mapping = WeightMapping::offset;
    const LayerMapping o = map_layer(3, 2, p);
    REQUIRE(tile_levels(o, w, 0) == std::vector<std::uint8_t>{10, 5, 0, 12, 7, 7});
    const std::vector<std::int8_t> bad = {3, -8, 0, 1, 1, 1};
    REQUIRE_THROWS_WITH(tile_levels(d, bad, 0), Catch::Contains("weight [0][1] = -8 is out of range [-7, 7]"));
}

TEST_CASE("mapping: ideal cells and ideal ADC reproduce the integer matrix-vector product", "[array][mapping]") {
    const int k = 70, out = 23, n = 9;
    const double unit = 1e-9;
    const auto w = random_weights(out, k, 5);
    const auto codes = random_codes(n, k, 6);
    std::vector<long> exact(static_cast<std::size_t>(n) * out, 0);
    for (int v = 0; v < n; ++v)
        for (int o = 0; o < out; ++o)
            for (int j = 0; j < k; ++j) exact[v * out + o] += long(w[o * k + j]) * long(codes[v * k + j]);
    for (auto mapping : {WeightMapping::differential, WeightMapping::offset})
        for (auto enc : {InputEncoding::pulse_width, InputEncoding::bit_serial})
            for (auto ir : {IrModel::none, IrModel::fast}) {
                AnalogParams p;
                p.mapping.tile_rows = 32, p.mapping.tile_cols = 16, p.mapping.mapping = mapping;
                p.encoding = enc, p.ir = ir;
                p.adc.bits = 0;
                const LayerMapping m = map_layer(k, out, p.mapping);
                REQUIRE(m.tiles.size() == 3u * (mapping == WeightMapping::differential ? 3u : 2u));
                AnalogLayer layer(m, ideal_cells(m, w, unit), unit, p, Streams(1));
                std::vector<float> got(static_cast<std::size_t>(n) * out);
                AdcStats st;
                layer.forward(codes.data(), n, got.data(), &st);
                REQUIRE(st.clipped == 0);
                for (std::size_t i = 0; i < got.size(); ++i) {
                    INFO(to_string(mapping) << " " << to_string(enc) << " output " << i);
                    // float sums of ≤ 32 products in each of 3 tiles: relative error ≤ ~1e-5 of the largest partial
                    REQUIRE(std::abs(got[i] - exact[i]) < 1e-2);
                    REQUIRE(std::lround(got[i]) == exact[i]);
                }
            }
}

TEST_CASE("mapping: a 16-bit ADC quantizes each tile to half an LSB", "[array][mapping][adc]") {
    const int k = 64, out = 8, n = 5;
    const double unit = 1e-9;
    const auto w = random_weights(out, k, 7);
    const auto codes = random_codes(n, k, 8);
    AnalogParams p;
    p.mapping.tile_rows = 32, p.mapping.tile_cols = 16;
    p.adc.bits = 16;
    const LayerMapping m = map_layer(k, out, p.mapping);
    AnalogLayer layer(m, ideal_cells(m, w, unit), unit, p, Streams(1));
    std::vector<float> got(static_cast<std::size_t>(n) * out);
    layer.forward(codes.data(), n, got.data());
    for (int v = 0; v < n; ++v)
        for (int o = 0; o < out; ++o) {
            long e = 0;
            for (int j = 0; j < k; ++j) e += long(w[o * k + j]) * long(codes[v * k + j]);
            // Two row tiles, each off by at most LSB/2 in current = FS/(2·32767), times 15/I_unit.
            double bound = 0;
            for (int t = 0; t < 2; ++t) bound += 0.5 * layer.full_scale_a(t) / 32767.0 / unit * 15.0;
            REQUIRE(std::abs(got[v * out + o] - e) <= bound + 1e-3);
        }
}
