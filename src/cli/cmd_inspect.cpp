// flashmc inspect: a readable per-point summary of a sweep result file.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/mc/refresh.hpp"
#include "flashmc/mc/sweep.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc inspect F.h5 [--layers] [--yield Y ...]

Prints a sweep file's provenance and one row per point: trials, mean accuracy with its 95 %
interval, std, min, 5th/50th/95th percentiles, the paired drop against the ideal quantized model
with its interval, and yield against the spec accuracy. --layers adds the mean RMS relative error
of each analog layer's matrix-vector products.
A retention sweep (an axis on chip.retention_time_s, a spec accuracy) also gets its refresh
intervals: per setting of the other axes (e.g. temperature), the retention time at which the yield
first falls below each target (--yield, repeatable; default 0.99 and 0.9), interpolated in log time between the
sweep's times, with a 95 % bootstrap interval over the chips (docs/results-format.md). This is the
re-programming interval a product at that condition needs; complete files store them in /refresh.)";

std::string pct(double v) {
    if (std::isnan(v)) return "-";
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", 100 * v);
    return b;
}

std::string duration(double s) {
    char b[48];
    const double day = 86400, year = 365 * day;
    if (s >= year) std::snprintf(b, sizeof b, "%.3g yr", s / year);
    else if (s >= day) std::snprintf(b, sizeof b, "%.3g d", s / day);
    else if (s >= 3600) std::snprintf(b, sizeof b, "%.3g h", s / 3600);
    else std::snprintf(b, sizeof b, "%.3g s", s);
    return b;
}

void print_refresh(const mc::SweepResults& r, const std::vector<double>& targets) {
    const auto ri = mc::refresh_intervals(r, targets);
    if (ri.empty()) return;
    std::printf("\nrefresh interval: retention time at which the yield (accuracy >= %s%%) first falls below the target;\n"
                "median and 95%% interval of a Bayesian bootstrap over the chips (%d draws), log-time interpolation%s\n",
                pct(r.spec_accuracy).c_str(), mc::kRefreshResamples, r.complete() ? "" : "; the file is incomplete");
    // The time axis's first and last positive values (the censoring bounds).
    double first = 0, last = 0;
    for (const auto& ax : r.axes)
        if (ax.parameter == mc::kRetentionTimeParameter)
            for (double t : ax.values)
                if (t > 0) first = first == 0 ? t : std::min(first, t), last = std::max(last, t);
    for (const auto& x : ri) {
        std::string where;
        for (std::size_t i = 0; i < r.axes.size(); ++i)
            if (!std::isnan(x.group[i])) {
                char b[64];
                std::snprintf(b, sizeof b, "%s%s = %g", where.empty() ? "" : ", ", r.axes[i].name.c_str(), x.group[i]);
                where += b;
            }
        auto bound = [&](double t) { return t == 0 ? "< " + duration(first) : std::isinf(t) ? "> " + duration(last) : duration(t); };
        const std::string est = x.censoring == mc::Censoring::below_first   ? "< " + duration(first)
                                : x.censoring == mc::Censoring::beyond_last ? "> " + duration(last)
                                                                            : duration(x.time_s);
        std::printf("  %-32s yield %6s%%: %-10s 95%% CI %s .. %s\n", where.c_str(), pct(x.yield_target).c_str(), est.c_str(),
                    bound(x.ci.lo).c_str(), bound(x.ci.hi).c_str());
    }
}

int run(Args& a) {
    const bool layers = a.flag("layers");
    std::vector<double> targets(std::begin(mc::kRefreshYieldTargets), std::end(mc::kRefreshYieldTargets));
    if (const auto ys = a.all("yield"); !ys.empty()) {
        targets.clear();
        for (const std::string& v : ys) {
            std::size_t pos = 0;
            double t = std::nan("");
            try {
                t = std::stod(v, &pos);
            } catch (const std::exception&) {
            }
            if (pos != v.size() || !(t > 0 && t <= 1)) fail("inspect: --yield '", abbreviate(v), "' is not a yield in (0, 1]");
            targets.push_back(t);
        }
    }
    a.finish(1);
    if (a.positional().size() != 1) fail("inspect: expects one sweep file; see flashmc help inspect");
    const std::string path = a.positional()[0];
    const mc::SweepResults r = mc::read_results(path);
    const mc::DropStats ideal = mc::paired_drop(r.labels, r.ideal_predictions, {});
    std::printf("%s: sweep '%s' (%s), seed %llu, %ld images, %ld of %ld units done%s\n", path.c_str(), r.name.c_str(),
                r.source.c_str(), static_cast<unsigned long long>(r.seed), r.images, r.units_done(), r.points * r.capacity,
                r.complete() ? " (complete)" : " (incomplete)");
    if (r.shard_count > 1) std::printf("shard %d/%d\n", r.shard_index, r.shard_count);
    std::printf("model %s, ideal (digital) accuracy %s%%; analog layers: %zu\n", r.model_file.c_str(), pct(ideal.ideal_accuracy).c_str(),
                r.layer_names.size());
    if (!std::isnan(r.spec_accuracy)) std::printf("spec accuracy for yield: %s%%\n", pct(r.spec_accuracy).c_str());
    std::printf("wall time %.1f s (ideal model %.1f s)\n", r.elapsed_seconds, r.ideal_seconds);
    std::printf("accuracies in %%\n");
    std::string head;
    for (const auto& ax : r.axes) {
        char b[64];
        std::snprintf(b, sizeof b, "%14s ", ax.name.c_str());
        head += b;
    }
    std::printf("%5s %s%6s %7s %16s %6s %6s %6s %6s %6s %7s %16s %7s %16s\n", "point", head.c_str(), "trials", "mean", "95% CI", "std",
                "min", "p5", "p50", "p95", "drop", "drop 95% CI", "yield", "yield 95% CI");
    const std::size_t A = r.axes.size();
    for (long p = 0; p < r.points; ++p) {
        const mc::PointStats s = mc::point_stats(r, p);
        std::string vals;
        for (std::size_t i = 0; i < A; ++i) {
            char b[64];
            std::snprintf(b, sizeof b, "%14.6g ", r.point_values[static_cast<std::size_t>(p) * A + i]);
            vals += b;
        }
        const std::string ci = pct(s.accuracy.ci.lo) + "-" + pct(s.accuracy.ci.hi);
        const std::string dci = pct(s.drop.ci.lo) + ".." + pct(s.drop.ci.hi);
        const std::string yci = pct(s.yield.ci.lo) + "-" + pct(s.yield.ci.hi);
        std::printf("%5ld %s%6ld %7s %16s %6s %6s %6s %6s %6s %7s %16s %7s %16s\n", p, vals.c_str(), s.accuracy.n,
                    pct(s.accuracy.mean).c_str(), ci.c_str(), pct(s.accuracy.std).c_str(), pct(s.accuracy.min).c_str(),
                    pct(s.accuracy.p5).c_str(), pct(s.accuracy.p50).c_str(), pct(s.accuracy.p95).c_str(), pct(s.drop.drop).c_str(),
                    dci.c_str(), pct(s.yield.fraction).c_str(), yci.c_str());
        if (layers)
            for (long l = 0; l < r.layers(); ++l)
                std::printf("        %-24s RMS relative MVM error %.4g\n", r.layer_names[static_cast<std::size_t>(l)].c_str(),
                            s.layer_error_mean[static_cast<std::size_t>(l)]);
    }
    print_refresh(r, targets);
    return 0;
}

const Registration reg({"inspect", "summarize a sweep result file (per-point accuracy, drop, yield)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
