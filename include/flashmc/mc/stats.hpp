#pragma once
// Statistics of a Monte Carlo point: accuracy over sampled chips, the accuracy drop against the
// ideal (digital) quantized model on the same images, and yield. Conventions (docs/results-format.md):
//   - std is the sample standard deviation (n − 1); percentiles interpolate linearly between order
//     statistics (NumPy's default, "type 7");
//   - the 95 % interval of the mean is mean ± t(0.975, n − 1)·s/√n (Student t); NaN for n < 2;
//   - yield is the fraction of chips with accuracy ≥ the spec accuracy, with a 95 % Wilson score
//     interval (Wilson 1927), which stays inside [0, 1] and is sensible at 0 and n.
#include <cstdint>
#include <span>
#include <vector>

namespace flashmc::mc {

struct Interval {
    double lo, hi;
};

// Two-sided 95 % normal quantile.
inline constexpr double kZ95 = 1.959963984540054;

// Quantile p of Student's t distribution with `df` degrees of freedom (Boost.Math).
double student_t_quantile(double p, double df);
// Linear-interpolation percentile (q in [0, 100]) of an ascending-sorted, non-empty sample.
double percentile_sorted(std::span<const double> sorted, double q);

struct AccuracyStats {
    long n = 0;
    double mean = 0, std = 0, min = 0, p5 = 0, p50 = 0, p95 = 0;
    double half = 0;    // t(0.975, n − 1)·s/√n, the half-width adaptive stopping compares
    Interval ci{0, 0};  // 95 % interval of the mean, mean ± half clipped to [0, 1] (an accuracy)
    double half_width() const { return half; }
};
AccuracyStats accuracy_stats(std::span<const double> accuracy);

// One-sided confidence bounds for requirements (mc/requirements.hpp). Each side holds on its own at
// `confidence` c: P(true value < lo) <= 1 − c and P(true value > hi) <= 1 − c.
//   - mean of a sample: mean ∓ t(c, n − 1)·s/√n (Student t); {NaN, NaN} for n < 2;
//   - binomial proportion k/n: exact Clopper–Pearson (1934) bounds, lo = B⁻¹(1 − c; k, n − k + 1)
//     (0 when k = 0) and hi = B⁻¹(c; k + 1, n − k) (1 when k = n), B⁻¹ the beta quantile.
Interval mean_one_sided_bounds(std::span<const double> sample, double confidence);
Interval clopper_pearson_bounds(long k, long n, double confidence);

// 95 % Wilson score interval of a proportion k/n.
Interval wilson_interval(long k, long n, double z = kZ95);

struct YieldStats {
    long passing = 0, n = 0;
    double fraction = 0;
    Interval ci{0, 0};
};
YieldStats yield_stats(std::span<const double> accuracy, double spec_accuracy);

// The accuracy drop of T chips against the ideal model on the same N images, paired image by image.
// Per chip t: drop_t = (b_t − c_t)/N, b_t the images the ideal model gets right and the chip wrong,
// c_t the reverse (only images whose prediction changed contribute). The estimate is the mean of
// drop_t. Its 95 % interval is drop ± z·SE with SE² = s_D²/N + s_chip²/T, where D_i is image i's
// drop averaged over the chips and s_chip the spread of drop_t (the crossed-design variance of a
// grand mean, slightly conservative); for one chip SE² = s_D²/N, the paired (McNemar) interval.
struct DropStats {
    double ideal_accuracy = 0;
    double drop = 0;
    Interval ci{0, 0};
    long changed_images = 0;  // images whose prediction differs from the ideal on at least one chip
};
// chip_predictions: T rows of N predicted classes.
DropStats paired_drop(std::span<const std::uint8_t> labels, std::span<const std::int8_t> ideal_predictions,
                      const std::vector<std::span<const std::int8_t>>& chip_predictions);

}  // namespace flashmc::mc
