#include "flashmc/mc/sweep.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/core/progress.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/chip.hpp"
#include "flashmc/mc/mpi.hpp"
#include "flashmc/mc/refresh.hpp"
#include "flashmc/nn/model_file.hpp"

namespace flashmc::mc {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;
}  // namespace

// ---- results ---------------------------------------------------------------------------------

std::vector<double> SweepResults::point_accuracies(long point) const {
    std::vector<double> a;
    for (long t = 0; t < capacity; ++t)
        if (done[unit(point, t)]) a.push_back(accuracy[unit(point, t)]);
    return a;
}

long SweepResults::planned_trials(long point) const {
    long n = std::min(trials, capacity);
    if (!adaptive) return n;
    while (n < capacity) {
        for (long t = 0; t < n; ++t)
            if (!done[unit(point, t)]) return n;
        std::vector<double> a(accuracy.begin() + static_cast<std::ptrdiff_t>(unit(point, 0)),
                              accuracy.begin() + static_cast<std::ptrdiff_t>(unit(point, n)));
        const AccuracyStats s = accuracy_stats(a);
        if (n >= 2 && s.half_width() <= adaptive_ci_half_width) return n;
        n = std::min(n + trials, capacity);
    }
    return n;
}

long SweepResults::units_done() const {
    long n = 0;
    for (auto d : done) n += d;
    return n;
}

bool SweepResults::complete() const {
    for (long p = 0; p < points; ++p) {
        const long n = planned_trials(p);
        for (long t = 0; t < n; ++t)
            if (!done[unit(p, t)] && static_cast<long>(unit(p, t)) % shard_count == shard_index) return false;
    }
    return true;
}

PointStats point_stats(const SweepResults& r, long p) {
    PointStats s;
    const auto acc = r.point_accuracies(p);
    s.accuracy = accuracy_stats(acc);
    s.yield = yield_stats(acc, r.spec_accuracy);
    std::vector<std::span<const std::int8_t>> chips;
    const auto n = static_cast<std::size_t>(r.images);
    s.layer_error_mean.assign(static_cast<std::size_t>(r.layers()), 0.0);
    for (long t = 0; t < r.capacity; ++t) {
        if (!r.done[r.unit(p, t)]) continue;
        chips.emplace_back(r.predictions.data() + r.unit(p, t) * n, n);
        for (long l = 0; l < r.layers(); ++l)
            s.layer_error_mean[static_cast<std::size_t>(l)] += r.layer_error[r.unit(p, t) * static_cast<std::size_t>(r.layers()) + static_cast<std::size_t>(l)];
    }
    for (auto& e : s.layer_error_mean) e = chips.empty() ? kNaN : e / static_cast<double>(chips.size());
    s.drop = paired_drop(r.labels, r.ideal_predictions, chips);
    return s;
}

namespace {

std::string join(const std::vector<std::string>& v, char sep) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : std::string(1, sep)) + x;
    return s;
}
std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    if (s.empty()) return out;
    std::string cur;
    for (char c : s) {
        if (c == sep) out.push_back(cur), cur.clear();
        else cur += c;
    }
    out.push_back(cur);
    return out;
}

}  // namespace

void write_results(const std::string& path, const SweepResults& r) {
    h5::AtomicWrite w(path);
    const h5::Group& root = w.root();
    h5::stamp(root, kSweepFiletype, kSweepSchemaVersion);
    root.set_attr("name", r.name);
    root.set_attr("sweep_file", r.source);
    root.set_attr("sweep_text", r.sweep_text);
    root.set_attr("card_text", r.card_text);
    root.set_attr("model_file", r.model_file);
    root.set_attr("model_sha256", r.model_sha256);
    root.set_attr("data_dir", r.data_dir);
    root.set_attr("dataset_sha256", r.dataset_sha256);
    root.set_attr("seed", static_cast<std::int64_t>(r.seed));
    root.set_attr("spec_accuracy", r.spec_accuracy);
    root.set_attr("adaptive", static_cast<std::int64_t>(r.adaptive));
    root.set_attr("adaptive_ci_half_width", r.adaptive_ci_half_width);
    root.set_attr("trials", static_cast<std::int64_t>(r.trials));
    root.set_attr("points", static_cast<std::int64_t>(r.points));
    root.set_attr("capacity", static_cast<std::int64_t>(r.capacity));
    root.set_attr("images", static_cast<std::int64_t>(r.images));
    root.set_attr("shard_index", r.shard_index);
    root.set_attr("shard_count", r.shard_count);
    root.set_attr("units_done", static_cast<std::int64_t>(r.units_done()));
    root.set_attr("complete", static_cast<std::int64_t>(r.complete()));

    const auto P = static_cast<hsize_t>(r.points), T = static_cast<hsize_t>(r.capacity),
               N = static_cast<hsize_t>(r.images), L = static_cast<hsize_t>(r.layers()),
               A = static_cast<hsize_t>(r.axes.size());
    h5::Group axes = root.create("axes");
    std::vector<std::string> names;
    for (const auto& a : r.axes) {
        axes.write(a.name, a.values);
        names.push_back(a.name);
    }
    axes.set_attr("names", join(names, ','));
    for (const auto& a : r.axes) {
        axes.set_attr(a.name + ".parameter", a.parameter);
        axes.set_attr(a.name + ".spacing", a.spacing);
    }
    root.write("point_values", r.point_values.data(), {P, A});

    root.write("labels", r.labels);
    root.write("ideal_predictions", r.ideal_predictions);
    root.set_attr("ideal_seconds", r.ideal_seconds);
    root.set_attr("elapsed_seconds", r.elapsed_seconds);
    root.write("done", r.done.data(), {P, T});
    root.write("accuracy", r.accuracy.data(), {P, T});
    root.write("predictions", r.predictions.data(), {P * T, N});
    root.write("stream_keys", r.stream_keys.data(), {P, T, L});
    root.write("unit_seconds", r.unit_seconds.data(), {P, T});

    h5::Group layers = root.create("layers");
    layers.set_attr("names", join(r.layer_names, ','));
    layers.write("nodes", r.layer_nodes);
    layers.write("rms_error", r.layer_error.data(), {P, T, L});

    // Per-point statistics (derived; recomputed on every write).
    h5::Group st = root.create("stats");
    std::vector<double> f[17];
    std::vector<double> lmean(P * L);
    for (long p = 0; p < r.points; ++p) {
        const PointStats s = point_stats(r, p);
        const double v[17] = {static_cast<double>(s.accuracy.n), s.accuracy.mean, s.accuracy.std, s.accuracy.min,
                              s.accuracy.p5, s.accuracy.p50, s.accuracy.p95, s.accuracy.ci.lo, s.accuracy.ci.hi,
                              s.drop.drop, s.drop.ci.lo, s.drop.ci.hi, static_cast<double>(s.drop.changed_images),
                              s.yield.fraction, s.yield.ci.lo, s.yield.ci.hi, static_cast<double>(r.planned_trials(p))};
        for (int i = 0; i < 17; ++i) f[i].push_back(v[i]);
        for (long l = 0; l < r.layers(); ++l) lmean[static_cast<std::size_t>(p * r.layers() + l)] = s.layer_error_mean[static_cast<std::size_t>(l)];
    }
    const char* names17[17] = {"trials", "mean", "std", "min", "p5", "p50", "p95", "ci_lo", "ci_hi", "drop", "drop_ci_lo",
                               "drop_ci_hi", "changed_images", "yield", "yield_lo", "yield_hi", "planned_trials"};
    for (int i = 0; i < 17; ++i) st.write(names17[i], f[i]);
    st.set_attr("ideal_accuracy", r.images > 0 ? paired_drop(r.labels, r.ideal_predictions, {}).ideal_accuracy : kNaN);
    layers.write("rms_error_mean", lmean.data(), {P, L});

    // Refresh intervals of a complete retention sweep (mc/refresh.hpp; derived, as /stats).
    if (r.complete()) {
        const auto ri = refresh_intervals(r, kRefreshYieldTargets);
        if (!ri.empty()) {
            h5::Group rg = root.create("refresh");
            rg.set_attr("parameter", kRetentionTimeParameter);
            rg.set_attr("resamples", static_cast<std::int64_t>(kRefreshResamples));
            std::vector<double> group, target, time, lo, hi;
            std::vector<std::int32_t> censoring;
            for (const auto& x : ri) {
                group.insert(group.end(), x.group.begin(), x.group.end());
                target.push_back(x.yield_target), time.push_back(x.time_s), lo.push_back(x.ci.lo), hi.push_back(x.ci.hi);
                censoring.push_back(static_cast<std::int32_t>(x.censoring));
            }
            rg.write("group", group.data(), {static_cast<hsize_t>(ri.size()), A});
            rg.write("yield_target", target);
            rg.write("time_s", time);
            rg.write("censoring", censoring);
            rg.write("ci_lo_s", lo);
            rg.write("ci_hi_s", hi);
        }
    }
    w.commit();
}

SweepResults read_results(const std::string& path) {
    h5::Group root = h5::open_read(path);
    if (!root.has_attr("filetype") || root.attr_string("filetype") != kSweepFiletype)
        fail(path, ": not a flashmc sweep file (filetype '", root.has_attr("filetype") ? abbreviate(root.attr_string("filetype")) : "", "')");
    if (const auto version = root.attr_int("schema_version"); version != kSweepSchemaVersion)
        fail(path, ": sweep schema version ", version, " is not supported (expected ", kSweepSchemaVersion, ")");
    SweepResults r;
    r.name = root.attr_string("name");
    r.source = root.attr_string("sweep_file");
    r.sweep_text = root.attr_string("sweep_text");
    r.card_text = root.attr_string("card_text");
    r.model_file = root.attr_string("model_file");
    r.model_sha256 = root.attr_string("model_sha256");
    r.data_dir = root.attr_string("data_dir");
    r.dataset_sha256 = root.attr_string("dataset_sha256");
    // Every attribute within the range a sweep writes; sizes within the limits before any dataset is read.
    r.seed = static_cast<std::uint64_t>(root.attr_int("seed", 0, INT64_MAX));
    r.spec_accuracy = root.attr_double("spec_accuracy");
    if (!std::isnan(r.spec_accuracy) && !(r.spec_accuracy >= 0 && r.spec_accuracy <= 1))
        fail(path, ": attribute 'spec_accuracy' = ", r.spec_accuracy, " is neither NaN (no yield) nor in [0, 1]");
    r.adaptive = root.attr_int("adaptive", 0, 1) != 0;
    r.adaptive_ci_half_width = root.attr_double("adaptive_ci_half_width");
    if (r.adaptive && !(r.adaptive_ci_half_width > 0 && r.adaptive_ci_half_width <= 1))
        fail(path, ": attribute 'adaptive_ci_half_width' = ", r.adaptive_ci_half_width, " is out of range (0, 1]");
    r.trials = root.attr_int("trials", 1, kMaxTrials);
    r.points = root.attr_int("points", 1, kMaxPoints);
    r.capacity = root.attr_int("capacity", 1, kMaxTrials);
    r.images = root.attr_int("images", 1, kMaxImages);
    if (r.points * r.capacity > kMaxUnits) fail(path, ": ", r.points, " points x ", r.capacity, " trials exceed ", kMaxUnits, " chips");
    if (r.points * r.capacity * r.images > kMaxPredictions)
        fail(path, ": ", r.points * r.capacity, " chips x ", r.images, " images exceed ", kMaxPredictions, " predictions");
    r.shard_count = static_cast<int>(root.attr_int("shard_count", 1, 1 << 20));
    r.shard_index = static_cast<int>(root.attr_int("shard_index", 0, r.shard_count - 1));
    r.ideal_seconds = root.attr_double("ideal_seconds");
    r.elapsed_seconds = root.has_attr("elapsed_seconds") ? root.attr_double("elapsed_seconds") : 0.0;

    h5::Group axes = root.open("axes");
    long grid = 1;
    for (const auto& n : split(axes.attr_string("names"), ',')) {
        AxisRecord a;
        a.name = n;
        a.parameter = axes.attr_string(n + ".parameter");
        a.spacing = axes.attr_string(n + ".spacing");
        const h5::Dims d = axes.shape(n);
        if (d.size() != 1 || d[0] < 1 || static_cast<long>(d[0]) > r.points / grid)
            fail(path, ": axis '", abbreviate(n), "' has ", d.size() == 1 ? std::to_string(d[0]) : "a non-list of", " values for ", r.points, " points");
        grid *= static_cast<long>(d[0]);
        a.values = axes.read_shaped<double>(n, d);
        for (double v : a.values)
            if (!std::isfinite(v)) fail(path, ": axis '", abbreviate(n), "' holds the value ", v, ", expected a finite number");
        r.axes.push_back(std::move(a));
    }
    if (grid != r.points) fail(path, ": the axes make ", grid, " points, the file says ", r.points);
    h5::Group layers = root.open("layers");
    r.layer_names = split(layers.attr_string("names"), ',');
    if (r.layers() > nn::kMaxNodes) fail(path, ": ", r.layers(), " analog layers, more than a model has nodes");
    const auto P = static_cast<hsize_t>(r.points), T = static_cast<hsize_t>(r.capacity), N = static_cast<hsize_t>(r.images),
               L = static_cast<hsize_t>(r.layers()), A = static_cast<hsize_t>(r.axes.size());
    r.point_values = root.read_shaped<double>("point_values", {P, A});
    r.labels = root.read_shaped<std::uint8_t>("labels", {N});
    r.ideal_predictions = root.read_shaped<std::int8_t>("ideal_predictions", {N});
    r.done = root.read_shaped<std::uint8_t>("done", {P, T});
    r.accuracy = root.read_shaped<double>("accuracy", {P, T});
    r.predictions = root.read_shaped<std::int8_t>("predictions", {P * T, N});
    r.stream_keys = root.read_shaped<std::uint64_t>("stream_keys", {P, T, L});
    r.unit_seconds = root.read_shaped<double>("unit_seconds", {P, T});
    r.layer_nodes = layers.read_shaped<std::int32_t>("nodes", {L});
    r.layer_error = layers.read_shaped<double>("rms_error", {P, T, L});
    // Values the statistics index or sort by.
    const auto is_class = [](int c) { return c >= 0 && c < static_cast<int>(Cifar10::kClasses); };
    for (std::size_t i = 0; i < r.labels.size(); ++i)
        if (!is_class(r.labels[i]) || !is_class(r.ideal_predictions[i]))
            fail(path, ": image ", i, ": label ", int(r.labels[i]), " or ideal prediction ", int(r.ideal_predictions[i]), " out of range");
    for (double v : r.point_values)
        if (!std::isfinite(v)) fail(path, ": dataset 'point_values' holds ", v, ", expected finite axis values");
    for (std::size_t u = 0; u < r.done.size(); ++u) {
        if (r.done[u] > 1) fail(path, ": dataset 'done' holds ", int(r.done[u]), " for unit ", u, ", expected 0 or 1");
        if (!r.done[u]) continue;
        long hits = 0;
        for (std::size_t i = 0; i < N; ++i) {
            const int c = r.predictions[u * N + i];
            if (c < 0) fail(path, ": unit ", u, " is done but image ", i, " has no prediction");
            if (!is_class(c)) fail(path, ": unit ", u, ", image ", i, ": prediction ", c, " is not a class (0-9)");
            hits += c == r.labels[i];
        }
        // The accuracy a sweep stores is hits / images of the unit's own predictions.
        if (!(std::fabs(r.accuracy[u] - static_cast<double>(hits) / static_cast<double>(N)) <= 0.5 / static_cast<double>(N)))
            fail(path, ": unit ", u, " is done with accuracy ", r.accuracy[u], " but its predictions give ", hits, " of ", N);
    }
    // The summary attributes must agree with the datasets they summarize.
    if (root.attr_int("units_done") != r.units_done() || root.attr_int("complete") != static_cast<std::int64_t>(r.complete()))
        fail(path, ": attributes units_done = ", root.attr_int("units_done"), " and complete = ", root.attr_int("complete"), " disagree with the file's ",
             r.units_done(), " units done (complete: ", r.complete() ? 1 : 0, ")");
    return r;
}

SweepResults merge_results(const std::vector<std::string>& paths) {
    if (paths.empty()) fail("merge: no input files");
    SweepResults m = read_results(paths[0]);
    for (std::size_t i = 1; i < paths.size(); ++i) {
        SweepResults s = read_results(paths[i]);
        m.elapsed_seconds += s.elapsed_seconds;
        auto same = [&](const char* what, bool ok) {
            if (!ok) fail("merge: ", paths[i], " and ", paths[0], " come from different sweeps (", what, " differs)");
        };
        same("sweep_text", s.sweep_text == m.sweep_text);
        same("seed", s.seed == m.seed);
        same("card_text", s.card_text == m.card_text);
        same("model_sha256", s.model_sha256 == m.model_sha256);
        same("dataset_sha256", s.dataset_sha256 == m.dataset_sha256);
        same("shape", s.points == m.points && s.capacity == m.capacity && s.images == m.images && s.layers() == m.layers());
        same("ideal_predictions", s.ideal_predictions == m.ideal_predictions);
        const auto n = static_cast<std::size_t>(m.images), l = static_cast<std::size_t>(m.layers());
        for (std::size_t u = 0; u < m.done.size(); ++u) {
            if (!s.done[u]) continue;
            if (m.done[u]) {
                if (!std::equal(s.predictions.begin() + static_cast<std::ptrdiff_t>(u * n), s.predictions.begin() + static_cast<std::ptrdiff_t>((u + 1) * n),
                                m.predictions.begin() + static_cast<std::ptrdiff_t>(u * n)))
                    fail("merge: unit ", u, " differs between ", paths[i], " and an earlier file");
                continue;
            }
            m.done[u] = 1;
            m.accuracy[u] = s.accuracy[u];
            m.unit_seconds[u] = s.unit_seconds[u];
            std::copy_n(s.predictions.begin() + static_cast<std::ptrdiff_t>(u * n), n, m.predictions.begin() + static_cast<std::ptrdiff_t>(u * n));
            std::copy_n(s.layer_error.begin() + static_cast<std::ptrdiff_t>(u * l), l, m.layer_error.begin() + static_cast<std::ptrdiff_t>(u * l));
            std::copy_n(s.stream_keys.begin() + static_cast<std::ptrdiff_t>(u * l), l, m.stream_keys.begin() + static_cast<std::ptrdiff_t>(u * l));
        }
    }
    m.shard_index = 0;
    m.shard_count = 1;
    return m;
}

// ---- running -----------------------------------------------------------------------------------

namespace {

// Top-1 predictions in batches; an ArrayMvm gets begin_batch() before each (per-read noise).
// Predictions batch by batch; a chip's per-layer errors are tracked on the first batch only.
std::vector<std::int8_t> predict_batches(const nn::QuantModel& model, const Cifar10& data, int batch,
                                         TrackedMvm* mvm, ArrayMvm* array = nullptr) {
    std::vector<std::int8_t> pred(data.size());
    Tensor logits;
    for (std::size_t b = 0; b < data.size(); b += static_cast<std::size_t>(batch)) {
        const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), data.size() - b));
        if (mvm) mvm->set_tracking(b == 0);
        if (array) array->begin_batch(b);
        model.forward(data.image(b), n, logits, nullptr, mvm);
        for (int i = 0; i < n; ++i) {
            const float* r = logits.image(i);
            pred[b + static_cast<std::size_t>(i)] = static_cast<std::int8_t>(std::max_element(r, r + logits.c()) - r);
        }
    }
    return pred;
}


// Everything one (point, trial) unit needs; shared read-only by all threads.
struct UnitContext {
    const SweepSpec& spec;
    const nn::QuantModel& model;
    const std::vector<int>& analog;
    const Cifar10& data;
    const std::vector<device::Card>& cards;    // per point
    const std::vector<ChipSettings>& chips;    // per point
    const std::vector<ArraySettings>& arrays;  // per point
    const CalibrationInputs* calibration;      // null unless some point calibrates its ADCs on images
};

// What one unit produces: the contents of its slots in SweepResults.
struct UnitResult {
    double accuracy = 0;
    std::vector<std::int8_t> predictions;   // [image]
    std::vector<double> layer_error;        // [layer], NaN when not tracked
    std::vector<std::uint64_t> stream_keys; // [layer]
    double seconds = 0;
};

// Samples the chip of (point, trial) and evaluates it on the test images. Depends only on its
// arguments (its own streams), so any thread or process may run it.
UnitResult evaluate_unit(const UnitContext& c, long p, long t) {
    const auto t0 = Clock::now();
    const auto pp = static_cast<std::size_t>(p);
    const Chip chip = sample_chip(c.model, c.analog, c.cards[pp], c.chips[pp], c.arrays[pp].analog.mapping, c.spec.seed, p, t);
    std::unique_ptr<TrackedMvm> mvm;
    ArrayMvm* array = nullptr;
    if (c.arrays[pp].is_static()) {
        mvm = std::make_unique<StaticMvm>(c.model, chip, c.cards[pp], c.chips[pp], c.spec.layer_errors);
    } else {
        auto a = std::make_unique<ArrayMvm>(c.model, chip, c.cards[pp], c.chips[pp], c.arrays[pp], c.calibration, c.spec.layer_errors);
        array = a.get();
        mvm = std::move(a);
    }
    UnitResult res;
    res.predictions = predict_batches(c.model, c.data, c.spec.batch, mvm.get(), array);
    long hits = 0;
    for (std::size_t k = 0; k < c.data.size(); ++k) hits += res.predictions[k] == static_cast<std::int8_t>(c.data.labels[k]);
    res.accuracy = static_cast<double>(hits) / static_cast<double>(c.data.size());
    res.layer_error = c.spec.layer_errors ? mvm->rms_relative_error() : std::vector<double>(c.analog.size(), kNaN);
    res.stream_keys = chip.keys();
    res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return res;
}

// Re-lays the [point][trial] arrays for `capacity` trials per point; done units keep their
// (point, trial) slots, new slots are not done.
void set_capacity(SweepResults& r, long capacity) {
    const long old = r.capacity;
    auto relay = [&](auto& v, std::size_t stride, auto empty) {
        std::remove_reference_t<decltype(v)> out(static_cast<std::size_t>(r.points * capacity) * stride, empty);
        for (long p = 0; p < r.points; ++p)
            for (long t = 0; t < std::min(old, capacity); ++t)
                std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(p * old + t) * stride), stride,
                            out.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(p * capacity + t) * stride));
        v = std::move(out);
    };
    const auto N = static_cast<std::size_t>(r.images), L = static_cast<std::size_t>(r.layers());
    relay(r.done, 1, std::uint8_t{0});
    relay(r.accuracy, 1, kNaN);
    relay(r.unit_seconds, 1, kNaN);
    relay(r.predictions, N, std::int8_t{-1});
    relay(r.layer_error, L, kNaN);
    relay(r.stream_keys, L, std::uint64_t{0});
    r.capacity = capacity;
}

void store_unit(SweepResults& r, long u, const UnitResult& res) {
    const auto uu = static_cast<std::size_t>(u), N = static_cast<std::size_t>(r.images), L = static_cast<std::size_t>(r.layers());
    r.done[uu] = 1;
    r.accuracy[uu] = res.accuracy;
    std::copy(res.predictions.begin(), res.predictions.end(), r.predictions.begin() + static_cast<std::ptrdiff_t>(uu * N));
    std::copy(res.layer_error.begin(), res.layer_error.end(), r.layer_error.begin() + static_cast<std::ptrdiff_t>(uu * L));
    std::copy(res.stream_keys.begin(), res.stream_keys.end(), r.stream_keys.begin() + static_cast<std::ptrdiff_t>(uu * L));
    r.unit_seconds[uu] = res.seconds;
}

}  // namespace

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& opt) {
    const auto started = Clock::now();
    SweepOutcome out;
    out.output = opt.output.empty() ? spec.output : opt.output;
    if (opt.shard_count < 1 || opt.shard_index < 0 || opt.shard_index >= opt.shard_count)
        fail("sweep: shard ", opt.shard_index, "/", opt.shard_count, " is invalid (need 0 <= i < N)");
    if (opt.shard_count > 1 && spec.adaptive.enabled)
        fail("sweep: adaptive stopping needs every trial of a point in one process; it cannot run in shards (--shard)");
    const bool by_point = !opt.trials_per_point.empty();
    if (by_point) {
        if (static_cast<long>(opt.trials_per_point.size()) != spec.points())
            fail("sweep: trials_per_point has ", opt.trials_per_point.size(), " entries for ", spec.points(), " points");
        for (long n : opt.trials_per_point)
            if (n < 0 || n > kMaxTrials) fail("sweep: ", n, " trials for a point is out of range [0, ", kMaxTrials, "]");
        if (opt.shard_count > 1) fail("sweep: trials_per_point cannot run in shards");
    }
    set_threads(opt.threads);

    nn::ModelFile mf = nn::load_model_file(spec.model_file);
    if (!mf.quantized) fail(spec.model_file, ": not a quantized model (no /quantized group); the sweep needs integer weights");
    const nn::QuantModel& model = *mf.quantized;
    std::vector<int> analog;
    try {
        analog = analog_nodes(model, spec.analog_layers);
    } catch (const Error& e) {
        fail(spec.source, ": ", e.what());
    }
    const Cifar10 data = read_cifar10_test(spec.data_dir, static_cast<std::size_t>(spec.test_images));
    if (static_cast<long>(data.size()) < spec.test_images)
        fail(spec.source, ": data.test_images = ", spec.test_images, " but ", spec.data_dir, " holds only ", data.size(), " test images");

    SweepResults r;
    r.source = spec.source;
    r.name = spec.name;
    r.sweep_text = spec.text;
    r.card_text = spec.card.text;
    r.model_file = spec.model_file;
    r.model_sha256 = h5::content_sha256(spec.model_file);
    r.data_dir = spec.data_dir;
    r.dataset_sha256 = sha256_file((std::filesystem::path(spec.data_dir) / "test_batch.bin").string());
    r.seed = spec.seed;
    r.spec_accuracy = spec.spec_accuracy;
    r.adaptive = spec.adaptive.enabled;
    r.adaptive_ci_half_width = spec.adaptive.enabled ? spec.adaptive.ci_half_width : kNaN;
    r.trials = spec.trials;
    r.points = spec.points();
    r.capacity = spec.trial_capacity();
    for (long n : opt.trials_per_point) r.capacity = std::max(r.capacity, n);
    r.images = static_cast<long>(data.size());
    r.shard_index = opt.shard_index;
    r.shard_count = opt.shard_count;
    for (const auto& a : spec.axes) r.axes.push_back({a.name, a.parameter, a.spacing, a.values});
    for (long p = 0; p < r.points; ++p)
        for (double v : spec.point_values(p)) r.point_values.push_back(v);
    for (int n : analog) {
        r.layer_names.push_back(model.nodes[static_cast<std::size_t>(n)].name);
        r.layer_nodes.push_back(n);
    }
    r.labels = data.labels;
    const std::size_t N = data.size(), L = analog.size();

    // Under MPI, rank 0 alone reads and writes the file; the other ranks only evaluate units.
    const bool root = mpi::root();
    bool resumed = false;
    if (root && opt.resume && std::filesystem::exists(out.output)) {
        SweepResults old = read_results(out.output);
        auto check = [&](const char* what, bool ok) {
            if (!ok) fail("sweep --resume: ", out.output, " was written by a different sweep (", what, " differs); ",
                          "remove it or choose another --out");
        };
        check("sweep file text", old.sweep_text == r.sweep_text);
        check("seed", old.seed == r.seed);
        check("device card text", old.card_text == r.card_text);
        check("model checksum", old.model_sha256 == r.model_sha256);
        check("dataset checksum", old.dataset_sha256 == r.dataset_sha256);
        check("shard", old.shard_index == r.shard_index && old.shard_count == r.shard_count);
        check("shape", old.points == r.points && (by_point || old.capacity == r.capacity) && old.images == r.images &&
                           old.layer_nodes == r.layer_nodes);
        if (by_point && old.capacity != r.capacity) set_capacity(old, std::max(old.capacity, r.capacity));
        r.capacity = old.capacity;
        r.ideal_predictions = old.ideal_predictions;
        r.ideal_seconds = old.ideal_seconds;
        r.elapsed_seconds = old.elapsed_seconds;
        r.done = std::move(old.done);
        r.accuracy = std::move(old.accuracy);
        r.predictions = std::move(old.predictions);
        r.layer_error = std::move(old.layer_error);
        r.stream_keys = std::move(old.stream_keys);
        r.unit_seconds = std::move(old.unit_seconds);
        resumed = true;
    }
    {
        // A resumed file may hold more trials per point than asked; every rank numbers units alike.
        std::vector<long> capacity{r.capacity};
        mpi::broadcast(capacity);
        r.capacity = capacity[0];
    }
    if (r.points * r.capacity > kMaxUnits) fail("sweep: ", r.points, " points x ", r.capacity, " trials exceed ", kMaxUnits, " chips");
    if (r.points * r.capacity * r.images > kMaxPredictions)
        fail("sweep: ", r.points * r.capacity, " chips x ", r.images, " images exceed ", kMaxPredictions, " predictions");
    const std::size_t units = static_cast<std::size_t>(r.points * r.capacity);
    if (!resumed && root) {
        const auto t0 = Clock::now();
        r.ideal_predictions = predict_batches(model, data, spec.batch, nullptr);
        r.ideal_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        r.done.assign(units, 0);
        r.accuracy.assign(units, kNaN);
        r.predictions.assign(units * N, -1);
        r.layer_error.assign(units * L, kNaN);
        r.stream_keys.assign(units * L, 0);
        r.unit_seconds.assign(units, kNaN);
    }

    std::vector<device::Card> cards;
    std::vector<ChipSettings> chips;
    std::vector<ArraySettings> arrays;
    bool calibrate = false;
    int calibration_images = 0;
    for (long p = 0; p < r.points; ++p) {
        cards.push_back(spec.point_card(p));
        chips.push_back(spec.point_chip(p));
        arrays.push_back(spec.point_array(p));
        if (!arrays.back().is_static() && arrays.back().analog.adc.calibration == array::RangeCalibration::calibration) {
            calibrate = true;
            calibration_images = std::max(calibration_images, arrays.back().calibration_images);
        }
    }
    // ADC ranges from calibration images: the first training images (never the test images).
    std::optional<CalibrationInputs> calibration;
    if (calibrate) {
        const Cifar10 train = read_cifar10_train(spec.data_dir, static_cast<std::size_t>(calibration_images));
        calibration = calibration_inputs(model, analog, train.image(0), static_cast<int>(train.size()));
    }

    const UnitContext ctx{spec, model, analog, data, cards, chips, arrays, calibration ? &*calibration : nullptr};
    auto last_write = Clock::now();
    // Every write records the wall time spent so far (earlier runs of a resumed sweep included).
    const double elapsed_before = r.elapsed_seconds;
    auto save = [&] {
        r.elapsed_seconds = elapsed_before + std::chrono::duration<double>(Clock::now() - started).count();
        write_results(out.output, r);
    };
    if (root) save();  // the first checkpoint: the file exists from here on
    bool stop = false;
    long run_here = 0;  // units stored here (at rank 0: by every rank)
    for (;;) {
        std::vector<long> pending;
        for (long p = 0; p < r.points && root && !stop; ++p) {
            const long n = by_point ? opt.trials_per_point[static_cast<std::size_t>(p)] : r.planned_trials(p);
            for (long t = 0; t < n; ++t) {
                const auto u = static_cast<long>(r.unit(p, t));
                if (!r.done[static_cast<std::size_t>(u)] && u % opt.shard_count == opt.shard_index) pending.push_back(u);
            }
        }
        mpi::broadcast(pending);  // every rank runs the same rounds
        if (pending.empty()) break;
        std::optional<Progress> progress;
        if (opt.progress && root) progress.emplace("sweep " + (spec.name.empty() ? spec.source : spec.name), static_cast<long>(pending.size()));
        long finished = 0;
        Error failure("");
        bool failed = false;
        // At rank 0, one finished unit: store it, count it, report it, checkpoint now and then.
        auto finish_unit = [&](long u, const UnitResult& res) {
            store_unit(r, u, res);
            ++finished;
            ++run_here;
            if (opt.stop_after_units >= 0 && run_here >= opt.stop_after_units) stop = true;
            if (progress) progress->update(finished);
            if (!stop && std::chrono::duration<double>(Clock::now() - last_write).count() >= opt.checkpoint_interval_s) {
                save();
                last_write = Clock::now();
            }
        };
        if (mpi::size() > 1) {
            // Results travel to rank 0 as bytes: every field of UnitResult, in this order.
            static_assert(sizeof(UnitResult) == 2 * sizeof(double) + 3 * sizeof(std::vector<double>),
                          "UnitResult changed: send the new field to rank 0 below (pack and unpack)");
            auto evaluate = [&](long u) {
                const UnitResult res = evaluate_unit(ctx, u / r.capacity, u % r.capacity);
                mpi::Packer pack;
                pack.put(u).put(res.accuracy).put(res.seconds).put(res.predictions).put(res.layer_error).put(res.stream_keys);
                return std::move(pack.bytes);
            };
            auto finish = [&](std::span<const std::byte> bytes) {
                mpi::Unpacker unpack(bytes);
                long u = 0;
                UnitResult res;
                unpack.get(u);
                unpack.get(res.accuracy);
                unpack.get(res.seconds);
                unpack.get(res.predictions);
                unpack.get(res.layer_error);
                unpack.get(res.stream_keys);
                finish_unit(u, res);
                return !stop;
            };
            if (auto message = mpi::run_round(pending, evaluate, finish)) failed = true, failure = Error(*message);
        } else  // one process: its OpenMP threads take the units one at a time
#pragma omp parallel for schedule(dynamic, 1)
        for (std::size_t i = 0; i < pending.size(); ++i) {
            bool skip;
#pragma omp critical(flashmc_sweep_store)
            skip = stop || failed;
            if (skip) continue;
            const long u = pending[i], p = u / r.capacity, t = u % r.capacity;
            // No exception may leave the critical section (OpenMP would terminate the program):
            // a failed unit or a failed checkpoint (disk full) is recorded and rethrown below.
            std::optional<UnitResult> res;
            std::optional<std::string> error;
            try {
                res = evaluate_unit(ctx, p, t);
            } catch (const std::exception& e) {
                error = e.what();
            }
#pragma omp critical(flashmc_sweep_store)
            {
                if (res) {
                    try {
                        finish_unit(u, *res);
                    } catch (const std::exception& e) {
                        error = e.what();
                    }
                }
                if (error && !failed) failed = true, failure = Error(*error);
            }
        }
        if (failed) {
            save();  // keep what was done
            throw failure;
        }
        if (progress) progress->finish();
    }
    out.units_run = run_here;
    out.stopped = stop;
    if (!root) return out;
    save();
    out.units_done = r.units_done();
    out.complete = r.complete();
    return out;
}

}  // namespace flashmc::mc
