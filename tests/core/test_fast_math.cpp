#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <vector>

#include "flashmc/core/fast_math.hpp"

using namespace flashmc;

namespace {
double rel_err(double got, double want) { return std::abs(got - want) / std::abs(want); }

// n + 1 points from lo to hi, evenly spaced in ln x (lo, hi > 0), ends exact.
std::vector<double> log_grid(double lo, double hi, int n) {
    std::vector<double> x;
    const double a = std::log(lo), b = std::log(hi);
    for (int i = 0; i <= n; ++i) x.push_back(std::min(hi, std::max(lo, std::exp(a + (b - a) * i / n))));
    x.front() = lo, x.back() = hi;
    return x;
}
}  // namespace

TEST_CASE("log_fast matches std::log to 4 ulp over all normal doubles", "[core][fast_math]") {
    std::vector<double> x = log_grid(DBL_MIN, DBL_MAX, 100000);
    for (int i = 0; i <= 100000; ++i) x.push_back(0.5 + 1.5 * i / 100000);
    for (int j = 1; j <= 52; ++j) x.insert(x.end(), {1 + std::ldexp(1.0, -j), 1 - std::ldexp(1.0, -j - 1)});
    x.insert(x.end(), {5e-324, 1e-310, DBL_MIN / 3});  // subnormals: scaled by 2^54 first
    double worst = 0, worst_x = 0;
    for (double v : x) {
        if (v == 1.0) continue;
        const double e = rel_err(log_fast(v), std::log(v));
        if (e > worst) worst = e, worst_x = v;
    }
    CAPTURE(worst / DBL_EPSILON, worst_x);
    REQUIRE(worst <= 4 * DBL_EPSILON);
    REQUIRE(log_fast(1.0) == 0.0);
}

TEST_CASE("exp_fast matches std::exp to 4 ulp on [-708, 709]", "[core][fast_math]") {
    std::vector<double> x;
    for (int i = 0; i <= 100000; ++i) x.push_back(-708.0 + 1417.0 * i / 100000);
    for (int j = 1; j <= 60; ++j) x.insert(x.end(), {std::ldexp(1.0, -j), -std::ldexp(1.0, -j)});
    double worst = 0, worst_x = 0;
    for (double v : x) {
        const double e = rel_err(exp_fast(v), std::exp(v));
        if (e > worst) worst = e, worst_x = v;
    }
    CAPTURE(worst / DBL_EPSILON, worst_x);
    REQUIRE(worst <= 4 * DBL_EPSILON);
    REQUIRE(exp_fast(0.0) == 1.0);
    // Outside the range the argument is clamped, never overflowed into inf or flushed to 0.
    REQUIRE(exp_fast(1000.0) == exp_fast(709.0));
    REQUIRE(exp_fast(-1000.0) == exp_fast(-708.0));
}

TEST_CASE("normal_quantile inverts Phi from 1e-300 to 1 - 1e-16", "[core][fast_math]") {
    // Phi(z) = erfc(-z/sqrt2)/2. In the tails a relative error d in z moves Phi by about z^2 d
    // (phi/Phi ~ |z|), and z itself carries half an ulp, so the attainable relative error in Phi
    // grows as z^2: allow 8 eps (1 + z^2). That is below 1e-13 for |z| < 7.5 (p > 3e-14).
    const auto tol = [](double z) { return 8 * DBL_EPSILON * (1 + z * z); };
    double worst = 0;  // worst error relative to its tolerance
    for (double p : log_grid(1e-300, 0.5, 100000)) {  // lower tail and centre: compare p
        const double z = normal_quantile(p);
        const double e = rel_err(0.5 * std::erfc(-z / std::sqrt(2.0)), p);
        worst = std::max(worst, e / tol(z));
    }
    for (int i = 0; i <= 100000; ++i) {  // centre, uniform in p
        const double p = 0.01 + 0.98 * i / 100000;
        const double z = normal_quantile(p);
        const double e = p <= 0.5 ? rel_err(0.5 * std::erfc(-z / std::sqrt(2.0)), p)
                                  : rel_err(0.5 * std::erfc(z / std::sqrt(2.0)), 1 - p);
        worst = std::max(worst, e / tol(z));
    }
    for (double t : log_grid(1e-16, 0.5, 100000)) {  // upper tail: compare 1 - p (exact for p >= 1/2)
        const double p = 1 - t, z = normal_quantile(p);
        const double e = rel_err(0.5 * std::erfc(z / std::sqrt(2.0)), 1 - p);
        worst = std::max(worst, e / tol(z));
    }
    CAPTURE(worst);
    REQUIRE(worst <= 1.0);
}

TEST_CASE("normal_quantile is odd about 1/2 and hits known values", "[core][fast_math]") {
    for (int k = 1; k < 1024; ++k) {
        const double p = k / 1024.0, z = normal_quantile(p);
        CAPTURE(p);
        REQUIRE(std::abs(normal_quantile(1 - p) + z) <= 1e-15 * std::abs(z));
    }
    REQUIRE(normal_quantile(0.5) == 0.0);
    REQUIRE(normal_quantile(0.975) == Approx(1.959963984540054).epsilon(1e-15));
    REQUIRE(normal_quantile(0.025) == Approx(-1.959963984540054).epsilon(1e-15));
    REQUIRE(normal_quantile(0.8413447460685429) == Approx(1.0).epsilon(1e-15));  // Phi(1)
}


TEST_CASE("cos_2pi matches cos(2 pi u) to 2 ulp of 1 for |u| <= 3", "[core][fast_math]") {
    const long double two_pi = 6.283185307179586476925286766559L;
    double worst = 0;
    for (int i = -300000; i <= 300000; ++i) {
        const double u = i / 100000.0 + 1e-7 * (i % 7);  // off the dyadic grid too
        const double want = static_cast<double>(std::cos(two_pi * static_cast<long double>(u)));
        worst = std::max(worst, std::abs(cos_2pi(u) - want));
    }
    REQUIRE(worst <= 2 * DBL_EPSILON);
    REQUIRE(cos_2pi(0.0) == 1.0);
    REQUIRE(cos_2pi(0.5) == -1.0);
    REQUIRE(std::abs(cos_2pi(0.25)) <= DBL_EPSILON);
}
