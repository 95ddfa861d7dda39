#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "flashmc/mc/stats.hpp"

using namespace flashmc;


TEST_CASE("accuracy statistics match hand-computed values", "[mc][stats]") {
    const std::vector<double> a = {0.84, 0.80, 0.86, 0.82};
    const mc::AccuracyStats s = mc::accuracy_stats(a);
    REQUIRE(s.n == 4);
    REQUIRE(s.mean == Approx(0.83));
    REQUIRE(s.std == Approx(std::sqrt(0.002 / 3)));
    REQUIRE(s.min == Approx(0.80));
    REQUIRE(s.p5 == Approx(0.803));   // position 0.15 between 0.80 and 0.82
    REQUIRE(s.p50 == Approx(0.83));
    REQUIRE(s.p95 == Approx(0.857));  // position 2.85 between 0.84 and 0.86
    // t(0.975, 3) = 3.182446305
    REQUIRE(mc::student_t_quantile(0.975, 3) == Approx(3.182446305).epsilon(1e-8));
    const double h = 3.182446305 * std::sqrt(0.002 / 3) / 2;
    REQUIRE(s.ci.lo == Approx(0.83 - h));
    REQUIRE(s.ci.hi == Approx(0.83 + h));
    REQUIRE(s.half_width() == Approx(h));
    // Near 100 % the interval of an accuracy stops at 1; the half-width stays the t interval's.
    const mc::AccuracyStats top = mc::accuracy_stats(std::vector<double>{0.99, 0.93});
    REQUIRE(top.ci.hi == 1.0);
    REQUIRE(top.ci.lo == Approx(0.96 - top.half_width()));
    REQUIRE(top.half_width() == Approx(12.7062047 * std::sqrt(0.0018) / std::sqrt(2.0)).epsilon(1e-6));
    // One trial: no spread, no interval.
    const mc::AccuracyStats one = mc::accuracy_stats(std::vector<double>{0.5});
    REQUIRE(one.mean == 0.5);
    REQUIRE(std::isnan(one.ci.lo));
}

TEST_CASE("yield uses the Wilson score interval", "[mc][stats]") {
    const mc::Interval w = mc::wilson_interval(8, 10);
    REQUIRE(w.lo == Approx(0.490162).epsilon(1e-5));
    REQUIRE(w.hi == Approx(0.943318).epsilon(1e-5));
    const mc::Interval z = mc::wilson_interval(0, 10);
    REQUIRE(z.lo == 0.0);
    REQUIRE(z.hi == Approx(0.277533).epsilon(1e-5));
    const std::vector<double> a = {0.9, 0.85, 0.7, 0.86};
    const mc::YieldStats y = mc::yield_stats(a, 0.85);  // 0.85 counts: "at or above"
    REQUIRE(y.passing == 3);
    REQUIRE(y.fraction == Approx(0.75));
    REQUIRE(std::isnan(mc::yield_stats(a, std::nan("")).fraction));
}

TEST_CASE("the paired accuracy drop counts only images whose prediction changed", "[mc][stats]") {
    const std::vector<std::uint8_t> labels = {0, 1, 2, 3};
    const std::vector<std::int8_t> ideal = {0, 1, 2, 0};  // 75 %
    const std::vector<std::int8_t> chip1 = {0, 1, 0, 0};  // loses image 2
    const std::vector<std::int8_t> chip2 = {0, 1, 2, 3};  // gains image 3
    const mc::DropStats two = mc::paired_drop(labels, ideal, {chip1, chip2});
    REQUIRE(two.ideal_accuracy == Approx(0.75));
    REQUIRE(two.drop == Approx(0.0).margin(1e-15));
    REQUIRE(two.changed_images == 2);
    // D = (0, 0, 0.5, −0.5): s_D² = 1/6, /N; chip drops ±0.25: s² = 0.125, /T.
    const double h2 = mc::kZ95 * std::sqrt(1.0 / 6 / 4 + 0.125 / 2);
    REQUIRE(two.ci.hi == Approx(h2));
    REQUIRE(two.ci.lo == Approx(-h2));
    const mc::DropStats one = mc::paired_drop(labels, ideal, {chip1});
    REQUIRE(one.drop == Approx(0.25));
    REQUIRE(one.changed_images == 1);
    // D = (0, 0, 1, 0): s_D² = 0.25, SE = sqrt(0.25/4) = 0.25 (the paired, McNemar-type interval).
    REQUIRE(one.ci.hi - one.drop == Approx(mc::kZ95 * 0.25));
}
