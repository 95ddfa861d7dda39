// Refresh intervals from retention sweeps (mc/refresh.hpp): the log-time crossing against closed
// forms, the isotonic fit against a hand-worked example, and the bootstrap's median and interval
// against a synthetic sweep with a known yield curve (coverage over replicates).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "../test_util.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/refresh.hpp"

using namespace flashmc;

namespace {
// The true yield of the synthetic chip population: falls linearly in log10(t) from 1 at 1 h
// (3600 s) to 0 at 1e8 s; the 90 % crossing is at 10^(log10(3600) + 0.1·(8 − log10 3600)).
double true_yield(double t) { return std::clamp(1.0 - (std::log10(t) - std::log10(3600.0)) / (8.0 - std::log10(3600.0)), 0.0, 1.0); }
double true_crossing(double y) { return std::pow(10.0, std::log10(3600.0) + (1 - y) * (8.0 - std::log10(3600.0))); }

// A complete two-axis sweep (temperature x time) whose chips pass the spec (accuracy 0.9 vs 0.8)
// with the true yield at each time, drawn from `seed`; `n` chips per point.
mc::SweepResults synthetic(std::uint64_t seed, long n, const std::vector<double>& times) {
    mc::SweepResults r;
    r.seed = seed;
    r.spec_accuracy = 0.8;
    r.axes = {{"temperature", "chip.retention_temperature_c", "list", {25, 85}}, {"time", mc::kRetentionTimeParameter, "list", times}};
    r.points = static_cast<long>(2 * times.size());
    r.capacity = r.trials = n;
    Stream s = Streams(seed).at({7});
    for (double temp : {25.0, 85.0})
        for (double t : times) {
            r.point_values.insert(r.point_values.end(), {temp, t});
            // At 85 °C the same curve 10x faster.
            const double y = true_yield(temp == 25 ? t : 10 * t);
            for (long k = 0; k < n; ++k) {
                r.done.push_back(1);
                r.accuracy.push_back(s.uniform() < y ? 0.9 : 0.5);
            }
        }
    return r;
}
const std::vector<double> kTimes{60, 3.6e3, 8.64e4, 2.592e6, 3.1536e7, 3.1536e8};
}  // namespace

TEST_CASE("refresh_crossing: log-time interpolation and censoring", "[mc][refresh]") {
    mc::Censoring c;
    const std::vector<double> t{1, 100, 1e4};
    // y falls 1 -> 0 between 1 and 100 s: the 50 % crossing is at 10^(0.5·2) = 10 s.
    REQUIRE(mc::refresh_crossing(t, std::vector<double>{1, 0, 0}, 0.5, c) == Approx(10.0).epsilon(1e-12));
    REQUIRE(c == mc::Censoring::none);
    // 0.9 -> 0.6 between 100 s and 1e4 s, target 0.8: a third of the way in log time, 10^(2 + 2/3).
    REQUIRE(mc::refresh_crossing(t, std::vector<double>{1, 0.9, 0.6}, 0.8, c) == Approx(std::pow(10.0, 2 + 2.0 / 3)).epsilon(1e-12));
    // Exactly at the target is not below it: the crossing starts there.
    REQUIRE(mc::refresh_crossing(t, std::vector<double>{1, 0.8, 0.4}, 0.8, c) == Approx(100.0).epsilon(1e-12));
    REQUIRE(std::isnan(mc::refresh_crossing(t, std::vector<double>{0.7, 0.6, 0.5}, 0.8, c)));
    REQUIRE(c == mc::Censoring::below_first);
    REQUIRE(std::isnan(mc::refresh_crossing(t, std::vector<double>{1, 0.95, 0.9}, 0.8, c)));
    REQUIRE(c == mc::Censoring::beyond_last);
    REQUIRE_THROWS(mc::refresh_crossing(std::vector<double>{0, 1}, std::vector<double>{1, 0}, 0.5, c));
}

TEST_CASE("monotone_yields: weighted pool-adjacent-violators, non-increasing", "[mc][refresh]") {
    std::vector<double> y{1, 0.5, 0.7, 0.2};
    mc::monotone_yields(y, std::vector<double>{1, 1, 1, 1});
    REQUIRE(y == std::vector<double>{1, 0.6, 0.6, 0.2});
    // Weights: 0.5 (w 1) below 0.8 (w 3) pools to (0.5·1 + 0.8·3)/4 = 0.725, under 1 and over 0.1.
    y = {1, 0.5, 0.8, 0.1};
    mc::monotone_yields(y, std::vector<double>{2, 1, 3, 1});
    REQUIRE(y[0] == 1);
    REQUIRE(y[1] == Approx(0.725));
    REQUIRE(y[2] == Approx(0.725));
    REQUIRE(y[3] == 0.1);
    // A rise at the start pools with the first point.
    y = {0.6, 0.9, 0.3};
    mc::monotone_yields(y, std::vector<double>{1, 2, 1});
    REQUIRE(y[0] == Approx(0.8));
    REQUIRE(y[1] == Approx(0.8));
    REQUIRE(y[2] == 0.3);
}

TEST_CASE("refresh_intervals: the median finds the true crossing, the 95% interval covers it, same numbers on every read", "[mc][refresh]") {
    // Large samples: the median is close to the crossing of the true curve sampled at the sweep's
    // times. With 2,000 chips a point, a yield's SE is <= 0.011, at most 0.05 of a decade of time
    // on this curve's slope (>= 0.22 yield per decade), two points interpolated: SE <= 0.07
    // decades; the median lands within 0.35 decades (5 SE). (Coverage is checked below, over
    // replicates: one interval misses the truth 5 % of the time.)
    const auto big = synthetic(11, 2000, kTimes);
    const auto ri = mc::refresh_intervals(big, std::vector<double>{0.9, 0.5});
    REQUIRE(ri.size() == 4);  // 2 temperatures x 2 targets, in point order
    REQUIRE(ri[0].group[0] == 25);
    REQUIRE(std::isnan(ri[0].group[1]));
    REQUIRE(ri[2].group[0] == 85);
    // The true curve sampled at the sweep's times and interpolated in log time.
    auto sampled_crossing = [&](double y, double speed) {
        std::vector<double> ys;
        for (double t : kTimes) ys.push_back(true_yield(speed * t));
        mc::Censoring c;
        return mc::refresh_crossing(kTimes, ys, y, c);
    };
    for (const auto& x : ri) {
        const double speed = x.group[0] == 25 ? 1 : 10, truth = sampled_crossing(x.yield_target, speed);
        INFO("T " << x.group[0] << " target " << x.yield_target << " truth " << truth << " got " << x.time_s);
        REQUIRE(x.censoring == mc::Censoring::none);
        REQUIRE(std::abs(std::log10(x.time_s / truth)) < 0.35);
        REQUIRE(x.ci.lo <= x.time_s);
        REQUIRE(x.time_s <= x.ci.hi);
    }
    // On this grid the 50 % crossing is the true curve's (linear in log time between samples).
    REQUIRE(sampled_crossing(0.5, 1) == Approx(true_crossing(0.5)).epsilon(1e-9));
    // Deterministic: the same file gives the same numbers.
    const auto again = mc::refresh_intervals(big, std::vector<double>{0.9, 0.5});
    for (std::size_t i = 0; i < ri.size(); ++i) {
        REQUIRE(again[i].time_s == ri[i].time_s);
        REQUIRE(again[i].ci.lo == ri[i].ci.lo);
        REQUIRE(again[i].ci.hi == ri[i].ci.hi);
    }

    // Coverage: over 200 replicate sweeps of 40 chips a point, the 95 % interval holds the sampled
    // true crossing in at least 90 % of them (binomial SD of the coverage at 200 replicates: 1.5
    // points; 90 % is 3.3 SD below 95 %).
    int covered = 0, total = 0;
    for (std::uint64_t rep = 0; rep < 200; ++rep) {
        const auto small = synthetic(1000 + rep, 40, kTimes);
        for (const auto& x : mc::refresh_intervals(small, std::vector<double>{0.5}, 500)) {
            const double truth = sampled_crossing(0.5, x.group[0] == 25 ? 1 : 10);
            covered += x.ci.lo <= truth && truth <= x.ci.hi;
            ++total;
        }
    }
    INFO(covered << " of " << total);
    REQUIRE(total == 400);
    REQUIRE(covered >= 0.90 * total);

    // All chips passing at every time: never below 90 %, the interval open above; 8 of 8 passing
    // does not show 99 %, so its interval reaches below the first time.
    auto flat = synthetic(3, 8, kTimes);
    for (auto& a : flat.accuracy) a = 0.9;
    const auto fr = mc::refresh_intervals(flat, std::vector<double>{0.99, 0.5});
    REQUIRE(fr[1].censoring == mc::Censoring::beyond_last);
    REQUIRE(std::isinf(fr[1].ci.hi));
    REQUIRE(fr[0].ci.lo == 0);

    // No time axis, or no spec: nothing.
    auto no_spec = big;
    no_spec.spec_accuracy = std::numeric_limits<double>::quiet_NaN();
    REQUIRE(mc::refresh_intervals(no_spec, std::vector<double>{0.9}).empty());
    auto no_time = big;
    no_time.axes[1].parameter = "chip.read_temperature_c";
    REQUIRE(mc::refresh_intervals(no_time, std::vector<double>{0.9}).empty());
}

TEST_CASE("a complete retention sweep file stores its refresh intervals in /refresh", "[mc][refresh]") {
    test::TempDir dir("refresh");
    auto r = synthetic(5, 40, kTimes);
    r.images = 1;
    r.labels = {0};
    r.ideal_predictions = {0};
    r.predictions.assign(static_cast<std::size_t>(r.points * r.capacity), 0);
    r.unit_seconds.assign(static_cast<std::size_t>(r.points * r.capacity), 0.0);
    mc::write_results(dir / "r.h5", r);
    const auto want = mc::refresh_intervals(r, mc::kRefreshYieldTargets);
    REQUIRE(want.size() == 4);
    const auto g = h5::open_read(dir / "r.h5").open("refresh");
    REQUIRE(g.attr_string("parameter") == mc::kRetentionTimeParameter);
    const auto time = g.read<double>("time_s"), lo = g.read<double>("ci_lo_s"), hi = g.read<double>("ci_hi_s");
    const auto target = g.read<double>("yield_target");
    const auto censoring = g.read<std::int32_t>("censoring");
    const auto group = g.read<double>("group");
    REQUIRE(group.size() == 8);
    for (std::size_t i = 0; i < want.size(); ++i) {
        REQUIRE(target[i] == want[i].yield_target);
        REQUIRE((time[i] == want[i].time_s || (std::isnan(time[i]) && std::isnan(want[i].time_s))));
        REQUIRE(lo[i] == want[i].ci.lo);
        REQUIRE(hi[i] == want[i].ci.hi);
        REQUIRE(censoring[i] == static_cast<std::int32_t>(want[i].censoring));
        REQUIRE(group[2 * i] == want[i].group[0]);
    }
    // An incomplete file has none (its intervals would change as chips arrive).
    r.done[3] = 0;
    mc::write_results(dir / "i.h5", r);
    REQUIRE_FALSE(h5::open_read(dir / "i.h5").has("refresh"));
}
