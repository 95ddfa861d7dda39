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

TEST_CASE("analog layer: a bit line outside the fast model's validated drop range stops the run; auto switches to feedback",
          "[array][layer][ir]") {
    // A 256 × 32 tile of nor40 cells at levels 4–7, every word line on, wire resistance swept from a
    // negligible drop to ~25 %: each fast model either runs inside its range (and then agrees with
    // the exact solver to 1 %) or throws; auto matches the feedback model where the drop is > 2 %.
    const auto& card = test::nor40_card();
    const int rows = 256, cols = 32;
    const TileCells cells = test::random_tile(rows, cols, 41, 0.02, 4);
    const auto rd = test::read_25c();
    AnalogParams p;
    p.mapping.tile_rows = rows, p.mapping.tile_cols = cols;
    p.encoding = InputEncoding::bit_serial;  // 0/1 planes: the all-on vector is plane 0 of code 1
    p.input_bits = 1;
    p.adc.bits = 0;
    const LayerMapping m = map_layer(rows, cols / 2, p.mapping);
    REQUIRE(m.tiles.size() == 1);
    const std::vector<double> ones(rows, 1.0);
    const std::vector<float> codes(rows, 1.0f);
    int refused = 0, accepted = 0, auto_feedback = 0;
    for (double r : {1.0, 10.0, 30.0, 60.0, 120.0, 250.0}) {
        p.wires = {r, r};
        const TileOperatingPoint op = operating_point(card.iv, cells, rd, p.wires);
        const auto exact = solve_tile_exact(card.iv, cells, ones, rd, p.wires);
        const auto ideal = solve_tile_exact(card.iv, cells, ones, rd, WireParams{});
        double drop = 0;
        for (int c = 0; c < cols; ++c) drop = std::max(drop, (ideal[c] - exact[c]) / ideal[c]);
        std::vector<float> fb(cols);
        float fb_drop = 0;
        fast_ir_mvm(op, codes.data(), nullptr, 1, fb.data(), {FastIrModel::feedback}, &fb_drop);
        for (auto model : {FastIrModel::linear, FastIrModel::feedback, FastIrModel::automatic}) {
            p.fast.model = model;
            INFO("r " << r << " ohm, model " << to_string(model) << ": exact drop " << drop);
            AnalogLayer layer(m, {op}, card.levels.unit_current_a, p, Streams(1));
            std::vector<float> delta;
            float model_drop = 0;
            std::vector<float> bl(cols);
            fast_ir_mvm(op, codes.data(), nullptr, 1, bl.data(), {model == FastIrModel::automatic ? FastIrModel::linear : model},
                        &model_drop);
            const float first_order = model == FastIrModel::linear ? model_drop : [&] {
                float d = 0;
                std::vector<float> lin(cols);
                fast_ir_mvm(op, codes.data(), nullptr, 1, lin.data(), {FastIrModel::linear}, &d);
                return d;
            }();
            if (model == FastIrModel::automatic && model_drop > kAutoLinearMaxDrop) model_drop = fb_drop;
            if (model_drop > fast_model_max_drop(model) || first_order > kMaxFirstOrderDrop) {
                REQUIRE_THROWS_WITH(layer.tile_difference_currents(0, codes.data(), 1, 0, delta),
                                    Catch::Contains("IR drop") && Catch::Contains("smaller tiles"));
                ++refused;
                continue;
            }
            layer.tile_difference_currents(0, codes.data(), 1, 0, delta);
            ++accepted;
            for (int a = 0; a < cols / 2; ++a) {
                const double ref = exact[2 * a] - exact[2 * a + 1];
                const double scale = std::max(exact[2 * a], exact[2 * a + 1]);
                // Inside the range every bit line is within 1 % of the exact current.
                CHECK(std::abs(delta[a] - ref) <= 0.01 * scale);
                if (model == FastIrModel::automatic && model_drop > kAutoLinearMaxDrop) {
                    CHECK(delta[a] == fb[2 * a] - fb[2 * a + 1]);
                    if (a == 0) ++auto_feedback;
                }
            }
        }
    }
    // The sweep covers every branch.
    CHECK(refused > 0);
    CHECK(accepted > 0);
    CHECK(auto_feedback > 0);
}
