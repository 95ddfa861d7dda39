#pragma once
// The refresh (re-programming) interval a product needs, read off a retention sweep: for each
// setting of the sweep's other axes (e.g. the bake temperature), the retention time at which the
// yield — the fraction of sampled chips whose accuracy is at least the spec accuracy — first falls
// below a target (99 %, 90 %, ...).
//
//   - The yields y_i = k_i/n_i at times t_i > 0 (ascending; points without done chips skipped) are
//     drawn and made non-increasing in time, as charge loss is, by weighted isotonic regression
//     (pool adjacent violators, weights n_i; Barlow et al. 1972): a later point above an earlier
//     one is sampling noise, and pooling keeps one noisy point from deciding the crossing. The
//     fitted curve is scanned for the first i with y_i < target, and the crossing interpolated
//     linearly in log time: ln t = ln t_{i−1} + (y_{i−1} − target)/(y_{i−1} − y_i)·ln(t_i/t_{i−1}).
//     Censored: below the target already at the first time (t < t_0) or never (t > the last time).
//   - The yields are drawn by a smoothed (Bayesian) bootstrap over the chips: `resamples` times,
//     each point's yield from Beta(k + ½, n − k + ½), the Jeffreys posterior of k passing chips out
//     of n (Rubin 1981's Bayesian bootstrap of pass/fail outcomes, with Jeffreys' prior),
//     independently per point (each point's chips draw from their own (point, trial) streams).
//     The refresh interval t* is the median of the draws' crossings, its 95 % interval their 2.5th
//     and 97.5th percentiles (order statistics ⌊q·(B−1)⌋, ⌈q·(B−1)⌉ for the upper), a censored draw
//     counting as 0 (below) or +∞ (beyond); so the interval always holds t*. Unlike resampling the
//     chips with replacement, this stays honest where all of a point's chips pass: 8 of 8 passing
//     does not show a 99 % yield (zero failures in n chips show a yield y at 95 % confidence only
//     for n ≥ ln 0.05 / ln y: 299 chips for 99 %). The draws derive from the sweep seed, the group
//     and the target's value, so a file gives the same numbers on every read, whatever other
//     targets are asked with it.
//   - The interval captures the chip sampling only: the interpolation between the sweep's times is
//     not an error bar; space the times densely where the yield falls (the sweep's time axis).
#include <span>
#include <vector>

#include "flashmc/mc/sweep.hpp"

namespace flashmc::mc {

inline constexpr const char* kRetentionTimeParameter = "chip.retention_time_s";
inline constexpr double kRefreshYieldTargets[] = {0.99, 0.90};
inline constexpr int kRefreshResamples = 2000;

enum class Censoring { none = 0, below_first = -1, beyond_last = 1 };

// The weighted isotonic (non-increasing) fit of y with weights w, in place.
void monotone_yields(std::span<double> y, std::span<const double> w);
// First crossing of `target` by yields[i] at ascending times[i] > 0 (see above); NaN when censored
// (then `censoring` says which side).
double refresh_crossing(std::span<const double> times_s, std::span<const double> yields, double target, Censoring& censoring);

struct RefreshInterval {
    std::vector<double> group;  // the point's values of the other axes, in axis order (time's slot NaN)
    double yield_target = 0;
    double time_s = 0;          // median of the draws; NaN when censored
    Censoring censoring = Censoring::none;
    Interval ci{0, 0};          // seconds; 0 = before the first time, +inf = after the last
};

// Empty unless the sweep has an axis on chip.retention_time_s and a spec accuracy. One entry per
// (group of the other axes, target), groups in point order, targets as given.
std::vector<RefreshInterval> refresh_intervals(const SweepResults& r, std::span<const double> yield_targets,
                                               int resamples = kRefreshResamples);

}  // namespace flashmc::mc
