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
    // The exact solver's cells: as many tiles as mapped, each as placed (checked when first built).
    AnalogParams ex = p;
    ex.ir = IrModel::exact;
    AnalogLayer exact(m, {operating_point_from_currents(4, 4, cur4)}, 1e-9, ex, Streams(1));
    codes = {1, 2, 3, 0};
    REQUIRE_THROWS_WITH(exact.forward(codes.data(), 1, out.data()), Catch::Contains("needs the tiles' cells"));
    REQUIRE_THROWS_WITH(exact.set_cells({}, {}, std::vector<TileCells>{}), Catch::Contains("cells for 0 tiles, the mapping has 1"));
    const TileCells wrong{3, 4, std::vector<float>(12, 0.5f), std::vector<float>(12, 1.5f), {}};
    REQUIRE_THROWS_WITH(exact.set_cells({}, {}, std::vector<TileCells>{wrong}), Catch::Contains("cells are 3 x 4, expected 4 x 4"));
    exact.set_cells({}, {}, [](int) { return TileCells{3, 4, std::vector<float>(12, 0.5f), std::vector<float>(12, 1.5f), {}}; });
    REQUIRE_THROWS_WITH(exact.forward(codes.data(), 1, out.data()), Catch::Contains("cells are 3 x 4, expected 4 x 4"));
}

TEST_CASE("analog layer: a bit line outside the fast model's validated drop range stops the run; auto switches to feedback, "
          "then to the exact solver",
          "[array][layer][ir]") {
    // A 256 × 32 tile of nor40 cells at levels 4–7, every word line on, wire resistance swept from a
    // negligible drop to ~25 %: each fast model either runs inside its range (and then agrees with
    // the exact solver to 1 %) or throws; auto matches the feedback model where the drop is > 2 %,
    // and beyond the range solves exactly (given the cells; without them it stops too).
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
    int refused = 0, accepted = 0, auto_feedback = 0, auto_exact = 0;
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
                if (model == FastIrModel::automatic) {
                    int built = 0;  // the cells are built once, when the exact solver first needs them
                    layer.set_cells(card.iv, rd, [&](int) { return ++built, cells; });
                    CHECK(layer.cells_built() == 0);
                    layer.tile_difference_currents(0, codes.data(), 1, 0, delta);
                    layer.tile_difference_currents(0, codes.data(), 1, 0, delta);
                    CHECK(built == 1);
                    CHECK(layer.cells_built() == 1);
                    for (int a = 0; a < cols / 2; ++a)
                        CHECK(delta[a] == Approx(exact[2 * a] - exact[2 * a + 1]).epsilon(1e-6).margin(1e-6 * exact[2 * a]));
                    ++auto_exact;
                }
                continue;
            }
            int built = 0;  // inside the fast models' range auto never builds the cells
            if (model == FastIrModel::automatic) layer.set_cells(card.iv, rd, [&](int) { return ++built, cells; });
            layer.tile_difference_currents(0, codes.data(), 1, 0, delta);
            CHECK(built == 0);
            CHECK(layer.cells_built() == 0);
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
    CHECK(auto_exact > 0);
}

TEST_CASE("analog layer: auto on bit-line-dominated wiring is the exact solver; the other fast models refuse it", "[array][layer][ir]") {
    const auto& card = test::nor40_card();
    const int rows = 64, cols = 8;
    const TileCells cells = test::random_tile(rows, cols, 43, 0.02, 4);
    const auto rd = test::read_25c();
    AnalogParams p;
    p.mapping.tile_rows = rows, p.mapping.tile_cols = cols;
    p.encoding = InputEncoding::bit_serial;
    p.ir = IrModel::fast;
    p.wires = {200.0, 10.0};  // r_BL = 20 r_SL
    const LayerMapping m = map_layer(rows, cols / 2, p.mapping);
    const TileOperatingPoint op = operating_point(card.iv, cells, rd, p.wires);
    p.fast.model = FastIrModel::feedback;
    REQUIRE_THROWS_WITH(p.validate(), Catch::Contains("r_bl_ohm <= 3 x r_sl_ohm"));
    p.fast.model = FastIrModel::automatic;
    p.validate();
    AnalogLayer layer(m, {op}, card.levels.unit_current_a, p, Streams(1));
    const std::vector<float> codes(rows, 1.0f);
    std::vector<float> delta;
    REQUIRE_THROWS_WITH(layer.tile_difference_currents(0, codes.data(), 1, 0, delta), Catch::Contains("needs the tiles' cells"));
    layer.set_cells(card.iv, rd, {cells});
    layer.tile_difference_currents(0, codes.data(), 1, 0, delta);
    const std::vector<double> ones(rows, 1.0);
    const auto exact = solve_tile_exact(card.iv, cells, ones, rd, p.wires);
    for (int a = 0; a < cols / 2; ++a) CHECK(delta[a] == static_cast<float>(exact[2 * a] - exact[2 * a + 1]));
}

TEST_CASE("analog layer: conversion noise has variance F·q·Σ/T per bit line, the reference column's shared", "[array][layer][noise]") {
    // One tile, 6 rows, 3 outputs, currents of a few nA; the same input vector at n positions, so
    // that each output's samples are n independent conversions of one signal.
    const int rows = 6, n = 6000;
    const double T = 2e-8, F = 1.04, q = 1.602176634e-19;
    std::vector<float> codes(static_cast<std::size_t>(n) * rows);
    const float x[rows] = {15, 3, 0, 7, 12, 1};
    for (int v = 0; v < n; ++v) std::copy_n(x, rows, codes.begin() + static_cast<std::ptrdiff_t>(v) * rows);
    for (const WeightMapping mapping : {WeightMapping::differential, WeightMapping::offset}) {
        CAPTURE(to_string(mapping));
        AnalogParams p;
        p.mapping.tile_rows = rows, p.mapping.tile_cols = 8, p.mapping.mapping = mapping;
        p.ir = IrModel::none;
        p.adc.bits = 0;
        const LayerMapping m = map_layer(rows, 3, p.mapping);
        const int cols = m.tiles[0].cols;
        std::vector<float> cur(static_cast<std::size_t>(rows) * cols);  // col-major
        for (int c = 0; c < cols; ++c)
            for (int r = 0; r < rows; ++r) cur[static_cast<std::size_t>(c) * rows + r] = static_cast<float>((1 + (3 * r + 5 * c) % 7) * 1e-9);
        const AnalogLayer quiet(m, {operating_point_from_currents(rows, cols, cur)}, 1e-9, p, Streams(1), F);
        p.read_window_s = T;
        const AnalogLayer noisy(m, {operating_point_from_currents(rows, cols, cur)}, 1e-9, p, Streams(1), F);
        REQUIRE(noisy.conversion_noise());
        std::vector<float> clean(3), out(static_cast<std::size_t>(n) * 3);
        quiet.forward(codes.data(), 1, clean.data());
        REQUIRE_THROWS_WITH(noisy.forward(codes.data(), 1, out.data()), Catch::Contains("read_window_s"));
        const ConversionKey key{42, 0, n};
        noisy.forward(codes.data(), n, out.data(), nullptr, &key);
        // Σ_i x_i·I_ic per bit line (x = code/15), and the expected noise in accumulator units:
        // σ_ΔI·15/I_unit, with σ²_ΔI = F·q·(Σ⁺ + Σ⁻)/T.
        auto column = [&](int c) {
            double s = 0;
            for (int r = 0; r < rows; ++r) s += x[r] / 15.0 * cur[static_cast<std::size_t>(c) * rows + r];
            return s;
        };
        const double to_out = 15.0 / 1e-9;
        std::vector<double> var(3), mean(3, 0.0), m2(3, 0.0);
        for (int a = 0; a < 3; ++a) {
            const double s = mapping == WeightMapping::differential ? column(2 * a) + column(2 * a + 1) : column(a) + column(cols - 1);
            var[a] = F * q * s / T * to_out * to_out;
            for (int v = 0; v < n; ++v) mean[a] += out[static_cast<std::size_t>(v) * 3 + a] - clean[a];
            mean[a] /= n;
            for (int v = 0; v < n; ++v) m2[a] += std::pow(out[static_cast<std::size_t>(v) * 3 + a] - clean[a] - mean[a], 2);
            m2[a] /= n - 1;
            // 5σ bounds: the mean's σ is σ/√n, the sample variance's relative σ √(2/n).
            REQUIRE(std::abs(mean[a]) < 5 * std::sqrt(var[a] / n));
            REQUIRE(std::abs(m2[a] / var[a] - 1) < 5 * std::sqrt(2.0 / n));
        }
        // Covariance of two ADCs: 0 for differential pairs, the reference column's F·q·Σ_ref/T for
        // the offset mapping (correlation ρ; its sample σ ≤ 1/√n).
        double c01 = 0;
        for (int v = 0; v < n; ++v)
            c01 += (out[static_cast<std::size_t>(v) * 3] - clean[0] - mean[0]) * (out[static_cast<std::size_t>(v) * 3 + 1] - clean[1] - mean[1]);
        const double rho = c01 / (n - 1) / std::sqrt(m2[0] * m2[1]);
        const double expected = mapping == WeightMapping::differential
                                    ? 0.0
                                    : F * q * column(cols - 1) / T * to_out * to_out / std::sqrt(var[0] * var[1]);
        REQUIRE(std::abs(rho - expected) < 5 / std::sqrt(double(n)));
        if (mapping == WeightMapping::offset) REQUIRE(expected > 0.2);
    }
}

TEST_CASE("analog layer: conversion noise is keyed by image and position, not by how the vectors are split", "[array][layer][noise]") {
    const int rows = 8, n = 40, per_image = 10;
    AnalogParams p;
    p.mapping.tile_rows = rows, p.mapping.tile_cols = 4;
    p.adc.bits = 0;  // ideal, so that the two paths' rounding cannot move a code
    p.read_window_s = 1e-8;
    const LayerMapping m = map_layer(rows, 2, p.mapping);
    std::vector<float> cur(static_cast<std::size_t>(rows) * 4);
    for (std::size_t i = 0; i < cur.size(); ++i) cur[i] = static_cast<float>((1 + i % 7) * 1e-9);
    std::vector<float> codes(static_cast<std::size_t>(n) * rows);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<float>((i * 7) % 16);
    std::vector<float> first;
    for (const IrModel ir : {IrModel::none, IrModel::fast}) {
        CAPTURE(static_cast<int>(ir));
        p.ir = ir;  // fast with ideal wires: the per-vector path, drawing the same noise as the GEMM path
        const AnalogLayer layer(m, {operating_point_from_currents(rows, 4, cur)}, 1e-9, p, Streams(3));
        std::vector<float> all(static_cast<std::size_t>(n) * 2), split(all.size()), other(all.size());
        const ConversionKey key{7, 30, per_image};  // vectors 30 … 69: images 3 … 6
        layer.forward(codes.data(), n, all.data(), nullptr, &key);
        // In two calls of 13 and 27 vectors (splitting an image), named from where they start.
        const ConversionKey k1{7, 30, per_image}, k2{7, 43, per_image};
        layer.forward(codes.data(), 13, split.data(), nullptr, &k1);
        layer.forward(codes.data() + 13 * rows, n - 13, split.data() + 13 * 2, nullptr, &k2);
        // (equal up to the GEMMs' rounding, which may differ between batch sizes; the noise is ~1 %)
        for (std::size_t i = 0; i < all.size(); ++i) REQUIRE(split[i] == Approx(all[i]).epsilon(1e-5).margin(1e-3));
        const ConversionKey k3{7, 40, per_image};  // shifted by one image: other draws
        layer.forward(codes.data(), n, other.data(), nullptr, &k3);
        double moved = 0;
        for (std::size_t i = 0; i < all.size(); ++i) moved = std::max(moved, static_cast<double>(std::abs(other[i] - all[i])));
        REQUIRE(moved > 0.1);
        if (ir == IrModel::none) {
            first = all;
        } else {
            for (std::size_t i = 0; i < all.size(); ++i) REQUIRE(all[i] == Approx(first[i]).epsilon(1e-5).margin(1e-3));
        }
    }
}

TEST_CASE("analog layer: conversion noise of other tiles, cycles, images and ADCs is independent", "[array][layer][noise]") {
    // Two row tiles of 3 ADCs; every conversion's bit lines carry Σ = 10 nA over T = 10 ns.
    AnalogParams p;
    p.mapping.tile_rows = 16, p.mapping.tile_cols = 6;
    p.read_window_s = 1e-8;
    const LayerMapping m = map_layer(32, 3, p.mapping);
    REQUIRE(m.tiles.size() == 2);
    std::vector<TileOperatingPoint> ops;
    for (const auto& t : m.tiles) ops.push_back(operating_point_from_currents(t.rows, t.cols, std::vector<float>(t.rows * t.cols, 1e-9f)));
    const AnalogLayer layer(m, ops, 1e-9, p, Streams(5), 1.0);
    const int n = 4000;
    const std::vector<float> sums(static_cast<std::size_t>(3) * n, 1e-8f);  // [column][position]
    auto draw = [&](int t, int plane, std::uint64_t image) {
        std::vector<float> d(static_cast<std::size_t>(3) * n, 0.0f);  // [adc][position]
        layer.add_conversion_noise(t, plane, image, 0, n, sums.data(), 1, n, d.data(), 1, n);
        return d;
    };
    const double sigma = std::sqrt(1.602176634e-19 * 1e-8 / 1e-8);
    auto corr = [&](const float* a, const float* b) {
        double ab = 0, aa = 0, bb = 0;
        for (int v = 0; v < n; ++v) ab += a[v] * b[v], aa += a[v] * a[v], bb += double(b[v]) * b[v];
        return ab / std::sqrt(aa * bb);
    };
    const auto base = draw(0, 0, 11), plane = draw(0, 1, 11), tile = draw(1, 0, 11), image = draw(0, 0, 12);
    for (int a = 0; a < 3; ++a) {
        double s2 = 0;
        for (int v = 0; v < n; ++v) s2 += std::pow(base[a * n + v], 2);
        REQUIRE(std::abs(std::sqrt(s2 / n) / sigma - 1) < 5 / std::sqrt(2.0 * n));
        // |ρ| of independent normals has σ 1/√n
        for (const auto* other : {&plane, &tile, &image}) REQUIRE(std::abs(corr(base.data() + a * n, other->data() + a * n)) < 5 / std::sqrt(double(n)));
    }
    REQUIRE(std::abs(corr(base.data(), base.data() + n)) < 5 / std::sqrt(double(n)));      // ADCs 0 and 1: one pair's two normals
    REQUIRE(std::abs(corr(base.data() + n, base.data() + 2 * n)) < 5 / std::sqrt(double(n)));  // ADCs 1 and 2: two pairs
    REQUIRE(draw(0, 0, 11) == base);  // the same key, the same draws
}

TEST_CASE("analog layer: the exact solver's path draws the same conversion noise as the fast path", "[array][layer][noise]") {
    // Real cells (2 outputs, 16 rows); the same conversions keyed alike on the exact and the fast
    // path. Without wire resistance both read the same currents, so the outputs agree to rounding;
    // at 10 ohm per pitch the noise terms (noisy − quiet) agree to the sums' few-% difference.
    const auto& card = test::nor40_card();
    const auto rd = test::read_25c();
    const int rows = 16, n = 24, per_image = 6;
    const TileCells cells = test::random_tile(rows, 4, 11);
    std::vector<float> codes(static_cast<std::size_t>(n) * rows);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<float>((i * 5 + 3) % 16);
    for (const WireParams wires : {WireParams{}, WireParams{10.0, 10.0}}) {
        CAPTURE(wires.r_bl_ohm);
        AnalogParams p;
        p.mapping.tile_rows = rows, p.mapping.tile_cols = 4;
        p.adc.bits = 0;
        p.wires = wires;
        const LayerMapping m = map_layer(rows, 2, p.mapping);
        auto layer = [&](IrModel ir, double window_s) {
            AnalogParams q = p;
            q.ir = ir, q.read_window_s = window_s;
            AnalogLayer l(m, {operating_point(card.iv, cells, rd, wires)}, card.levels.unit_current_a, q, Streams(5), 1.04);
            if (ir == IrModel::exact) l.set_cells(card.iv, rd, {cells});
            return l;
        };
        const IrModel fast = wires.r_bl_ohm == 0.0 ? IrModel::none : IrModel::fast;
        const ConversionKey key{9, 12, per_image};
        std::vector<float> out[2][2];  // [exact?][noisy?]
        for (int e = 0; e < 2; ++e)
            for (int noisy = 0; noisy < 2; ++noisy) {
                const AnalogLayer l = layer(e ? IrModel::exact : fast, noisy ? 2e-9 : 0.0);
                out[e][noisy].resize(static_cast<std::size_t>(n) * 2);
                l.forward(codes.data(), n, out[e][noisy].data(), nullptr, noisy ? &key : nullptr);
            }
        double rms = 0;
        for (std::size_t i = 0; i < out[0][0].size(); ++i) {
            const double noise_exact = out[1][1][i] - out[1][0][i], noise_fast = out[0][1][i] - out[0][0][i];
            rms += noise_fast * noise_fast / static_cast<double>(out[0][0].size());
            INFO("output " << i << ": exact noise " << noise_exact << ", fast noise " << noise_fast);
            REQUIRE(noise_exact == Approx(noise_fast).epsilon(0.03).margin(1e-3));
            if (wires.r_bl_ohm == 0.0) REQUIRE(out[1][1][i] == Approx(out[0][1][i]).epsilon(1e-5).margin(1e-3));
        }
        REQUIRE(std::sqrt(rms) > 0.05);  // the noise is there: about an LSB of the accumulator or more
    }
}

TEST_CASE("analog layer: the linear model on vectors as lanes gives forward()'s ADC inputs and sums, bit for bit",
          "[array][layer][ir]") {
    const auto& card = test::nor40_card();
    const auto targets = device::level_targets(card.iv, card.levels, 25.0);
    const int k = 150, out = 9, n = 13;  // two row tiles (128 + 22), a partial group of lanes
    Stream s = Streams(4).at({1});
    std::vector<std::int8_t> w(static_cast<std::size_t>(out) * k);  // 3-bit weights: offset levels 0 … 6
    for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(s.below(7)) - 3);
    std::vector<float> codes(static_cast<std::size_t>(n) * k);
    for (auto& c : codes) c = s.below(10) < 3 ? 0.0f : static_cast<float>(s.below(16));
    for (auto mapping : {WeightMapping::differential, WeightMapping::offset})
        for (auto enc : {InputEncoding::pulse_width, InputEncoding::bit_serial}) {
            AnalogParams p;
            p.mapping.mapping = mapping, p.mapping.weight_bits = 3;
            p.mapping.tile_rows = 128, p.mapping.tile_cols = 24;
            p.wires = {20.0, 20.0};
            p.encoding = enc;
            p.read_window_s = 1e-7;  // the column sums too
            const LayerMapping m = map_layer(k, out, p.mapping);
            std::vector<TileOperatingPoint> ops;
            for (std::size_t t = 0; t < m.tiles.size(); ++t) {
                const auto levels = tile_levels(m, w, static_cast<int>(t));
                TileCells cells;
                cells.rows = m.tiles[t].rows, cells.cols = m.tiles[t].cols;
                for (auto l : levels)
                    cells.vth_v.push_back(static_cast<float>(targets.vth_v(l, card.iv.slope_n))), cells.slope_n.push_back(1.5f);
                ops.push_back(operating_point(card.iv, cells, test::read_25c(), p.wires));
            }
            REQUIRE(m.tiles.size() >= 2);
            for (auto model : {FastIrModel::linear, FastIrModel::automatic}) {
                p.fast.model = model;
                AnalogLayer layer(m, ops, card.levels.unit_current_a, p, Streams(1));
                REQUIRE(layer.lanes_linear());
                for (std::size_t t = 0; t < m.tiles.size(); ++t) {
                    const TilePlacement& tp = m.tiles[t];
                    const int ti = static_cast<int>(t), sc = layer.sum_columns(ti);
                    for (int b = 0; b < (enc == InputEncoding::pulse_width ? 1 : 4); ++b) {
                        INFO(to_string(mapping) << " " << to_string(enc) << " " << to_string(model) << " tile " << t << " plane " << b);
                        std::vector<float> lanes(static_cast<std::size_t>(tp.rows) * kLanes, 0.0f);
                        for (int v = 0; v < n; ++v)
                            for (int i = 0; i < tp.rows; ++i) {
                                const int c = static_cast<int>(codes[static_cast<std::size_t>(v) * k + tp.row_begin + i]);
                                lanes[static_cast<std::size_t>(i) * kLanes + v] =
                                    static_cast<float>(enc == InputEncoding::pulse_width ? c : (c >> b) & 1);
                            }
                        std::vector<float> delta(static_cast<std::size_t>(tp.outputs) * n), sums(static_cast<std::size_t>(sc) * n);
                        std::vector<std::ptrdiff_t> off(static_cast<std::size_t>(tp.rows));
                        for (int i = 0; i < tp.rows; ++i) off[static_cast<std::size_t>(i)] = static_cast<std::ptrdiff_t>(i) * kLanes;
                        const float drop = layer.linear_lanes(ti, lanes.data(), off.data(), n, delta.data(), sums.data(), n);
                        REQUIRE(drop > 0.0f);
                        REQUIRE(layer.linear_lanes_stand(drop));
                        std::vector<float> ref;
                        layer.tile_difference_currents(ti, codes.data(), n, b, ref);
                        for (int v = 0; v < n; ++v)
                            for (int a = 0; a < tp.outputs; ++a)
                                REQUIRE(delta[static_cast<std::size_t>(a) * n + v] == ref[static_cast<std::size_t>(v) * tp.outputs + a]);
                        // The sums against the bit-line currents forward()'s linear pass forms.
                        std::vector<float> x(static_cast<std::size_t>(n) * tp.rows), rho(x.size()), bl(static_cast<std::size_t>(n) * tp.cols);
                        for (int v = 0; v < n; ++v) {
                            const float* c = codes.data() + static_cast<std::size_t>(v) * k + tp.row_begin;
                            for (int i = 0; i < tp.rows; ++i)
                                x[static_cast<std::size_t>(v) * tp.rows + i] = enc == InputEncoding::pulse_width
                                                                                   ? c[i] * (1.0f / 15.0f)
                                                                                   : static_cast<float>((static_cast<int>(c[i]) >> b) & 1);
                            if (enc == InputEncoding::pulse_width)
                                pulse_drop_factors_codes(c, tp.rows, 15, rho.data() + static_cast<std::size_t>(v) * tp.rows);
                        }
                        fast_ir_mvm(ops[t], x.data(), enc == InputEncoding::pulse_width ? rho.data() : nullptr, n, bl.data());
                        for (int v = 0; v < n; ++v)
                            for (int c = 0; c < sc; ++c) {
                                const float* r = bl.data() + static_cast<std::size_t>(v) * tp.cols;
                                const float want = mapping == WeightMapping::differential ? r[2 * c] + r[2 * c + 1]
                                                                                         : r[c < tp.outputs ? c : tp.cols - 1];
                                REQUIRE(sums[static_cast<std::size_t>(c) * n + v] == want);
                            }
                    }
                }
                // Where the drop is too large for the model, the result does not stand.
                REQUIRE_FALSE(layer.linear_lanes_stand(model == FastIrModel::linear ? 0.051f : 0.021f));
            }
        }
    // Models that do not run as lanes: curvature, feedback, exact, auto on bit-line-dominated wiring.
    AnalogParams q;
    q.mapping.tile_rows = 4, q.mapping.tile_cols = 4;
    const LayerMapping m4 = map_layer(4, 2, q.mapping);
    std::vector<float> cur4(16, 1e-9f);
    for (auto model : {FastIrModel::curvature, FastIrModel::feedback}) {
        q.fast.model = model;
        REQUIRE_FALSE(AnalogLayer(m4, {operating_point_from_currents(4, 4, cur4)}, 1e-9, q, Streams(1)).lanes_linear());
    }
    q.fast.model = FastIrModel::automatic, q.wires = {10.0, 1.0};
    REQUIRE_FALSE(AnalogLayer(m4, {operating_point_from_currents(4, 4, cur4)}, 1e-9, q, Streams(1)).lanes_linear());
    q.ir = IrModel::exact;
    REQUIRE_FALSE(AnalogLayer(m4, {operating_point_from_currents(4, 4, cur4)}, 1e-9, q, Streams(1)).lanes_linear());
    q.ir = IrModel::none;
    REQUIRE_FALSE(AnalogLayer(m4, {operating_point_from_currents(4, 4, cur4)}, 1e-9, q, Streams(1)).lanes_linear());
}
