#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <sstream>
#include <string>

#include "flashmc/array/analog_layer.hpp"
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

TEST_CASE("a noisy read's operating point in place: the bits of shifted cells, scaled after", "[array][fast]") {
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    const TileCells t = test::random_tile(37, 9, 41);
    std::vector<float> shift(t.vth_v.size()), factor(t.vth_v.size());
    for (std::size_t i = 0; i < shift.size(); ++i)
        shift[i] = i % 3 == 0 ? 0.0f : 1e-3f * static_cast<float>(i % 7), factor[i] = 1.0f + 1e-3f * static_cast<float>(i % 5) - 2e-3f;
    for (const WireParams w : {WireParams{}, WireParams{2.0, 5.0}}) {
        TileCells shifted = t;
        for (std::size_t i = 0; i < shift.size(); ++i) shifted.vth_v[i] += shift[i];
        const TileOperatingPoint ref = operating_point(iv, shifted, rd, w);
        TileOperatingPoint op = operating_point(iv, t, rd, WireParams{7.0, 7.0});  // buffers reused, all overwritten
        operating_point(iv, t.rows, t.cols, t.vth_v, t.slope_n, rd, w, op, shift, factor);
        REQUIRE(op.rows == t.rows);
        REQUIRE(op.cols == t.cols);
        for (int r = 0; r < t.rows; ++r)
            for (int c = 0; c < t.cols; ++c) {
                const std::size_t o = op.index(r, c);
                const float f = factor[t.index(r, c)];
                REQUIRE(op.current_a[o] == ref.current_a[o] * f);
                REQUIRE(op.drop_slope[o] == ref.drop_slope[o] * f);
                REQUIRE(op.drop_curvature_per_a[o] == ref.drop_curvature_per_a[o] * f);
            }
    }
    TileOperatingPoint op;
    REQUIRE_THROWS_WITH(operating_point(iv, t.rows, t.cols, t.vth_v, t.slope_n, rd, WireParams{}, op, shift, {}),
                        Catch::Contains("V_th shifts and current factors"));
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
    // 5-bit codes (the 32-lane direct sums), a row count that leaves a tail of the four-row unrolling.
    const auto fr5 = test::random_inputs(203, 0.6, false, 19);
    std::vector<float> f5(fr5.begin(), fr5.end()), codes5(203), a5(203), b5(203);
    for (int i = 0; i < 203; ++i) codes5[i] = std::round(31.0f * f5[i]), f5[i] = codes5[i] / 31.0f;
    pulse_drop_factors(f5.data(), 203, a5.data());
    pulse_drop_factors_codes(codes5.data(), 203, 31, b5.data());
    for (int i = 0; i < 203; ++i) {
        INFO("row " << i << " code " << codes5[i] << " of 31");
        REQUIRE(b5[i] == Approx(a5[i]).epsilon(1e-5));
    }
    // Wider codes: fewer rows than codes (per-row overlaps) and more (the histogram); both give the
    // same bits as the direct sums would, since every overlap is an exact integer.
    for (const int n : {200, 600}) {
        const auto fw = test::random_inputs(n, 0.7, false, 23);
        std::vector<float> w(fw.begin(), fw.end()), wc(fw.size()), wa(w.size()), wb(w.size());
        for (int i = 0; i < n; ++i) wc[i] = std::round(255.0f * w[i]), w[i] = wc[i] / 255.0f;
        pulse_drop_factors(w.data(), n, wa.data());
        pulse_drop_factors_codes(wc.data(), n, 255, wb.data());
        double total = 0;
        for (float c : wc) total += c;
        for (int i = 0; i < n; ++i) {
            INFO(n << " rows, row " << i << " code " << wc[i] << " of 255");
            REQUIRE(wb[i] == Approx(wa[i]).epsilon(1e-5));
            double overlap = 0;
            for (float c : wc) overlap += std::min(c, wc[i]);
            REQUIRE(wb[i] == (wc[i] > 0 ? static_cast<float>(255.0 * overlap / (double(wc[i]) * total)) : 1.0f));
        }
    }
}

namespace {
// The largest relative error |fast − exact| / exact seen in one class of bit lines, and where it occurred.
struct Worst {
    double error = 0;
    double drop = 0;  // the exact drop of that bit line
    std::string where;
    void add(double e, double a, const std::string& context, int col) {
        if (e <= error) return;
        error = e, drop = a, where = context + " column " + std::to_string(col);
    }
};

// Wires in a sweep: r_BL = r·bl, r_SL = r·sl, r set per target drop.
struct Lines {
    const char* name;
    double bl, sl;
};

constexpr FastIrModel kModels[4] = {FastIrModel::linear, FastIrModel::curvature, FastIrModel::feedback,
                                    FastIrModel::automatic};

// What a sweep of the fast models against the exact solver found ([model][0: 0/1 inputs, 1: pulse width]).
struct SweepErrors {
    Worst in_range[4][2];   // bit lines of vectors AnalogLayer's guard accepts: model drop (the model's own max_drop)
                            // inside its range, first-order drop ≤ kMaxFirstOrderDrop, r_BL ≤ kMaxBitlineToSourceRatio r_SL
    long wrong[4] = {};     // bit lines more than 1 % off the exact solver, accepted or not
    Worst band[4][2];       // bit lines with exact drop a = (ideal − exact) / ideal in (10 %, band_max]
    Worst to_30[4][2];      // bit lines with exact drop in (10 %, 30 %]
    double smallest_drop = 1, largest_drop = 0, largest_in_range_drop[4] = {};
    int band_lines = 0, vectors = 0;
};

// Sweep: 64/256/1024 rows (32 bit lines; 16 at 1024 rows); cells at the card's levels (~nA,
// subthreshold), at 0.1–1 µA and at 1–10 µA (log-uniform: moderate and strong inversion); −40, 25 and
// 125 °C; for each of `lines`, the resistances r at which the all-on 0/1 vector's first-order
// (linear-model) drop equals each of `targets`, up to 1 kΩ per pitch (nA cells on 64 rows, or a bit
// line alone, stop there); per setting four input vectors: 0/1 and pulse width (codes 1–15 of 15,
// ρ from pulse_drop_factors) at densities 1 and 0.5. Exact currents from solve_tile_exact_batch.
// Each model runs per vector and is inside its range when its returned max_drop is at most
// fast_model_max_drop(model); auto is linear, rerun as feedback when the linear drop exceeds
// kAutoLinearMaxDrop (AnalogLayer's rule).
SweepErrors sweep_fast_models(std::span<const Lines> lines, std::span<const double> targets, double band_max) {
    const auto& card = test::nor40_card();
    const auto& iv = card.iv;
    struct CellClass {
        const char* name;
        double i_min_a, i_max_a;  // 0: the card's levels 0–7
    };
    const CellClass classes[] = {{"levels 0-7", 0, 0}, {"0.1-1 uA", 1e-7, 1e-6}, {"1-10 uA", 1e-6, 1e-5}};
    struct Inputs {
        bool binary;
        double density;
    };
    const Inputs kinds[] = {{true, 1.0}, {true, 0.5}, {false, 1.0}, {false, 0.5}};  // [0]: all on, the calibration
    constexpr int n = 4;
    // Thousands of small calls: one thread (the results do not depend on the count) keeps the sweep
    // at a few seconds on a loaded machine, where OpenMP barriers would dominate.
    struct OneThread {
        int before = threads();
        OneThread() { set_threads(1); }
        ~OneThread() { set_threads(before); }
    } one_thread;
    SweepErrors out;
    for (int rows : {64, 256, 1024}) {
        const int cols = rows == 1024 ? 16 : 32;
        std::vector<float> x(static_cast<std::size_t>(n) * rows), rho(x.size());
        for (int v = 0; v < n; ++v) {
            const auto xv = test::random_inputs(rows, kinds[v].density, kinds[v].binary, 300 + rows + v);
            std::copy(xv.begin(), xv.end(), x.begin() + static_cast<std::ptrdiff_t>(v) * rows);
            pulse_drop_factors(x.data() + static_cast<std::size_t>(v) * rows, rows, rho.data() + static_cast<std::size_t>(v) * rows);
        }
        for (const auto& cls : classes) {
            const TileCells t = cls.i_min_a == 0 ? test::random_tile(rows, cols, 61 + rows)
                                                 : test::current_tile(rows, cols, 71 + rows, cls.i_min_a, cls.i_max_a);
            for (double temp : {-40.0, 25.0, 125.0}) {
                const device::ReadConditions rd{temp, card.levels.read_vgs_v, card.levels.read_vds_v};
                std::vector<double> ideal(static_cast<std::size_t>(n) * cols), exact(ideal.size());
                solve_tile_exact_batch(iv, t, x.data(), n, rd, WireParams{}, {}, ideal.data());
                for (const auto& ln : lines) {
                    // The all-on vector's first-order drop per ohm (it is linear in r).
                    float per_ohm = 0;
                    {
                        const TileOperatingPoint op1 = operating_point(iv, t, rd, WireParams{ln.bl, ln.sl});
                        std::vector<float> f(cols);
                        fast_ir_mvm(op1, x.data(), nullptr, 1, f.data(), {FastIrModel::linear}, &per_ohm);
                    }
                    if (!(per_ohm > 0)) FAIL("no first-order drop on " << ln.name << " wires");
                    for (double target : targets) {
                        const double r = target / per_ohm;
                        if (r > 1000.0) continue;
                        const WireParams w{r * ln.bl, r * ln.sl};
                        const TileOperatingPoint op = operating_point(iv, t, rd, w);
                        solve_tile_exact_batch(iv, t, x.data(), n, rd, w, {}, exact.data());
                        for (int v = 0; v < n; ++v) {
                            const int kind = kinds[v].binary ? 0 : 1;
                            const float* xv = x.data() + static_cast<std::size_t>(v) * rows;
                            const float* rv = kinds[v].binary ? nullptr : rho.data() + static_cast<std::size_t>(v) * rows;
                            const double* ev = exact.data() + static_cast<std::size_t>(v) * cols;
                            const double* iv0 = ideal.data() + static_cast<std::size_t>(v) * cols;
                            std::ostringstream ctx;
                            ctx << rows << " rows, " << cls.name << ", " << temp << " C, " << ln.name << ", r_BL " << w.r_bl_ohm
                                << " r_SL " << w.r_sl_ohm << " ohm, " << (kinds[v].binary ? "0/1" : "pulse") << " density "
                                << kinds[v].density;
                            const std::string where = ctx.str();
                            ++out.vectors;
                            for (int c = 0; c < cols; ++c) {
                                const double a = (iv0[c] - ev[c]) / iv0[c];
                                out.smallest_drop = std::min(out.smallest_drop, a);
                                out.largest_drop = std::max(out.largest_drop, a);
                                if (a > 0.10 && a <= band_max) ++out.band_lines;
                            }
                            std::vector<float> f(cols), lin(cols);
                            float lin_drop = 0;
                            fast_ir_mvm(op, xv, rv, 1, lin.data(), {FastIrModel::linear}, &lin_drop);
                            for (int m = 0; m < 4; ++m) {
                                float model_drop = lin_drop;
                                if (m == 0 || (kModels[m] == FastIrModel::automatic && lin_drop <= kAutoLinearMaxDrop)) {
                                    f = lin;
                                } else {
                                    const FastIrModel run = kModels[m] == FastIrModel::automatic ? FastIrModel::feedback : kModels[m];
                                    fast_ir_mvm(op, xv, rv, 1, f.data(), {run}, &model_drop);
                                }
                                const bool inside = model_drop <= fast_model_max_drop(kModels[m]) &&
                                                    lin_drop <= kMaxFirstOrderDrop &&
                                                    w.r_bl_ohm <= kMaxBitlineToSourceRatio * w.r_sl_ohm;
                                if (inside) out.largest_in_range_drop[m] = std::max(out.largest_in_range_drop[m], double(model_drop));
                                for (int c = 0; c < cols; ++c) {
                                    const double a = (iv0[c] - ev[c]) / iv0[c];
                                    const double e = std::abs(f[c] - ev[c]) / ev[c];
                                    if (inside) out.in_range[m][kind].add(e, a, where, c);
                                    if (e > 0.01) ++out.wrong[m];
                                    if (a > 0.10 && a <= band_max) out.band[m][kind].add(e, a, where, c);
                                    if (a > 0.10 && a <= 0.30) out.to_30[m][kind].add(e, a, where, c);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return out;
}

const char* kind_name(int k) { return k == 0 ? "0/1" : "pulse"; }

// Where every model's relative-drop range holds: the cell current falls mainly through the
// source-line (gate) drop, wires on both lines up to r_BL = 3 r_SL or on the source line alone, and
// first-order drops up to 50 % (exact drops to ~40 %). Feedback stays within 3 % up to an 18 % drop.
constexpr double kFeedbackBand = 0.18;
const SweepErrors& validated_sweep() {
    static const SweepErrors errors = [] {
        const Lines lines[] = {{"both", 1, 1}, {"r_BL = 3 r_SL", 3, 1}, {"SL only", 0, 1}};
        const double targets[] = {0.001, 0.01, 0.03, 0.06, 0.12, 0.25, 0.5};
        return sweep_fast_models(lines, targets, kFeedbackBand);
    }();
    return errors;
}
}  // namespace

TEST_CASE("fast IR-drop models: within 1 % of the exact solver inside their validated drop range; feedback within 3 % "
          "up to an 18 % drop",
          "[array][ir]") {
    // The sweep of sweep_fast_models over validated_sweep's wires: 3 tile sizes × 3 cell classes × 3
    // temperatures × 3 wirings × 7 resistances (less those above 1 kΩ), 4 input vectors each: 2136
    // vectors, exact drops from < 0.1 % to ~38 %. Measured (this sweep): inside the range the
    // worst bit line is 0.36 % / 0.42 % off (linear, 0/1 / pulse inputs), 0.29 % / 0.32 % (curvature),
    // 0.35 % / 0.70 % (feedback and auto); a 1 % error first appears at a model drop of 10.2 % / 7.6 %
    // (linear), 9.7 % / 8.7 % (curvature), 11.5 % / 13.8 % (feedback). Feedback at exact drops in
    // (10 %, 18 %]: ≤ 2.6 %; in (18 %, 30 %] it reaches 19 % / 13 % (the requirement "≤ 3 % up to a 30 %
    // drop" is not met: see the next test).
    const SweepErrors& s = validated_sweep();
    INFO(s.vectors << " vectors; exact drops " << s.smallest_drop << " … " << s.largest_drop << "; " << s.band_lines
                   << " bit lines with a drop in (10 %, " << 100 * kFeedbackBand << " %]");
    // The sweep reaches both ends, and every model's range is exercised to its edge.
    CHECK(s.smallest_drop < 0.002);
    CHECK(s.largest_drop > 0.3);
    CHECK(s.band_lines > 300);
    for (int m = 0; m < 4; ++m) {
        INFO(to_string(kModels[m]) << ": largest model drop inside the range " << s.largest_in_range_drop[m]);
        CHECK(s.largest_in_range_drop[m] > 0.8 * fast_model_max_drop(kModels[m]));
    }
    for (int m = 0; m < 4; ++m)
        for (int k = 0; k < 2; ++k) {
            INFO(to_string(kModels[m]) << ", " << kind_name(k) << " inputs, inside the range: worst " << s.in_range[m][k].where
                                       << " (exact drop " << s.in_range[m][k].drop << ")");
            CHECK(s.in_range[m][k].error <= 0.01);
        }
    for (int m : {2, 3})
        for (int k = 0; k < 2; ++k) {
            INFO(to_string(kModels[m]) << ", " << kind_name(k) << " inputs, exact drop in (10 %, " << 100 * kFeedbackBand
                                       << " %]: worst " << s.band[m][k].where << " (exact drop " << s.band[m][k].drop << ")");
            CHECK(s.band[m][k].error <= 0.03);
        }
}

TEST_CASE("fast IR-drop models: the guard refuses bit-line-dominated wires and far first-order drops, where the models "
          "are wrong",
          "[array][ir]") {
    // Two regimes where a model's own drop looks valid while it is far off (measured): bit-line-dominated
    // wires (r_SL = 0, or r_BL = 30 r_SL) with subthreshold cells, whose current goes as
    // 1 − e^{−V_DS/V_T}, far from linear once the bit line drops by ~V_T (inside their drop ranges linear
    // was off by up to 15 % / 25 %, feedback 10 % / 14 %); and feedback past a first-order drop of
    // ~70–100 %, whose second pass reports 0–10 % while 70–150 % off. The guard's wiring bound
    // (kMaxBitlineToSourceRatio) and first-order bound (kMaxFirstOrderDrop) refuse both: no accepted
    // bit line is more than 1 % off, while many refused ones are. (Targets ≤ 6 % on the bit-line wires:
    // beyond, the exact solver itself does not converge in 60 steps for some of these columns.)
    const Lines bl_lines[] = {{"BL only", 1, 0}, {"r_BL = 30 r_SL", 30, 1}};
    const double bl_targets[] = {0.01, 0.03, 0.06};
    const SweepErrors bl = sweep_fast_models(bl_lines, bl_targets, 0.30);
    const Lines both[] = {{"both", 1, 1}};
    const double far_target[] = {1.0};
    const SweepErrors far = sweep_fast_models(both, far_target, 0.30);
    for (const SweepErrors* e : {&bl, &far})
        for (int m = 0; m < 4; ++m) {
            CHECK(e->wrong[m] > 0);  // there is something to refuse
            for (int k = 0; k < 2; ++k) {
                INFO(to_string(kModels[m]) << ", " << kind_name(k) << " inputs, accepted: worst " << e->in_range[m][k].where
                                           << " (exact drop " << e->in_range[m][k].drop << ")");
                CHECK(e->in_range[m][k].error <= 0.01);
            }
        }
    // The wiring bound is enforced where users set wires.
    AnalogParams p;
    p.ir = IrModel::fast;
    p.wires = {3.0, 0.0};
    REQUIRE_THROWS_WITH(p.validate(), Catch::Contains("validated for r_bl_ohm <= 3 x r_sl_ohm"));
    p.ir = IrModel::exact;
    REQUIRE_NOTHROW(p.validate());
}

TEST_CASE("fast IR-drop models, known gap: feedback beyond an 18 % drop", "[array][ir][!shouldfail]") {
    // A requirement the fast models do not meet (measured; the CHECKs below fail today — when they
    // pass, Catch reports this test as failed: move them into the test above).
    // Feedback ≤ 3 % up to a 30 % drop: at exact drops in (18 %, 30 %] feedback is off by up to
    // 19 % (0/1) / 13 % (pulse), linear by ~30 %; only the exact solver is within 3 % there, and
    // the engine's auto model takes it beyond 10 % (tests/array/test_analog_layer.cpp).
    const SweepErrors& s = validated_sweep();
    for (int m : {2})
        for (int k = 0; k < 2; ++k) {
            INFO(to_string(kModels[m]) << ", " << kind_name(k) << " inputs, exact drop in (10 %, 30 %]: worst "
                                       << s.to_30[m][k].where << " (exact drop " << s.to_30[m][k].drop << ")");
            CHECK(s.to_30[m][k].error <= 0.03);
        }
}

TEST_CASE("input vectors as lanes: the linear model and the pulse drop factors give each vector's bits", "[array][fast]") {
    // 203 rows (not a multiple of anything) × 37 columns (four 8-column blocks and a tail of 5).
    const int rows = 203, cols = 37;
    const TileCells t = test::random_tile(rows, cols, 61);
    const TileOperatingPoint op = operating_point(test::nor40_card().iv, t, test::read_25c(), WireParams{6, 3});
    Stream s = Streams(5).at({2});
    // 4-bit and 3-bit codes (per-code sums), 8-bit on fewer rows than codes (per-row sums, a network's
    // first layer) and 5-bit on more (per vector).
    for (const int max_code : {15, 7, 255, 31}) {
        for (const int lanes : {kLanes, 11}) {
            INFO("codes 0 … " << max_code << ", " << lanes << " lanes");
            // Vector j: codes with about 40 % zeros; lanes ≥ `lanes` hold zeros, as the engine passes them.
            // The lanes' rows as a panel holds them: row i at panel + off[i], rows in reverse order, gaps between.
            std::vector<float> codes(static_cast<std::size_t>(rows) * kLanes, 0.0f), vec(static_cast<std::size_t>(lanes) * rows);
            std::vector<float> panel(static_cast<std::size_t>(rows) * 21, -1.0f);
            std::vector<std::ptrdiff_t> off(static_cast<std::size_t>(rows));
            for (int i = 0; i < rows; ++i) off[static_cast<std::size_t>(i)] = static_cast<std::ptrdiff_t>(rows - 1 - i) * 21 + 3;
            for (int j = 0; j < kLanes; ++j)
                for (int i = 0; i < rows; ++i) {
                    float c = s.below(10) < 4 ? 0.0f : static_cast<float>(s.below(static_cast<std::uint64_t>(max_code) + 1));
                    if (j >= lanes) c = 0.0f;
                    else vec[static_cast<std::size_t>(j) * rows + i] = c;
                    codes[static_cast<std::size_t>(i) * kLanes + j] = c, panel[static_cast<std::size_t>(off[i] + j)] = c;
                }
            std::vector<float> rho_lanes(codes.size()), rho_vec(vec.size());
            pulse_drop_factors_lanes(panel.data(), off.data(), rows, max_code, rho_lanes.data());
            for (int j = 0; j < lanes; ++j)
                pulse_drop_factors_codes(vec.data() + static_cast<std::size_t>(j) * rows, rows, max_code, rho_vec.data() + static_cast<std::size_t>(j) * rows);
            // The charge and drop weights as the per-vector path forms them.
            const float inv_top = 1.0f / static_cast<float>(max_code);
            std::vector<float> x(codes.size()), y(codes.size()), xv(vec.size());
            for (std::size_t k = 0; k < codes.size(); ++k) x[k] = codes[k] * inv_top, y[k] = x[k] * rho_lanes[k];
            for (std::size_t k = 0; k < vec.size(); ++k) xv[k] = vec[k] * inv_top;
            std::vector<float> out_lanes(static_cast<std::size_t>(cols) * kLanes), out_vec(static_cast<std::size_t>(lanes) * cols);
            const float drop_lanes = fast_linear_lanes(op, x.data(), y.data(), lanes, out_lanes.data(), kLanes);
            float drop_vec = 0.0f;
            fast_ir_mvm(op, xv.data(), rho_vec.data(), lanes, out_vec.data(), {FastIrModel::linear}, &drop_vec);
            REQUIRE(drop_lanes == drop_vec);
            REQUIRE(drop_lanes > 0.0f);
            for (int j = 0; j < lanes; ++j) {
                for (int i = 0; i < rows; ++i)
                    REQUIRE(rho_lanes[static_cast<std::size_t>(i) * kLanes + j] == rho_vec[static_cast<std::size_t>(j) * rows + i]);
                for (int c = 0; c < cols; ++c) {
                    INFO("vector " << j << " column " << c);
                    REQUIRE(out_lanes[static_cast<std::size_t>(c) * kLanes + j] == out_vec[static_cast<std::size_t>(j) * cols + c]);
                }
            }
        }
    }
    // 5-bit codes on fewer rows than codes: the lanes' per-row sums against the per-vector 32-code sums.
    const int few = 20;
    std::vector<float> codes(static_cast<std::size_t>(few) * kLanes), rho(codes.size()), one(few), ref(few);
    std::vector<std::ptrdiff_t> off(few);
    for (int i = 0; i < few; ++i) off[static_cast<std::size_t>(i)] = static_cast<std::ptrdiff_t>(i) * kLanes;
    for (auto& c : codes) c = s.below(10) < 3 ? 0.0f : static_cast<float>(s.below(32));
    pulse_drop_factors_lanes(codes.data(), off.data(), few, 31, rho.data());
    for (int j = 0; j < kLanes; ++j) {
        for (int i = 0; i < few; ++i) one[i] = codes[static_cast<std::size_t>(i) * kLanes + j];
        pulse_drop_factors_codes(one.data(), few, 31, ref.data());
        for (int i = 0; i < few; ++i) REQUIRE(rho[static_cast<std::size_t>(i) * kLanes + j] == ref[i]);
    }
}
