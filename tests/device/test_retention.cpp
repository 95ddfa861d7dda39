#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "flashmc/device/cells.hpp"
#include "stats.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
constexpr std::size_t kCells = 20000;

CellArray programmed(const Card& card, std::uint64_t seed, double cycles = 0) {
    Streams streams(seed);
    CellArray c = sample_cells(card, kCells, cycles, streams);
    erase_cells(card, streams, c);
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    std::vector<std::uint8_t> levels(kCells);
    for (std::size_t i = 0; i < kCells; ++i) levels[i] = static_cast<std::uint8_t>(i % 8);
    program_statistical(card, t, levels, streams, c);
    return c;
}
}  // namespace

TEST_CASE("the Arrhenius acceleration factor", "[device][retention]") {
    RetentionParams r;
    r.activation_energy_ev = 1.1;
    r.reference_temperature_c = 25;
    REQUIRE(acceleration_factor(r, 25.0) == 1.0);
    // exp[(1.1 / 8.617333e-5) (1/298.15 − 1/358.15)] = exp(7.1729) ≈ 1304
    REQUIRE(acceleration_factor(r, 85.0) == Approx(std::exp(1.1 / 8.617333262e-5 * (1 / 298.15 - 1 / 358.15))).epsilon(1e-9));
    REQUIRE(acceleration_factor(r, 85.0) == Approx(1304).epsilon(2e-3));
    REQUIRE(acceleration_factor(r, 0.0) < 1.0);
}

TEST_CASE("retention: the same shift at (t, T1) and (t·AF(T1)/AF(T2), T2)", "[device][retention]") {
    const Card card;  // the defaults: β lognormal with a tail
    CellArray a = programmed(card, 3), b = a;
    const double t = 1e6, t1 = 85.0, t2 = 55.0;
    const double t_equiv = t * acceleration_factor(card.retention, t1) / acceleration_factor(card.retention, t2);
    age_cells(card, t, t1, a);
    age_cells(card, t_equiv, t2, b);
    REQUIRE(a.retention_equivalent_s == Approx(b.retention_equivalent_s).epsilon(1e-12));
    for (std::size_t i = 0; i < kCells; ++i) REQUIRE(a.vth_v[i] == Approx(b.vth_v[i]).margin(2e-7));
}

TEST_CASE("retention shift per cell is -(V_th - V_n)·beta·ln(1 + AF t/tau0); bakes compose", "[device][retention]") {
    const Card card;
    const CellArray fresh = programmed(card, 4);
    CellArray once = fresh, twice = fresh;
    const double af = acceleration_factor(card.retention, 125.0);
    age_cells(card, 3.6e6, 125.0, once);
    double moved = 0;
    for (std::size_t i = 0; i < kCells; ++i) {
        const double vn = card.retention.neutral_vth_v + fresh.vth_offset_v[i];
        const double dv = retention_shift_v(fresh.vth_v[i], vn, fresh.beta[i], af * 3.6e6, card.retention.tau0_s);
        REQUIRE(once.vth_v[i] == Approx(fresh.vth_v[i] + dv).margin(1e-6));
        moved += std::abs(dv);
    }
    REQUIRE(moved / kCells > 1e-3);  // the bake does something
    // 1000 h at 125 °C in two bakes of 500 h: the same as one.
    age_cells(card, 1.8e6, 125.0, twice);
    age_cells(card, 1.8e6, 125.0, twice);
    for (std::size_t i = 0; i < kCells; ++i) REQUIRE(twice.vth_v[i] == Approx(once.vth_v[i]).margin(2e-6));
}

TEST_CASE("charge loss stops at the neutral V_th", "[device][retention]") {
    Card card;
    card.retention.tail_fraction = 0.5;
    card.retention.tail_beta_factor = 1e3;  // β up to ~2: ln(1 + t/τ0) > 1/β long before 1e12 s
    CellArray c = programmed(card, 5);
    age_cells(card, 1e12, 150.0, c);
    std::size_t at_neutral = 0;
    for (std::size_t i = 0; i < kCells; ++i) {
        const double vn = card.retention.neutral_vth_v + c.vth_offset_v[i];
        if (c.beta[i] * std::log1p(c.retention_equivalent_s / card.retention.tau0_s) >= 1) {
            REQUIRE(c.vth_v[i] == Approx(vn).margin(1e-6));
            ++at_neutral;
        }
    }
    REQUIRE(at_neutral > kCells / 4);
}

TEST_CASE("beta is lognormal with an extrinsic tail, raised by cycling", "[device][retention]") {
    Card card = test::quiet_card();
    card.retention.beta_median = 0.002;
    card.retention.beta_sigma_ln = 0.1;
    card.retention.tail_fraction = 0.05;
    card.retention.tail_beta_factor = 10;
    Streams streams(6);
    const CellArray c = sample_cells(card, kCells, 0, streams);
    std::vector<double> ln_beta;
    std::size_t tail = 0;
    for (float b : c.beta) {
        if (b > 3 * 0.002) ++tail;  // 11 σ_ln above the median: only tail cells
        else ln_beta.push_back(std::log(b));
    }
    REQUIRE(std::abs(double(tail) / kCells - 0.05) < 4 * std::sqrt(0.05 * 0.95 / kCells));
    REQUIRE(std::abs(test::mean(ln_beta) - std::log(0.002)) < 4 * 0.1 / std::sqrt(double(ln_beta.size())));
    REQUIRE(std::abs(test::sd(ln_beta) - 0.1) < 4 * 0.1 / std::sqrt(2.0 * ln_beta.size()));
    // After 10k cycles every β is raised by the wear factor (same streams: same cells).
    const CellArray worn = sample_cells(card, kCells, 1e4, streams);
    const double factor = wear_after(card.cycling, 1e4).beta_factor;
    REQUIRE(factor > 1.0);
    for (std::size_t i = 0; i < kCells; i += 97) REQUIRE(worn.beta[i] == Approx(c.beta[i] * factor).epsilon(1e-6));
}
