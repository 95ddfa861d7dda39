#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "flashmc/device/cells.hpp"
#include "stats.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
constexpr std::size_t kCells = 20000;

// A quiet card whose cells read deep in subthreshold, where ΔV_th = −n V_T ln(I/I_clean) exactly.
Card subthreshold_card() {
    Card card = test::quiet_card();
    card.levels.unit_current_a = 5e-14;
    card.levels.off_margin_nvt = 30;
    return card;
}

CellArray open_loop_cells(const Card& card, std::uint64_t seed, double cycles = 0) {
    Streams streams(seed);
    CellArray c = sample_cells(card, kCells, cycles, streams);
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    program_open_loop(card, t, std::vector<std::uint8_t>(kCells, 3), streams, c);
    return c;
}
}  // namespace

TEST_CASE("RTN traps: Poisson count, exponential amplitudes, uniform occupancies", "[device][rtn]") {
    Card card = subthreshold_card();
    card.read_noise = {1.5, 0.002, 0.0};
    const CellArray c = open_loop_cells(card, 1);
    std::vector<double> counts(kCells);
    for (std::size_t i = 0; i < kCells; ++i) counts[i] = c.trap_count(i);
    REQUIRE(std::abs(test::mean(counts) - 1.5) < 4 * std::sqrt(1.5 / kCells));
    const double var = test::sd(counts) * test::sd(counts);
    REQUIRE(std::abs(var - 1.5) < 4 * test::variance_se(counts));
    std::vector<double> amp(c.trap_amplitude_v.begin(), c.trap_amplitude_v.end());
    std::vector<double> occ(c.trap_occupancy.begin(), c.trap_occupancy.end());
    REQUIRE(test::ks_statistic(amp, [](double x) { return 1 - std::exp(-x / 0.002); }) < test::ks_critical(amp.size()));
    REQUIRE(test::ks_statistic(occ, [](double x) { return std::clamp(x, 0.0, 1.0); }) < test::ks_critical(occ.size()));
    // Cycling multiplies the trap count by the wear factor.
    const CellArray worn = open_loop_cells(card, 1, 1e4);
    const double lambda = 1.5 * wear_after(card.cycling, 1e4).rtn_factor;
    REQUIRE(std::abs(double(worn.trap_begin.back()) / kCells - lambda) < 4 * std::sqrt(lambda / kCells));
}

TEST_CASE("RTN read shift is compound Poisson: mean lambda·A/2, variance lambda·A^2", "[device][rtn]") {
    Card card = subthreshold_card();
    const double lambda = 1.5, a = 0.002;
    card.read_noise = {lambda, a, 0.0};
    const CellArray c = open_loop_cells(card, 2);
    const Streams streams(2);
    std::vector<float> clean, noisy;
    read_currents_a(card, c, read_conditions(card, 25.0), Noise::off, streams, 0, clean);
    read_currents_a(card, c, read_conditions(card, 25.0), Noise::on, streams, 1, noisy);
    const double nvt = card.iv.slope_n * units::thermal_voltage_v(25.0);
    std::vector<double> dv(kCells);
    for (std::size_t i = 0; i < kCells; ++i) dv[i] = -nvt * std::log(double(noisy[i]) / clean[i]);
    // Y = A·b, b ~ Bernoulli(p), p ~ U(0,1): E[Y] = A/2, E[Y²] = 2A²·1/2.
    const double m = lambda * a / 2, v = lambda * a * a;
    REQUIRE(std::abs(test::mean(dv) - m) < 4 * std::sqrt(v / kCells));
    REQUIRE(std::abs(test::sd(dv) * test::sd(dv) - v) < 4 * test::variance_se(dv));
    for (double x : dv) REQUIRE(x >= -1e-6);  // trapped electrons only raise V_th
}

TEST_CASE("Gaussian current noise has the card's relative sigma; reads resample by key", "[device][rtn]") {
    Card card = subthreshold_card();
    card.read_noise = {0.0, 0.0, 0.02};
    const CellArray c = open_loop_cells(card, 3);
    const Streams streams(3);
    std::vector<float> clean, r1, r2, r1again;
    read_currents_a(card, c, read_conditions(card, 25.0), Noise::off, streams, 0, clean);
    read_currents_a(card, c, read_conditions(card, 25.0), Noise::on, streams, 1, r1);
    read_currents_a(card, c, read_conditions(card, 25.0), Noise::on, streams, 2, r2);
    read_currents_a(card, c, read_conditions(card, 25.0), Noise::on, streams, 1, r1again);
    std::vector<double> rel(kCells);
    std::size_t same = 0;
    for (std::size_t i = 0; i < kCells; ++i) {
        rel[i] = r1[i] / clean[i] - 1.0;
        same += r1[i] == r2[i];
        REQUIRE(r1[i] == r1again[i]);
    }
    REQUIRE(std::abs(test::mean(rel)) < 4 * 0.02 / std::sqrt(double(kCells)));
    REQUIRE(std::abs(test::sd(rel) - 0.02) < 4 * 0.02 / std::sqrt(2.0 * kCells));
    REQUIRE(same < 10);
}

TEST_CASE("sampled read noise reproduces read_currents_a through the scalar I-V", "[device][rtn]") {
    const Card card;  // the defaults: RTN and current noise on
    Streams streams(4);
    CellArray c = sample_cells(card, 5000, 0, streams);
    erase_cells(card, streams, c);
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    std::vector<std::uint8_t> levels(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) levels[i] = static_cast<std::uint8_t>(i % 8);
    program_statistical(card, t, levels, streams, c);
    std::vector<float> current, dv, factor;
    read_currents_a(card, c, read_conditions(card, 45.0), Noise::on, streams, 17, current);
    sample_read_noise(card, c, streams, 17, dv, factor);
    std::size_t with_rtn = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
        const double expected = drain_current_a(card.iv, card.levels.read_vgs_v, card.levels.read_vds_v,
                                                double(c.vth_v[i]) + dv[i], c.slope_n[i], 45.0) * factor[i];
        REQUIRE(current[i] == Approx(expected).epsilon(1e-5));
        with_rtn += dv[i] > 0;
    }
    REQUIRE(with_rtn > c.size() / 10);
}

TEST_CASE("the Poisson CDF table is exact and ends where F rounds to 1", "[device][rtn]") {
    const std::vector<double> f = poisson_cdf(1.5);
    double p = std::exp(-1.5), cdf = 0;
    for (std::size_t k = 0; k < 8; ++k) {
        cdf += p;
        REQUIRE(f[k] == Approx(cdf).epsilon(1e-14));
        p *= 1.5 / double(k + 1);
    }
    REQUIRE(f.back() == Approx(1.0).epsilon(1e-16));
    REQUIRE(f.size() < 40);
    REQUIRE(poisson_cdf(0.0) == std::vector<double>{1.0});
    // A large mean, where e^−mean underflows: the table still sums to 1; F(800) = 0.50940165799987
    // (the sum of the exact terms e^{−λ + k ln λ − ln k!} in double precision).
    const std::vector<double> g = poisson_cdf(800.0);
    REQUIRE(g.back() == Approx(1.0).epsilon(1e-12));
    REQUIRE(g[800] == Approx(0.50940165799987).epsilon(1e-10));
    REQUIRE_THROWS_WITH(poisson_cdf(-1.0), Catch::Contains("out of range"));
}

TEST_CASE("shot noise of a conversion: sqrt(N) electrons of the N = I·T/q collected", "[device][rtn]") {
    const double q = 1.602176634e-19;
    for (double i : {1e-10, 1e-9, 1e-7})
        for (double t : {1e-9, 1e-7, 1e-5}) {
            const double n = i * t / q;  // electrons over the window
            // Poisson: σ_N = √N, so the period-averaged current's σ is √N·q/T; F scales the variance.
            REQUIRE(device::shot_noise_sigma_a(1.0, i, t) == Approx(std::sqrt(n) * q / t).epsilon(1e-12));
            REQUIRE(device::shot_noise_sigma_a(0.5, i, t) == Approx(std::sqrt(0.5 * n) * q / t).epsilon(1e-12));
        }
    REQUIRE(device::shot_noise_sigma_a(1.0, 0.0, 1e-7) == 0.0);
    REQUIRE(device::shot_noise_sigma_a(1.0, -1e-9, 1e-7) == 0.0);  // a sum is never negative; rounding is floored
}
