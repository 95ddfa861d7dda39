#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/device/iv.hpp"
#include "flashmc/device/levels.hpp"

using namespace flashmc;
using namespace flashmc::device;

TEST_CASE("EKV current reduces to the subthreshold law in weak inversion", "[device][iv]") {
    IvParams p;
    const double vt = units::thermal_voltage_v(25.0);
    REQUIRE(vt == Approx(0.025693).epsilon(1e-4));
    for (double vth : {1.95, 2.1, 2.3}) {
        for (double vds : {0.02, 0.1, 0.5}) {
            const double expected = p.specific_current_a * std::exp((1.2 - vth) / (p.slope_n * vt)) * (1 - std::exp(-vds / vt));
            // u = (V_GS − V_th)/(n V_T) <= −19: F(x) = e^x (1 − e^{x/2} + …), relative error < 1e-4.
            REQUIRE(drain_current_a(p, 1.2, vds, vth, p.slope_n, 25.0) == Approx(expected).epsilon(1e-4));
        }
    }
}

TEST_CASE("EKV current is square-law in strong inversion saturation and monotone everywhere", "[device][iv]") {
    // F(u) → (u/2)² for u ≫ 1; with V_DS ≫ u·V_T the reverse term vanishes.
    REQUIRE(normalized_current(60.0, 200.0) == Approx(900.0).epsilon(1e-9));
    double prev = 0;
    for (double u = -40; u < 40; u += 0.25) {
        const double g = normalized_current(u, 4.0);
        REQUIRE(g > prev);
        prev = g;
    }
}

TEST_CASE("the log slope d ln I/du matches a numerical derivative", "[device][iv]") {
    for (double u : {-20.0, -5.0, -1.0, 0.0, 2.0, 10.0}) {
        const double h = 1e-5;
        const double numeric = (std::log(normalized_current(u + h, 3.9)) - std::log(normalized_current(u - h, 3.9))) / (2 * h);
        REQUIRE(normalized_current_log_slope(u, 3.9) == Approx(numeric).epsilon(1e-6));
    }
    REQUIRE(normalized_current_log_slope(-30.0, 3.9) == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("V_th for a current inverts the I-V over ten decades and any temperature", "[device][iv]") {
    IvParams p;
    for (double temp : {-20.0, 25.0, 85.0}) {
        for (double current = 1e-13; current < 1e-3; current *= 7.3) {
            for (double n : {1.2, 1.5, 1.9}) {
                const double vth = vth_for_current_v(p, current, 1.2, 0.1, n, temp);
                REQUIRE(drain_current_a(p, 1.2, 0.1, vth, n, temp) == Approx(current).epsilon(1e-9));
            }
        }
    }
}

TEST_CASE("temperature enters through V_th(T), I_0(T) and V_T", "[device][iv]") {
    IvParams p;
    p.vth_temp_coeff_v_per_k = 1.5e-3;
    p.current_temp_exponent = 0.5;
    REQUIRE(vth_at_temperature_v(p, 1.5, 85.0) == Approx(1.5 - 1.5e-3 * 60).epsilon(1e-12));
    REQUIRE(specific_current_at_a(p, 85.0) == Approx(p.specific_current_a * std::sqrt(358.15 / 298.15)).epsilon(1e-12));
    const double vt85 = units::boltzmann_ev_per_k * 358.15;
    const double u = (1.2 - (1.5 - 1.5e-3 * 60)) / (1.4 * vt85);
    const double expected = specific_current_at_a(p, 85.0) * (ekv_f(u) - ekv_f(u - 0.1 / vt85));
    REQUIRE(drain_current_a(p, 1.2, 0.1, 1.5, 1.4, 85.0) == Approx(expected).epsilon(1e-12));
}

TEST_CASE("level targets read I_off + k·I_unit (or k·I_unit) at the verify temperature for any slope factor", "[device][levels]") {
    IvParams iv;
    LevelParams lv;
    for (double tp : {25.0, 60.0})
    for (OffCurrent off : {OffCurrent::compensated, OffCurrent::ignored}) {
        const LevelTargets t = level_targets(iv, lv, tp, off);
        REQUIRE(t.max_level() == 7);
        // I_off = I_0(T_p)·[F(−m) − F(−m − V_DS/V_T)]
        const double vt = units::thermal_voltage_v(tp);
        const double i_off = specific_current_at_a(iv, tp) * (ekv_f(-lv.off_margin_nvt) - ekv_f(-lv.off_margin_nvt - lv.read_vds_v / vt));
        REQUIRE(t.current_a[0] == Approx(i_off).epsilon(1e-12));
        const double base = off == OffCurrent::compensated ? i_off : 0.0;
        for (int k = 1; k <= 7; ++k) {
            REQUIRE(t.current_a[k] == Approx(base + k * lv.unit_current_a).epsilon(1e-10));
            for (double n : {1.3, 1.5, 1.7})
                REQUIRE(drain_current_a(iv, lv.read_vgs_v, lv.read_vds_v, t.vth_v(k, n), n, tp) ==
                        Approx(base + k * lv.unit_current_a).epsilon(1e-9));
        }
        // The difference of a pair (k, 0) is exactly k units when compensated.
        if (off == OffCurrent::compensated)
            for (int k = 1; k <= 7; ++k) REQUIRE((t.current_a[k] - t.current_a[0]) / lv.unit_current_a == Approx(k).epsilon(1e-9));
        // Level 0: V_th(T_p) = V_GS + m·n·V_T.
        const double vth0_tp = vth_at_temperature_v(iv, t.vth_v(0, 1.5), tp);
        REQUIRE(vth0_tp == Approx(lv.read_vgs_v + lv.off_margin_nvt * 1.5 * units::thermal_voltage_v(tp)).epsilon(1e-12));
        REQUIRE(t.current_a[0] < 0.01 * lv.unit_current_a);
        for (int k = 1; k <= 7; ++k) REQUIRE(t.vth_v(k, 1.5) < t.vth_v(k - 1, 1.5));
    }
}

TEST_CASE("a unit current below the off level is rejected", "[device][levels]") {
    IvParams iv;
    LevelParams lv;
    lv.unit_current_a = 1e-12;  // below I_0·e^-12 ≈ 6 pA
    for (OffCurrent off : {OffCurrent::compensated, OffCurrent::ignored})
        REQUIRE_THROWS_WITH(level_targets(iv, lv, 25.0, off), Catch::Contains("levels.unit_current_a") && Catch::Contains("off level"));
    REQUIRE(parse_off_current("ignored") == OffCurrent::ignored);
    REQUIRE_THROWS_WITH(parse_off_current("none"), Catch::Contains("compensated, ignored"));
}

TEST_CASE("signed weights split onto a differential pair", "[device][levels]") {
    REQUIRE(split_weight(5).plus == 5);
    REQUIRE(split_weight(5).minus == 0);
    REQUIRE(split_weight(-7).plus == 0);
    REQUIRE(split_weight(-7).minus == 7);
    REQUIRE(split_weight(0).plus == 0);
    REQUIRE(split_weight(0).minus == 0);
}
