#include "flashmc/mc/refresh.hpp"

#include <algorithm>
#include <bit>
#include <boost/random/beta_distribution.hpp>
#include <cmath>
#include <limits>

#include "flashmc/core/error.hpp"
#include "flashmc/core/rng.hpp"

namespace flashmc::mc {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::uint64_t kRefreshStreamTag = 0x7265667265736831;  // "refresh1": apart from the chips' keys

struct TimePoint {
    double time_s;
    long passing, n;
};
}  // namespace

void monotone_yields(std::span<double> y, std::span<const double> w) {
    // Pool adjacent violators: blocks of (weighted mean, weight, length), merged while a later block
    // lies above an earlier one.
    struct Block {
        double mean, weight;
        std::size_t len;
    };
    std::vector<Block> b;
    for (std::size_t i = 0; i < y.size(); ++i) {
        b.push_back({y[i], w[i], 1});
        while (b.size() > 1 && b[b.size() - 2].mean < b.back().mean) {
            Block& a = b[b.size() - 2];
            const Block c = b.back();
            a.mean = (a.mean * a.weight + c.mean * c.weight) / (a.weight + c.weight);
            a.weight += c.weight, a.len += c.len;
            b.pop_back();
        }
    }
    std::size_t i = 0;
    for (const Block& k : b)
        for (std::size_t j = 0; j < k.len; ++j) y[i++] = k.mean;
}

double refresh_crossing(std::span<const double> t, std::span<const double> y, double target, Censoring& censoring) {
    if (t.size() != y.size() || t.empty()) fail("refresh_crossing: ", t.size(), " times and ", y.size(), " yields");
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (!(t[i] > 0) || (i > 0 && !(t[i] > t[i - 1]))) fail("refresh_crossing: times must be positive and ascending");
        if (!(y[i] < target)) continue;
        if (i == 0) {
            censoring = Censoring::below_first;
            return std::nan("");
        }
        censoring = Censoring::none;
        const double f = (y[i - 1] - target) / (y[i - 1] - y[i]);  // in [0, 1): y[i-1] >= target > y[i]
        return std::exp(std::log(t[i - 1]) + f * std::log(t[i] / t[i - 1]));
    }
    censoring = Censoring::beyond_last;
    return std::nan("");
}

std::vector<RefreshInterval> refresh_intervals(const SweepResults& r, std::span<const double> targets, int resamples) {
    std::vector<RefreshInterval> out;
    const auto ta = std::find_if(r.axes.begin(), r.axes.end(), [](const AxisRecord& a) { return a.parameter == kRetentionTimeParameter; });
    if (ta == r.axes.end() || std::isnan(r.spec_accuracy) || resamples < 1) return out;
    const std::size_t A = r.axes.size(), time_axis = static_cast<std::size_t>(ta - r.axes.begin());

    // Groups of points sharing the other axes' values, in point order; each its (time, chips) list.
    std::vector<std::vector<double>> keys;
    std::vector<std::vector<TimePoint>> groups;
    for (long p = 0; p < r.points; ++p) {
        std::vector<double> key(r.point_values.begin() + static_cast<long>(p * A), r.point_values.begin() + static_cast<long>((p + 1) * A));
        const double t = key[time_axis];
        key[time_axis] = std::nan("");
        auto same = [&](const std::vector<double>& k) {
            for (std::size_t i = 0; i < A; ++i)
                if (i != time_axis && k[i] != key[i]) return false;
            return true;
        };
        auto g = std::find_if(keys.begin(), keys.end(), same);
        if (g == keys.end()) {
            keys.push_back(key);
            groups.emplace_back();
            g = keys.end() - 1;
        }
        const YieldStats y = yield_stats(r.point_accuracies(p), r.spec_accuracy);
        if (t > 0 && y.n > 0) groups[static_cast<std::size_t>(g - keys.begin())].push_back({t, y.passing, y.n});
    }

    for (std::size_t g = 0; g < groups.size(); ++g) {
        auto& pts = groups[g];
        std::sort(pts.begin(), pts.end(), [](const TimePoint& a, const TimePoint& b) { return a.time_s < b.time_s; });
        if (pts.empty()) continue;
        std::vector<double> t, y(pts.size()), w;
        for (const auto& p : pts) t.push_back(p.time_s), w.push_back(double(p.n));
        for (std::size_t k = 0; k < targets.size(); ++k) {
            RefreshInterval ri;
            ri.group = keys[g];
            ri.yield_target = targets[k];
            // Keyed by the target's value, so that a target gives the same numbers whatever others are asked.
            Stream s = Streams(r.seed).at({kRefreshStreamTag, g, std::bit_cast<std::uint64_t>(targets[k])});
            std::vector<double> boot(static_cast<std::size_t>(resamples));
            for (auto& b : boot) {
                for (std::size_t i = 0; i < pts.size(); ++i) {
                    const double pass = double(pts[i].passing) + 0.5, fail = double(pts[i].n - pts[i].passing) + 0.5;
                    y[i] = boost::random::beta_distribution<double>(pass, fail)(s);
                }
                monotone_yields(y, w);
                Censoring c;
                b = refresh_crossing(t, y, targets[k], c);
                if (c == Censoring::below_first) b = 0;
                if (c == Censoring::beyond_last) b = kInf;
            }
            std::sort(boot.begin(), boot.end());
            const double last = double(resamples - 1);
            auto order = [&](double q) { return boot[static_cast<std::size_t>(q)]; };
            ri.ci = {order(std::floor(0.025 * last)), order(std::ceil(0.975 * last))};
            ri.time_s = order(std::floor(0.5 * last));
            ri.censoring = ri.time_s == 0 ? Censoring::below_first : std::isinf(ri.time_s) ? Censoring::beyond_last : Censoring::none;
            if (ri.censoring != Censoring::none) ri.time_s = std::nan("");
            out.push_back(std::move(ri));
        }
    }
    return out;
}

}  // namespace flashmc::mc
