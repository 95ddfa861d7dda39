#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <utility>
#include <vector>

#include "flashmc/array/ir_exact.hpp"
#include "flashmc/array/ir_fast.hpp"
#include "flashmc/core/parallel.hpp"
#include "tile_fixture.hpp"

using namespace flashmc;
using namespace flashmc::array;

namespace {
double ideal_column(const TileCells& t, const std::vector<double>& x, int c, const device::ReadConditions& rd) {
    double s = 0;
    for (int r = 0; r < t.rows; ++r)
        if (x[r] > 0)
            s += x[r] * device::drain_current_a(test::nor40_card().iv, rd.vgs_v, rd.vds_v, t.vth_v[t.index(r, c)],
                                                t.slope_n[t.index(r, c)], rd.temperature_c);
    return s;
}
std::span<const float> column(const std::vector<float>& v, const TileCells& t, int c) {
    return {v.data() + t.index(0, c), static_cast<std::size_t>(t.rows)};
}
}  // namespace

TEST_CASE("exact solver: no wire resistance gives the ideal currents, pulse fractions included", "[array][ir]") {
    const TileCells t = test::random_tile(32, 6, 11);
    const auto rd = test::read_25c();
    for (bool binary : {true, false}) {
        const auto x = test::random_inputs(32, 0.6, binary, 3);
        const auto got = solve_tile_exact(test::nor40_card().iv, t, x, rd, WireParams{0, 0});
        for (int c = 0; c < t.cols; ++c) REQUIRE(got[c] == Approx(ideal_column(t, x, c, rd)).epsilon(1e-12));
    }
}

TEST_CASE("exact solver: current is conserved between cells, sense node and source ground", "[array][ir]") {
    const TileCells t = test::random_tile(64, 4, 12);
    const auto rd = test::read_25c();
    std::vector<std::uint8_t> on(64, 1);
    for (int c = 0; c < t.cols; ++c) {
        const ColumnSolution s = solve_column_exact(test::nor40_card().iv, column(t.vth_v, t, c), column(t.slope_n, t, c),
                                                    on, rd, WireParams{5.0, 3.0});
        const double sum = std::accumulate(s.cell_current_a.begin(), s.cell_current_a.end(), 0.0);
        // I_BL − Σ I_i telescopes to the sum of the 64 bit-line KCL residuals, each ≤ rel_tol·Σ I.
        const double tol = 64 * 1e-9 * sum;
        REQUIRE(std::abs(s.bitline_current_a - sum) <= tol);
        REQUIRE(std::abs(s.source_current_a - sum) <= tol);
        REQUIRE(s.rel_residual <= 1e-9);
        // The drop is real: far cells see a higher source and a lower drain.
        REQUIRE(s.source_v[63] > s.source_v[0]);
        REQUIRE(s.drain_drop_v[63] > s.drain_drop_v[0]);
        REQUIRE(s.bitline_current_a < ideal_column(t, std::vector<double>(64, 1.0), c, rd));
    }
}

TEST_CASE("exact solver: a cell's current factor f scales its current, with and without wires", "[array][ir]") {
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    TileCells t = test::random_tile(32, 6, 11);
    const auto x = test::random_inputs(32, 0.6, false, 3);
    // No wires: each column is Σ_i x_i f_i I_D,i.
    t.current_factor.resize(t.vth_v.size());
    for (std::size_t i = 0; i < t.current_factor.size(); ++i) t.current_factor[i] = 0.5f + static_cast<float>(i % 7) / 6.0f;
    const auto got = solve_tile_exact(iv, t, x, rd, WireParams{0, 0});
    for (int c = 0; c < t.cols; ++c) {
        double want = 0;
        for (int r = 0; r < t.rows; ++r)
            if (x[r] > 0)
                want += x[r] * t.current_factor[t.index(r, c)] *
                        device::drain_current_a(iv, rd.vgs_v, rd.vds_v, t.vth_v[t.index(r, c)], t.slope_n[t.index(r, c)], rd.temperature_c);
        REQUIRE(got[c] == Approx(want).epsilon(1e-12));
    }
    // The fast models' operating point takes the same factors: each current (and coefficient) times f.
    TileCells plain = t;
    plain.current_factor.clear();
    const TileOperatingPoint op = operating_point(iv, t, rd, WireParams{1.0, 1.0}), op1 = operating_point(iv, plain, rd, WireParams{1.0, 1.0});
    for (int r = 0; r < t.rows; ++r)
        for (int c = 0; c < t.cols; ++c) {
            const float f = t.current_factor[t.index(r, c)];
            REQUIRE(op.current_a[op.index(r, c)] == op1.current_a[op.index(r, c)] * f);
            REQUIRE(op.drop_slope[op.index(r, c)] == op1.drop_slope[op.index(r, c)] * f);
            REQUIRE(op.drop_curvature_per_a[op.index(r, c)] == op1.drop_curvature_per_a[op.index(r, c)] * f);
        }
    // With wires: f = k on every cell and resistances R/k carry the same node voltages as f = 1 and R
    // (every drop R·ΣI is unchanged), so the currents are exactly k times those.
    const double k = 2.5;
    const WireParams w{3000.0, 5000.0}, w_k{3000.0 / k, 5000.0 / k};
    t.current_factor.clear();
    const auto one = solve_tile_exact(iv, t, x, rd, w, ExactOptions{1e-13, 60});
    t.current_factor.assign(t.vth_v.size(), static_cast<float>(k));
    const auto scaled = solve_tile_exact(iv, t, x, rd, w_k, ExactOptions{1e-13, 60});
    const auto ideal = solve_tile_exact(iv, t, x, rd, WireParams{0, 0});
    for (int c = 0; c < t.cols; ++c) {
        REQUIRE(one[c] < 0.99 * ideal[c] / k);  // the drop matters (ideal is k × the f = 1 ideal)
        REQUIRE(scaled[c] == Approx(k * one[c]).epsilon(1e-9));
    }
    t.current_factor.assign(3, 1.0f);
    REQUIRE_THROWS_WITH(t.validate(), Catch::Contains("current factors"));
    t.current_factor.assign(t.vth_v.size(), -0.1f);
    REQUIRE_THROWS_WITH(t.validate(), Catch::Contains("current factor of row 0"));
}

TEST_CASE("exact solver: a single active cell matches the closed-form series solution", "[array][ir]") {
    // Strongly conducting cells (≈ 10 µA) so that the series drop is large (tens of mV).
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    const int rows = 40;
    std::vector<float> vth(rows, 0.95f), n(rows, 1.5f);
    const WireParams w{20.0, 35.0};
    for (int row : {0, 7, 39}) {
        std::vector<std::uint8_t> on(rows, 0);
        on[row] = 1;
        const ColumnSolution s = solve_column_exact(iv, vth, n, on, rd, w, ExactOptions{1e-13, 60});
        const double closed = series_cell_current_a(iv, vth[row], n[row], rd, (row + 1) * w.r_bl_ohm, (row + 1) * w.r_sl_ohm);
        const double ideal = device::drain_current_a(iv, rd.vgs_v, rd.vds_v, vth[row], n[row], rd.temperature_c);
        INFO("row " << row << " ideal " << ideal << " closed " << closed);
        if (row > 0) REQUIRE(closed < 0.97 * ideal);  // the series resistance matters at this bias
        REQUIRE(s.bitline_current_a == Approx(closed).epsilon(1e-9));
        REQUIRE(s.cell_current_a[row] == Approx(closed).epsilon(1e-9));
    }
}

TEST_CASE("exact solver converges on a 256 x 256 tile with r_BL = r_SL = 10 ohm", "[array][ir]") {
    const TileCells t = test::random_tile(256, 256, 13);
    std::vector<double> all(256, 1.0);
    ExactStats st;
    const auto rd = test::read_25c();
    const auto got = solve_tile_exact(test::nor40_card().iv, t, all, rd, WireParams{10.0, 10.0}, {}, &st);
    REQUIRE(st.solves == 256);
    REQUIRE(st.max_rel_residual <= 1e-9);
    REQUIRE(st.max_iterations <= 10);
    for (int c = 0; c < 256; c += 51) {
        const double ideal = ideal_column(t, all, c, rd);
        REQUIRE(got[c] < ideal);
        REQUIRE(got[c] > 0.5 * ideal);
    }
}

TEST_CASE("exact solver converges under heavy drop and rejects bad inputs", "[array][ir]") {
    // 64 cells of ≈ 10 µA with 50 Ω per pitch: the far cells lose most of their current.
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    std::vector<float> vth(64, 0.95f), n(64, 1.5f);
    std::vector<std::uint8_t> on(64, 1);
    const ColumnSolution s = solve_column_exact(iv, vth, n, on, rd, WireParams{50.0, 50.0});
    REQUIRE(s.rel_residual <= 1e-9);
    REQUIRE(s.cell_current_a[63] < 0.5 * s.cell_current_a[0]);
    TileCells t = test::random_tile(4, 2, 1);
    REQUIRE_THROWS_WITH(solve_tile_exact(iv, t, std::vector<double>{1, 1, 1}, rd, {}), Catch::Contains("3 inputs"));
    REQUIRE_THROWS_WITH(solve_tile_exact(iv, t, std::vector<double>{1, 1, 1.5, 0}, rd, {}),
                        Catch::Contains("out of range [0, 1]"));
    REQUIRE_THROWS_WITH(solve_tile_exact(iv, t, std::vector<double>(4, 1.0), rd, WireParams{-1, 0}),
                        Catch::Contains("r_bl_ohm"));
}

namespace {
// Independent check of a column solution: every cell current recomputed from the returned node
// voltages with device::drain_current_a, then Kirchhoff's current law at every bit-line and
// source-line node, G (v_i − v_{i−1}) − G (v_{i+1} − v_i) − I_i, v = ΔV_D or V_S (a line with zero
// resistance has no nodes: its drops must be 0). Returns max|KCL| / Σ|I|.
double kcl_relative_residual(const ColumnSolution& s, const std::vector<float>& vth, const std::vector<float>& n,
                             const std::vector<std::uint8_t>& on, const device::ReadConditions& rd,
                             const WireParams& w) {
    const auto& iv = test::nor40_card().iv;
    const int rows = static_cast<int>(vth.size());
    std::vector<double> cur(rows, 0.0);
    double sum = 0;
    for (int i = 0; i < rows; ++i) {
        if (!on[i]) continue;
        cur[i] = device::drain_current_a(iv, rd.vgs_v - s.source_v[i], rd.vds_v - s.drain_drop_v[i] - s.source_v[i],
                                         vth[i], n[i], rd.temperature_c);
        sum += std::abs(cur[i]);
    }
    // (A cell near V_DS = 0 has I = I_0 [F(u) − F(w)] with u ≈ w: its relative precision is lower.)
    for (int i = 0; i < rows; ++i) REQUIRE(std::abs(s.cell_current_a[i] - cur[i]) <= 1e-12 * sum);
    double worst = 0;
    for (const auto& [r, v] : {std::pair{w.r_bl_ohm, &s.drain_drop_v}, std::pair{w.r_sl_ohm, &s.source_v}}) {
        if (r == 0) {
            for (double x : *v) REQUIRE(x == 0.0);
            continue;
        }
        const double g = 1.0 / r;
        for (int i = 0; i < rows; ++i) {
            double kcl = g * ((*v)[i] - (i > 0 ? (*v)[i - 1] : 0.0)) - cur[i];
            if (i + 1 < rows) kcl -= g * ((*v)[i + 1] - (*v)[i]);
            worst = std::max(worst, std::abs(kcl));
        }
        // The terminal current is the current through segment 0.
        CHECK(s.bitline_current_a == Approx(g * (*v)[0]).epsilon(1e-12));
    }
    return sum > 0 ? worst / sum : 0.0;
}
std::vector<float> column_copy(const std::vector<float>& v, const TileCells& t, int c) {
    const auto first = v.begin() + static_cast<std::ptrdiff_t>(t.index(0, c));
    return {first, first + t.rows};
}
// Pulse ends: the distinct positive fractions, ascending.
std::vector<double> pulse_ends(const std::vector<double>& x) {
    std::vector<double> e;
    for (double v : x)
        if (v > 0) e.push_back(v);
    std::sort(e.begin(), e.end());
    e.erase(std::unique(e.begin(), e.end()), e.end());
    return e;
}
}  // namespace

TEST_CASE("exact solver: KCL recomputed from the node voltages holds at every node", "[array][ir]") {
    // 64 / 256 / 1024 rows, 1 / 10 / 100 Ω per pitch on both lines or on one, 0/1 and pulse inputs;
    // each pulse time slot is one DC solve of solve_column_exact, checked on its own, and the tile
    // solver's period average must equal Σ_k (v_k − v_{k−1})·I_BL(slot k) of those solves.
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    for (int rows : {64, 256, 1024}) {
        const int cols = 2;
        const TileCells t = test::random_tile(rows, cols, 20 + rows);
        for (double r : {1.0, 10.0, 100.0})
            for (const WireParams w : {WireParams{r, r}, WireParams{r, 0.0}, WireParams{0.0, r}})
                for (bool binary : {true, false}) {
                    const auto x = test::random_inputs(rows, 0.7, binary, rows + int(r));
                    const auto ends = pulse_ends(x);
                    ExactStats st;
                    const auto tile = solve_tile_exact(iv, t, x, rd, w, {}, &st);
                    REQUIRE(st.solves == cols * int(ends.size()));
                    REQUIRE(st.max_rel_residual <= 1e-9);
                    for (int c = 0; c < cols; ++c) {
                        INFO("rows " << rows << " r_BL " << w.r_bl_ohm << " r_SL " << w.r_sl_ohm << " binary "
                                     << binary << " column " << c);
                        const auto vth = column_copy(t.vth_v, t, c), n = column_copy(t.slope_n, t, c);
                        double charge = 0, prev = 0;
                        for (double end : ends) {
                            std::vector<std::uint8_t> on(rows);
                            for (int i = 0; i < rows; ++i) on[i] = x[i] >= end;
                            const ColumnSolution s = solve_column_exact(iv, vth, n, on, rd, w);
                            REQUIRE(s.rel_residual <= 1e-9);
                            REQUIRE(kcl_relative_residual(s, vth, n, on, rd, w) <= 1e-9);
                            charge += (end - prev) * s.bitline_current_a, prev = end;
                        }
                        REQUIRE(tile[c] == Approx(charge).epsilon(1e-9));
                        REQUIRE(tile[c] < ideal_column(t, x, c, rd));
                    }
                }
    }
}

TEST_CASE("exact solver: one active cell matches the closed form on long columns", "[array][ir]") {
    // ≈ 10 µA cells: at 100 Ω per pitch a far cell loses most of its current.
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    for (int rows : {64, 256, 1024})
        for (double r : {1.0, 10.0, 100.0}) {
            std::vector<float> vth(rows, 0.95f), n(rows, 1.5f);
            const WireParams w{r, 0.6 * r};
            for (int row : {0, rows / 3, rows - 1}) {
                std::vector<std::uint8_t> on(rows, 0);
                on[row] = 1;
                const ColumnSolution s = solve_column_exact(iv, vth, n, on, rd, w);
                const double closed =
                    series_cell_current_a(iv, vth[row], n[row], rd, (row + 1) * w.r_bl_ohm, (row + 1) * w.r_sl_ohm);
                INFO("rows " << rows << " r " << r << " row " << row);
                REQUIRE(s.bitline_current_a == Approx(closed).epsilon(1e-9));
                REQUIRE(s.cell_current_a[row] == Approx(closed).epsilon(1e-9));
                REQUIRE(kcl_relative_residual(s, vth, n, on, rd, w) <= 1e-9);
            }
        }
}

TEST_CASE("exact solver: high-current columns converge (far cells lose more than half)", "[array][ir]") {
    // ≈ 10 µA cells at 50 Ω per pitch on both lines.
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    for (int rows : {64, 256}) {
        std::vector<float> vth(rows, 0.95f), n(rows, 1.5f);
        for (int i = 0; i < rows; ++i) vth[i] += 0.01f * float(i % 7);
        std::vector<std::uint8_t> on(rows, 1);
        const WireParams w{50.0, 50.0};
        const ColumnSolution s = solve_column_exact(iv, vth, n, on, rd, w);
        INFO("rows " << rows << " iterations " << s.iterations);
        REQUIRE(s.rel_residual <= 1e-9);
        REQUIRE(kcl_relative_residual(s, vth, n, on, rd, w) <= 1e-9);
        REQUIRE(s.cell_current_a[rows - 1] < 0.5 * s.cell_current_a[0]);
        // The same column through the tile solver, DC and with pulse inputs.
        TileCells t{rows, 1, vth, n, {}};
        ExactStats st;
        const auto dc = solve_tile_exact(iv, t, std::vector<double>(rows, 1.0), rd, w, {}, &st);
        REQUIRE(dc[0] == Approx(s.bitline_current_a).epsilon(1e-9));
        const auto pulse = solve_tile_exact(iv, t, test::random_inputs(rows, 1.0, false, 5), rd, w, {}, &st);
        REQUIRE(st.max_rel_residual <= 1e-9);
        REQUIRE(pulse[0] > 0.0);
        REQUIRE(pulse[0] < dc[0]);
    }
}

TEST_CASE("exact solver: the batch API gives solve_tile_exact's bits for every vector, at any thread count",
          "[array][ir]") {
    const auto& iv = test::nor40_card().iv;
    const auto rd = test::read_25c();
    const TileCells t = test::random_tile(96, 21, 31);  // 21 columns: the last column block is partly spare
    const WireParams w{10.0, 7.0};
    const int n = 6;
    std::vector<float> x(static_cast<std::size_t>(n) * t.rows);
    for (int v = 0; v < n; ++v) {
        const auto xv = test::random_inputs(t.rows, v == 5 ? 0.0 : 0.3 + 0.1 * v, v % 2 == 0, 40 + v);
        for (int i = 0; i < t.rows; ++i) x[static_cast<std::size_t>(v) * t.rows + i] = float(xv[i]);
    }
    std::vector<double> one(static_cast<std::size_t>(n) * t.cols), two(one.size());
    ExactStats st1, st2;
    const int before = threads();
    set_threads(1);
    solve_tile_exact_batch(iv, t, x.data(), n, rd, w, {}, one.data(), &st1);
    set_threads(2);
    solve_tile_exact_batch(iv, t, x.data(), n, rd, w, {}, two.data(), &st2);
    set_threads(before);
    REQUIRE(one == two);
    REQUIRE(st1.solves == st2.solves);
    int solves = 0;
    for (int v = 0; v < n; ++v) {
        const std::vector<double> xv(x.begin() + v * t.rows, x.begin() + (v + 1) * t.rows);
        ExactStats st;
        const auto single = solve_tile_exact(iv, t, xv, rd, w, {}, &st);
        solves += st.solves;
        for (int c = 0; c < t.cols; ++c) REQUIRE(one[static_cast<std::size_t>(v) * t.cols + c] == single[c]);
    }
    REQUIRE(st1.solves == solves);
    for (int c = 0; c < t.cols; ++c) REQUIRE(one[static_cast<std::size_t>(5) * t.cols + c] == 0.0);  // no input
    x[7] = 1.5f;
    REQUIRE_THROWS_WITH(solve_tile_exact_batch(iv, t, x.data(), n, rd, w, {}, one.data()),
                        Catch::Contains("vector 0, row 7") && Catch::Contains("out of range [0, 1]"));
}
