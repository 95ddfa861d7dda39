#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/array/ir_exact.hpp"
#include "flashmc/array/ir_fast.hpp"
#include "flashmc/core/parallel.hpp"
#include "tile_fixture.hpp"

using namespace flashmc;
using namespace flashmc::array;

namespace {
std::vector<float> as_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }
// ρ per vector of `rows` fractions.
std::vector<float> rho_of(const std::vector<float>& v, int rows) {
    std::vector<float> s(v.size());
    for (std::size_t k = 0; k < v.size(); k += rows) pulse_drop_factors(v.data() + k, rows, s.data() + k);
    return s;
}
}  // namespace

TEST_CASE("ideal MVM is the column sum of input times cell current", "[array][fast]") {
    const TileCells t = test::random_tile(48, 10, 21);
    const auto rd = test::read_25c();
    const TileOperatingPoint op = operating_point(test::nor40_card().iv, t, rd, WireParams{});
    std::vector<float> x;
    for (int v = 0; v < 3; ++v)
        for (double d : test::random_inputs(48, 0.5, false, 100 + v)) x.push_back(static_cast<float>(d));
    std::vector<float> out(3 * 10), fast(3 * 10);
    ideal_mvm(op, x.data(), 3, out.data());
    fast_ir_mvm(op, x.data(), nullptr, 3, fast.data());  // no wires: h = q = 0
    for (int v = 0; v < 3; ++v)
        for (int c = 0; c < 10; ++c) {
            double s = 0;
            for (int r = 0; r < 48; ++r)
                s += x[v * 48 + r] * device::drain_current_a(test::nor40_card().iv, rd.vgs_v, rd.vds_v, t.vth_v[t.index(r, c)],
                                                            t.slope_n[t.index(r, c)], 25.0);
            // float accumulation of 48 terms: relative error below 48 · 2^-24
            REQUIRE(out[v * 10 + c] == Approx(s).epsilon(48 * 6e-8));
            REQUIRE(fast[v * 10 + c] == Approx(s).epsilon(48 * 6e-8));
        }
}

TEST_CASE("fast model coefficients are the derivatives of the EKV current along the drop", "[array][fast]") {
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    const WireParams w{3.0, 7.0};
    for (float vth : {0.6f, 1.0f, 1.4f}) {  // strong, moderate and weak inversion
        TileCells t;
        t.rows = t.cols = 1;
        t.vth_v = {vth}, t.slope_n = {1.4f};
        const TileOperatingPoint op = operating_point(iv, t, rd, w);
        auto current = [&](double p) {
            return device::drain_current_a(iv, rd.vgs_v - w.r_sl_ohm * p, rd.vds_v - (w.r_bl_ohm + w.r_sl_ohm) * p, vth,
                                           1.4, 25.0);
        };
        const double i0 = current(0), dp = 1e-3 * 0.025 / 10.0;  // δV ≈ 25 µV
        const double d1 = (current(dp) - current(-dp)) / (2 * dp);
        const double d2 = (current(dp) - 2 * i0 + current(-dp)) / (dp * dp);
        REQUIRE(op.current_a[0] == Approx(i0).epsilon(1e-6));
        REQUIRE(op.drop_slope[0] == Approx(-d1).epsilon(1e-5));
        REQUIRE(op.drop_curvature_per_a[0] == Approx(0.5 * d2).epsilon(1e-3));
    }
}

TEST_CASE("fast model error is second order in the relative drop on 256-row nor40 tiles", "[array][fast]") {
    // Regime: 256 x 32 tile, levels 0–7, r_BL = r_SL = 10 ohm, binary inputs at density 0.5 and 1,
    // relative drop a ≈ 0.8–2.5 %. The linear model neglects the drop's feedback and the cell's curvature, both
    // O(a²): bound 2·a²·I (measured 1.7·a²·I), and the drop itself must be ≥ 0.5 % so that the
    // check means something.
    const TileCells t = test::random_tile(256, 32, 31);
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    const WireParams w{10.0, 10.0};
    const TileOperatingPoint op = operating_point(iv, t, rd, w);
    for (double density : {0.5, 1.0}) {
        const auto x = test::random_inputs(256, density, true, 7);
        const auto exact = solve_tile_exact(iv, t, x, rd, w);
        const auto ideal = solve_tile_exact(iv, t, x, rd, WireParams{});
        const auto xf = as_float(x);
        std::vector<float> fast(32);
        fast_ir_mvm(op, xf.data(), nullptr, 1, fast.data());
        for (int c = 0; c < 32; ++c) {
            const double drop = ideal[c] - exact[c];
            INFO("density " << density << " column " << c << " ideal " << ideal[c] << " exact " << exact[c] << " fast " << fast[c]);
            REQUIRE(drop > 0.005 * ideal[c]);
            // Second order: |fast − exact| ≈ c·a²·I with a = drop / ideal; measured c ≈ 1.7 (linear model).
            REQUIRE(std::abs(fast[c] - exact[c]) <= 2.0 * drop * drop / ideal[c]);
        }
    }
}

TEST_CASE("fast models with pulse-width inputs and the mean-field overlap track the exact time integral", "[array][fast]") {
    // Heavier drop (r = 50 ohm per pitch, levels 5–7, a ≈ 3 %): every model must remove most of the
    // drop, and the feedback model must beat the curvature model.
    const TileCells t = test::random_tile(128, 16, 41, 0.02, 5);
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    const WireParams w{50.0, 50.0};
    const TileOperatingPoint op = operating_point(iv, t, rd, w);
    const auto x = test::random_inputs(128, 0.8, false, 9);
    const auto exact = solve_tile_exact(iv, t, x, rd, w);
    const auto ideal = solve_tile_exact(iv, t, x, rd, WireParams{});
    const auto xf = as_float(x), yf = rho_of(xf, 128);
    std::vector<float> f0(16), f1(16), f2(16);
    fast_ir_mvm(op, xf.data(), yf.data(), 1, f0.data(), {FastIrModel::linear});
    fast_ir_mvm(op, xf.data(), yf.data(), 1, f1.data(), {FastIrModel::curvature});
    fast_ir_mvm(op, xf.data(), yf.data(), 1, f2.data(), {FastIrModel::feedback});
    double e0 = 0, el = 0, e1 = 0, e2 = 0;
    for (int c = 0; c < 16; ++c) {
        e0 = std::max(e0, std::abs(ideal[c] - exact[c]) / exact[c]);
        el = std::max(el, std::abs(f0[c] - exact[c]) / exact[c]);
        e1 = std::max(e1, std::abs(f1[c] - exact[c]) / exact[c]);
        e2 = std::max(e2, std::abs(f2[c] - exact[c]) / exact[c]);
    }
    INFO("max relative error: no model " << e0 << ", linear " << el << ", curvature " << e1 << ", feedback " << e2);
    // Measured: no model 3.4 %, linear 0.24 %, curvature 0.18 %, feedback 0.05 %.
    REQUIRE(e0 > 0.02);
    REQUIRE(el < 0.1 * e0);
    REQUIRE(e1 < 0.1 * e0);
    REQUIRE(e2 < 0.5 * e1);
}

TEST_CASE("fast MVM gives the same bits for any thread count", "[array][fast]") {
    const TileCells t = test::random_tile(64, 40, 51);
    const TileOperatingPoint op = operating_point(test::nor40_card().iv, t, test::read_25c(), WireParams{4, 2});
    std::vector<float> x;
    for (int v = 0; v < 37; ++v)
        for (double d : test::random_inputs(64, 0.5, false, 200 + v)) x.push_back(static_cast<float>(d));
    const auto y = rho_of(x, 64);
    const int before = threads();
    for (auto model : {FastIrModel::linear, FastIrModel::curvature, FastIrModel::feedback}) {
        std::vector<float> a(37 * 40), b(37 * 40);
        set_threads(1);
        fast_ir_mvm(op, x.data(), y.data(), 37, a.data(), {model});
        set_threads(2);
        fast_ir_mvm(op, x.data(), y.data(), 37, b.data(), {model});
        REQUIRE(a == b);
    }
    set_threads(before);
}

TEST_CASE("pulse drop factors: exact overlap ratio, from fractions or from codes", "[array][fast]") {
    // x = (1, 0.5, 0, 0.25): Σ x = 1.75; row 1: min(.5, 1) + .5 + 0 + .25 = 1.25 → ρ = 1.25 / (0.5 · 1.75).
    const std::vector<float> x = {1.0f, 0.5f, 0.0f, 0.25f};
    std::vector<float> rho(4);
    pulse_drop_factors(x.data(), 4, rho.data());
    REQUIRE(rho[0] == Approx(1.75 / 1.75));
    REQUIRE(rho[1] == Approx(1.25 / (0.5 * 1.75)));
    REQUIRE(rho[2] == 1.0f);
    REQUIRE(rho[3] == Approx(0.75 / (0.25 * 1.75)));  // .25 + .25 + 0 + .25
    const auto fr = test::random_inputs(200, 0.7, false, 17);
    std::vector<float> f(fr.begin(), fr.end()), codes(200), a(200), b(200);
    for (int i = 0; i < 200; ++i) codes[i] = std::round(15.0f * f[i]);
    pulse_drop_factors(f.data(), 200, a.data());
    pulse_drop_factors_codes(codes.data(), 200, 15, b.data());
    for (int i = 0; i < 200; ++i) {
        INFO("row " << i << " fraction " << f[i] << " code " << codes[i]);
        REQUIRE(b[i] == Approx(a[i]).epsilon(1e-5));
    }
    // Wider codes take the histogram branch.
    for (int i = 0; i < 200; ++i) codes[i] = std::round(255.0f * f[i]), f[i] = codes[i] / 255.0f;
    pulse_drop_factors(f.data(), 200, a.data());
    pulse_drop_factors_codes(codes.data(), 200, 255, b.data());
    for (int i = 0; i < 200; ++i) {
        INFO("row " << i << " code " << codes[i] << " of 255");
        REQUIRE(b[i] == Approx(a[i]).epsilon(1e-5));
    }
}
