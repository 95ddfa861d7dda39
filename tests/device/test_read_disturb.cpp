// Read disturb (device/read_disturb.hpp): the closed form against its reference point, a numerical
// integration of the rate equation and its flow property; the per-cell draws against their
// lognormal law (tolerances from the sample size).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "flashmc/device/cells.hpp"
#include "stats.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
ReadDisturbParams params() {
    ReadDisturbParams p;
    p.reference_shift_v = 0.04;
    p.reference_stress_s = 1e4;
    p.reference_vth_v = 1.4;
    p.field_v = 0.08;
    return p;
}
}  // namespace

TEST_CASE("read disturb: the closed form meets its reference point, the rate equation and the flow property", "[device][read-disturb]") {
    const ReadDisturbParams p = params();
    const double r = read_disturb_rate_v_per_s(p);
    // The reference cell after the reference stress shifts by exactly ΔV_ref.
    REQUIRE(read_disturb_shift_v(p, p.reference_vth_v, r, p.reference_stress_s) == Approx(p.reference_shift_v).epsilon(1e-12));
    REQUIRE(read_disturb_shift_v(p, 1.2, r, 0.0) == 0.0);
    // dV/dt = r·e^{(V_ref − V)/V_F}, integrated with RK4 in log-spaced steps, against the closed form.
    for (double v0 : {1.25, 1.4, 1.6}) {
        double v = v0, t = 0;
        auto f = [&](double x) { return r * std::exp((p.reference_vth_v - x) / p.field_v); };
        const double t_end = 1e7;
        for (int k = 0; k < 20000; ++k) {
            const double t1 = 1e-3 * std::pow(t_end / 1e-3, (k + 1) / 20000.0), h = t1 - t;
            const double k1 = f(v), k2 = f(v + 0.5 * h * k1), k3 = f(v + 0.5 * h * k2), k4 = f(v + h * k3);
            v += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
            t = t1;
        }
        INFO("V_th0 " << v0);
        REQUIRE(v - v0 == Approx(read_disturb_shift_v(p, v0, r, t_end)).epsilon(1e-6));
    }
    // Flow: t1 then t2 from where t1 left the cell equals t1 + t2 at once.
    const double a = read_disturb_shift_v(p, 1.3, r, 3e3);
    REQUIRE(a + read_disturb_shift_v(p, 1.3 + a, r, 7e5) == Approx(read_disturb_shift_v(p, 1.3, r, 3e3 + 7e5)).epsilon(1e-12));
    // Logarithmic in time once saturated: each decade of stress adds V_F·ln 10.
    REQUIRE(read_disturb_shift_v(p, 1.4, r, 1e11) - read_disturb_shift_v(p, 1.4, r, 1e10) ==
            Approx(p.field_v * std::log(10.0)).epsilon(1e-3));
    // Lower V_th (more current) disturbs more.
    REQUIRE(read_disturb_shift_v(p, 1.3, r, 1e4) > read_disturb_shift_v(p, 1.5, r, 1e4));
    // Arrhenius: E_a = 0 leaves the rate, E_a > 0 raises it when hot.
    ReadDisturbParams hot = p;
    REQUIRE(read_disturb_acceleration(p, 85) == 1.0);
    hot.activation_energy_ev = 0.3;
    REQUIRE(read_disturb_acceleration(hot, 85) ==
            Approx(std::exp(0.3 / units::boltzmann_ev_per_k * (1 / units::kelvin(25) - 1 / units::kelvin(85)))));
}

TEST_CASE("disturb_cells: every cell on the closed form with its lognormal rate, composing over calls", "[device][read-disturb]") {
    Card card = test::quiet_card();
    card.read_disturb = params();
    card.read_disturb.rate_sigma_ln = 0.4;
    const std::size_t n = 20000;
    Streams streams(17);
    CellArray c = sample_cells(card, n, 0, streams);
    for (std::size_t i = 0; i < n; ++i) c.vth_v[i] = static_cast<float>(1.3 + 0.3 * static_cast<double>(i % 8) / 7);
    const std::vector<float> before = c.vth_v;
    const double reads = 1e11;  // 5e3 s at 50 ns a read
    disturb_cells(card, reads, 25.0, streams, c);
    // Back out each cell's rate from its shift: ln(r_i/r) ~ N(0, σ²).
    const ReadDisturbParams& p = card.read_disturb;
    const double r = read_disturb_rate_v_per_s(p), t = reads * p.stress_per_read_s;
    std::vector<double> z;
    for (std::size_t i = 0; i < n; ++i) {
        const double dv = double(c.vth_v[i]) - double(before[i]);
        REQUIRE(dv > 0);
        const double ri = p.field_v * std::expm1(dv / p.field_v) / (t * std::exp((p.reference_vth_v - before[i]) / p.field_v));
        z.push_back(std::log(ri / r));
    }
    // Float V_th (ulp 1.2e-7 V at 1.4 V) blurs ln r_i by about 1e-7/V_F·(coth) < 1e-4: far below σ.
    REQUIRE(std::abs(test::mean(z)) < 4 * 0.4 / std::sqrt(double(n)));
    REQUIRE(test::sd(z) == Approx(0.4).margin(4 * 0.4 / std::sqrt(2.0 * n)));
    // Two calls of half the reads each land where one call does (up to float rounding of V_th).
    CellArray halves = sample_cells(card, n, 0, streams);
    halves.vth_v = before;
    disturb_cells(card, reads / 2, 25.0, streams, halves);
    disturb_cells(card, reads / 2, 25.0, streams, halves);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(halves.vth_v[i] == Approx(c.vth_v[i]).margin(2e-6));
    // No reads, no change; out-of-range arguments are errors.
    CellArray same = sample_cells(card, 16, 0, streams);
    const std::vector<float> v0 = same.vth_v;
    disturb_cells(card, 0, 25.0, streams, same);
    REQUIRE(same.vth_v == v0);
    REQUIRE_THROWS(disturb_cells(card, -1, 25.0, streams, same));
}

TEST_CASE("disturb_cells: the retention tail's cells disturb tail_rate_factor times faster", "[device][read-disturb]") {
    Card card = test::quiet_card();
    card.read_disturb = params();
    card.read_disturb.tail_rate_factor = 1e3;
    card.read_disturb.rate_sigma_ln = 0;
    card.retention.tail_fraction = 0.01;
    card.retention.tail_beta_factor = 10;
    const std::size_t n = 50000;
    Streams streams(23);
    CellArray c = sample_cells(card, n, 0, streams);
    for (auto& v : c.vth_v) v = 1.4f;
    disturb_cells(card, 1e10, 25.0, streams, c);
    // The tail cells are those sample_cells gave the tail β (β_median × 10, σ_lnβ = 0 here).
    const ReadDisturbParams& p = card.read_disturb;
    const double t = 1e10 * p.stress_per_read_s, r = read_disturb_rate_v_per_s(p);
    long tails = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const bool tail = c.beta[i] > 5 * card.retention.beta_median;
        tails += tail;
        REQUIRE(c.vth_v[i] - 1.4f == Approx(read_disturb_shift_v(p, 1.4, tail ? 1e3 * r : r, t)).epsilon(1e-4).margin(1e-6));
    }
    // 1 % of 50,000 cells: 500 ± 22 (binomial); within 5 SD.
    REQUIRE(std::abs(tails - 500) < 5 * std::sqrt(500 * 0.99));
}
