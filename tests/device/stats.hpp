#pragma once
// Small statistics for the device tests: moments with their standard errors and Kolmogorov–Smirnov
// statistics. Tolerances are k standard errors of the sample size at fixed seeds.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "flashmc/device/card.hpp"

namespace flashmc::test {

inline double mean(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
}

inline double sd(const std::vector<double>& v) {
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// Standard error of the sample variance: sqrt((μ4 − σ⁴)/N).
inline double variance_se(const std::vector<double>& v) {
    const double m = mean(v);
    double s2 = 0, s4 = 0;
    for (double x : v) {
        const double d2 = (x - m) * (x - m);
        s2 += d2;
        s4 += d2 * d2;
    }
    const double n = static_cast<double>(v.size());
    s2 /= n, s4 /= n;
    return std::sqrt((s4 - s2 * s2) / n);
}

// One-sample KS statistic sup |F_n − F|.
inline double ks_statistic(std::vector<double> v, const std::function<double(double)>& cdf) {
    std::sort(v.begin(), v.end());
    const double n = static_cast<double>(v.size());
    double d = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const double f = cdf(v[i]);
        d = std::max({d, (i + 1) / n - f, f - i / n});
    }
    return d;
}

// Two-sample KS statistic.
inline double ks_statistic(std::vector<double> a, std::vector<double> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    std::size_t i = 0, j = 0;
    double d = 0;
    while (i < a.size() && j < b.size()) {
        const double x = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= x) ++i;
        while (j < b.size() && b[j] <= x) ++j;
        d = std::max(d, std::abs(double(i) / a.size() - double(j) / b.size()));
    }
    return d;
}

// KS critical values at significance 0.001 (c = sqrt(−ln(α/2)/2) = 1.949).
inline double ks_critical(std::size_t n) { return 1.949 / std::sqrt(double(n)); }
inline double ks_critical(std::size_t n, std::size_t m) { return 1.949 * std::sqrt(double(n + m) / (double(n) * m)); }

inline double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// The built-in defaults with every noise source and variation off: the starting point of tests
// that switch on one effect at a time.
inline device::Card quiet_card() {
    device::Card c;
    c.variation = {0, 0, 0, 0};
    c.erase.over_erase_fraction = 0;
    c.program.efficiency_sigma = 0;
    c.program.injection_fano = 0;
    c.read_noise = {0, 0, 0};
    c.retention.beta_sigma_ln = 0;
    c.retention.tail_fraction = 0;
    c.read_disturb.rate_sigma_ln = 0;
    return c;
}

}  // namespace flashmc::test
