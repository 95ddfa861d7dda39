#include "flashmc/mc/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

#include "flashmc/core/error.hpp"

namespace flashmc::mc {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double student_t_quantile(double p, double df) {
    if (!(df > 0)) fail("student_t_quantile: degrees of freedom must be > 0, got ", df);
    return boost::math::quantile(boost::math::students_t_distribution<double>(df), p);
}

double percentile_sorted(std::span<const double> v, double q) {
    if (v.empty()) fail("percentile of an empty sample");
    const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    if (i + 1 >= v.size()) return v.back();
    const double f = pos - static_cast<double>(i);
    return v[i] + f * (v[i + 1] - v[i]);
}

AccuracyStats accuracy_stats(std::span<const double> a) {
    AccuracyStats s;
    s.n = static_cast<long>(a.size());
    if (a.empty()) {
        s.mean = s.std = s.min = s.p5 = s.p50 = s.p95 = kNaN;
        s.ci = {kNaN, kNaN};
        return s;
    }
    const double n = static_cast<double>(a.size());
    double sum = 0;
    for (double x : a) sum += x;
    s.mean = sum / n;
    double ss = 0;
    for (double x : a) ss += (x - s.mean) * (x - s.mean);
    s.std = a.size() > 1 ? std::sqrt(ss / (n - 1)) : kNaN;
    std::vector<double> v(a.begin(), a.end());
    std::sort(v.begin(), v.end());
    s.min = v.front();
    s.p5 = percentile_sorted(v, 5), s.p50 = percentile_sorted(v, 50), s.p95 = percentile_sorted(v, 95);
    if (a.size() > 1) {
        s.half = student_t_quantile(0.975, n - 1) * s.std / std::sqrt(n);
        s.ci = {std::max(0.0, s.mean - s.half), std::min(1.0, s.mean + s.half)};
    } else {
        s.half = kNaN;
        s.ci = {kNaN, kNaN};
    }
    return s;
}

Interval mean_one_sided_bounds(std::span<const double> x, double confidence) {
    if (!(confidence > 0 && confidence < 1)) fail("mean_one_sided_bounds: confidence must be in (0, 1), got ", confidence);
    if (x.size() < 2) return {kNaN, kNaN};
    const double n = static_cast<double>(x.size());
    double sum = 0;
    for (double v : x) sum += v;
    const double mean = sum / n;
    double ss = 0;
    for (double v : x) ss += (v - mean) * (v - mean);
    const double h = student_t_quantile(confidence, n - 1) * std::sqrt(ss / (n - 1)) / std::sqrt(n);
    return {mean - h, mean + h};
}

Interval clopper_pearson_bounds(long k, long n, double confidence) {
    if (!(confidence > 0 && confidence < 1)) fail("clopper_pearson_bounds: confidence must be in (0, 1), got ", confidence);
    if (n <= 0 || k < 0 || k > n) fail("clopper_pearson_bounds: need 0 <= k <= n and n > 0, got k = ", k, ", n = ", n);
    const double kk = static_cast<double>(k), nn = static_cast<double>(n);
    const double lo = k == 0 ? 0.0 : boost::math::ibeta_inv(kk, nn - kk + 1, 1 - confidence);
    const double hi = k == n ? 1.0 : boost::math::ibeta_inv(kk + 1, nn - kk, confidence);
    return {lo, hi};
}

Interval wilson_interval(long k, long n, double z) {
    if (n <= 0) return {kNaN, kNaN};
    const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
    const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

YieldStats yield_stats(std::span<const double> a, double spec) {
    YieldStats y;
    y.n = static_cast<long>(a.size());
    if (std::isnan(spec) || a.empty()) {
        y.fraction = kNaN;
        y.ci = {kNaN, kNaN};
        return y;
    }
    for (double x : a) y.passing += x >= spec;
    y.fraction = static_cast<double>(y.passing) / static_cast<double>(y.n);
    y.ci = wilson_interval(y.passing, y.n);
    return y;
}

DropStats paired_drop(std::span<const std::uint8_t> labels, std::span<const std::int8_t> ideal,
                      const std::vector<std::span<const std::int8_t>>& chips) {
    DropStats d;
    const std::size_t n = labels.size();
    if (ideal.size() != n) fail("paired_drop: ", ideal.size(), " ideal predictions for ", n, " labels");
    if (n == 0) fail("paired_drop: no images");
    long ideal_hits = 0;
    for (std::size_t i = 0; i < n; ++i) ideal_hits += ideal[i] == static_cast<std::int8_t>(labels[i]);
    d.ideal_accuracy = static_cast<double>(ideal_hits) / static_cast<double>(n);
    const std::size_t t_count = chips.size();
    if (t_count == 0) {
        d.drop = kNaN;
        d.ci = {kNaN, kNaN};
        return d;
    }
    // D_i·T as integers (exact), and the per-chip drops.
    std::vector<long> d_sum(n, 0);
    std::vector<double> chip_drop(t_count);
    std::vector<std::uint8_t> changed(n, 0);
    for (std::size_t t = 0; t < t_count; ++t) {
        if (chips[t].size() != n) fail("paired_drop: chip ", t, " has ", chips[t].size(), " predictions for ", n, " images");
        long diff = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (chips[t][i] == ideal[i]) continue;
            changed[i] = 1;
            const int lab = labels[i];
            const int delta = (ideal[i] == lab) - (chips[t][i] == lab);  // +1: b, −1: c
            d_sum[i] += delta;
            diff += delta;
        }
        chip_drop[t] = static_cast<double>(diff) / static_cast<double>(n);
    }
    for (auto c : changed) d.changed_images += c;
    const double nn = static_cast<double>(n), tt = static_cast<double>(t_count);
    double total = 0;
    for (double x : chip_drop) total += x;
    d.drop = total / tt;
    double ss_img = 0;
    for (long s : d_sum) {
        const double di = static_cast<double>(s) / tt - d.drop;
        ss_img += di * di;
    }
    double var = n > 1 ? ss_img / (nn - 1) / nn : 0.0;
    if (t_count > 1) {
        double ss_chip = 0;
        for (double x : chip_drop) ss_chip += (x - d.drop) * (x - d.drop);
        var += ss_chip / (tt - 1) / tt;
    }
    const double h = kZ95 * std::sqrt(var);
    d.ci = {d.drop - h, d.drop + h};
    return d;
}

}  // namespace flashmc::mc
