#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/array/analog_layer.hpp"
#include "flashmc/array/ir_exact.hpp"
#include "tile_fixture.hpp"

using namespace flashmc;
using namespace flashmc::array;

TEST_CASE("analog layer: real cells with IR drop track the exact solver per tile and encoding", "[array][layer]") {
    // The engine's path: map → tile levels → V_th at the level targets → operating point → AnalogLayer.
    const auto& card = test::nor40_card();
    const auto targets = device::level_targets(card.iv, card.levels, 25.0);
    const int k = 128, out = 6, n = 3;
    AnalogParams p;
    p.mapping.tile_rows = 128, p.mapping.tile_cols = 12;
    p.wires = {10.0, 10.0};
    p.adc.bits = 0;
    std::vector<std::int8_t> w(static_cast<std::size_t>(out) * k);
    Stream s = Streams(3).at({1});
    for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(s.below(15)) - 7);
    std::vector<float> codes(static_cast<std::size_t>(n) * k);
    for (auto& c : codes) c = static_cast<float>(s.below(16));
    const LayerMapping m = map_layer(k, out, p.mapping);
    REQUIRE(m.tiles.size() == 1);
    const auto levels = tile_levels(m, w, 0);
    TileCells cells;
    cells.rows = m.tiles[0].rows, cells.cols = m.tiles[0].cols;
    for (auto l : levels) cells.vth_v.push_back(static_cast<float>(targets.vth_v(l, card.iv.slope_n))), cells.slope_n.push_back(1.5f);
    const auto rd = test::read_25c();
    for (auto enc : {InputEncoding::pulse_width, InputEncoding::bit_serial}) {
        p.encoding = enc;
        AnalogLayer layer(m, {operating_point(card.iv, cells, rd, p.wires)}, card.levels.unit_current_a, p, Streams(1));
        const int planes = enc == InputEncoding::pulse_width ? 1 : 4;
        for (int b = 0; b < planes; ++b) {
            std::vector<float> delta;
            layer.tile_difference_currents(0, codes.data(), n, b, delta);
            for (int v = 0; v < n; ++v) {
                std::vector<double> x(k);
                for (int j = 0; j < k; ++j) {
                    const int c = static_cast<int>(codes[v * k + j]);
                    x[j] = enc == InputEncoding::pulse_width ? c / 15.0 : double((c >> b) & 1);
                }
                const auto exact = solve_tile_exact(card.iv, cells, x, rd, p.wires);
                const auto ideal = solve_tile_exact(card.iv, cells, x, rd, WireParams{});
                for (int a = 0; a < out; ++a) {
                    const double de = exact[2 * a] - exact[2 * a + 1], di = ideal[2 * a] - ideal[2 * a + 1];
                    // Each bit line's model error is a fraction of its own IR-drop loss (pulse-width ≤ 8 %
                    // through the mean-field overlap, 0/1 ≤ 1 % here): bound 15 % of the two losses together.
                    const double loss = (ideal[2 * a] - exact[2 * a]) + (ideal[2 * a + 1] - exact[2 * a + 1]);
                    INFO(to_string(enc) << " plane " << b << " vector " << v << " output " << a << ": ideal " << di
                                        << " exact " << de << " layer " << delta[v * out + a]);
                    REQUIRE(loss > 0);
                    REQUIRE(std::abs(delta[v * out + a] - de) <= 0.15 * loss + 1e-6 * std::abs(di) + 1e-15);
                }
            }
        }
    }
}

TEST_CASE("analog layer: rejects mismatched tiles and bad codes", "[array][layer]") {
    AnalogParams p;
    p.mapping.tile_rows = 4, p.mapping.tile_cols = 4;
    const LayerMapping m = map_layer(4, 2, p.mapping);
    std::vector<float> cur(4 * 3, 1e-9f);
    REQUIRE_THROWS_WITH(AnalogLayer(m, {operating_point_from_currents(4, 3, cur)}, 1e-9, p, Streams(1)),
                        Catch::Contains("the mapping places 4 x 4"));
    std::vector<float> cur4(16, 1e-9f);
    AnalogLayer layer(m, {operating_point_from_currents(4, 4, cur4)}, 1e-9, p, Streams(1));
    std::vector<float> codes = {1, 2, 16, 0}, out(2);
    REQUIRE_THROWS_WITH(layer.forward(codes.data(), 1, out.data()), Catch::Contains("input code 16"));
}
