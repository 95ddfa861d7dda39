#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "flashmc/array/ir_exact.hpp"
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
