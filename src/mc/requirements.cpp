#include "flashmc/mc/requirements.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"
#include "flashmc/mc/sweep.hpp"
#include "flashmc/mc/sweep_spec.hpp"

namespace flashmc::mc {

namespace fs = std::filesystem;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fixed(double v, int digits) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}
std::string number(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.10g", v);
    return b;
}

// What one requirement says before its sweep or result file is opened.
struct Raw {
    Requirement r;
    std::string where;                          // "requirement[i]" or "requirement 'NAME'"
    std::vector<std::pair<std::string, double>> point;  // axis name → value
    long point_index = -1;
    bool has_point = false, has_spec = false;
    int assertions = 0;
    std::vector<std::string> set;
};

struct Grid {
    std::vector<std::string> names;
    std::vector<std::vector<double>> values;
};

// The grid index of `point` (axis values; the last axis varies fastest), or an error naming the
// axis and its values.
long find_point(const Raw& raw, const Grid& g, const std::string& file, const std::string& condition, std::string& label) {
    const std::string& src = file;
    const long points = [&] {
        long n = 1;
        for (const auto& v : g.values) n *= static_cast<long>(v.size());
        return n;
    }();
    auto axis_list = [&] {
        std::string s;
        for (const auto& n : g.names) s += (s.empty() ? "" : ", ") + n;
        return s.empty() ? std::string("none") : s;
    };
    if (raw.point_index >= 0) {
        if (raw.point_index >= points)
            fail(src, ": ", raw.where, ": point_index = ", raw.point_index, " but ", condition, " has ", points, " points (0 to ", points - 1, ")");
        long rest = raw.point_index;
        std::vector<long> idx(g.names.size());
        for (std::size_t a = g.names.size(); a-- > 0;) {
            idx[a] = rest % static_cast<long>(g.values[a].size());
            rest /= static_cast<long>(g.values[a].size());
        }
        for (std::size_t a = 0; a < g.names.size(); ++a)
            label += (a ? ", " : "") + g.names[a] + " = " + number(g.values[a][static_cast<std::size_t>(idx[a])]);
        return raw.point_index;
    }
    if (!raw.has_point && !g.names.empty())
        fail(src, ": ", raw.where, ": ", condition, " has axes (", axis_list(), "): choose a point with point = { AXIS = value, ... } or point_index");
    for (const auto& [name, value] : raw.point)
        if (std::find(g.names.begin(), g.names.end(), name) == g.names.end()) {
            std::string near;
            for (const auto& n : g.names)
                if (edit_distance(name, n) <= std::max<std::size_t>(2, name.size() / 3)) near = n;
            fail(src, ": ", raw.where, ": point names axis '", abbreviate(name), "', which ", condition, " does not have",
                 near.empty() ? "" : "; did you mean '" + near + "'?", near.empty() ? "; its axes: " + axis_list() : "");
        }
    long index = 0;
    for (std::size_t a = 0; a < g.names.size(); ++a) {
        auto it = std::find_if(raw.point.begin(), raw.point.end(), [&](const auto& p) { return p.first == g.names[a]; });
        if (it == raw.point.end()) fail(src, ": ", raw.where, ": point gives no value for axis '", g.names[a], "' of ", condition);
        const auto& vals = g.values[a];
        long found = -1;
        for (std::size_t i = 0; i < vals.size(); ++i)
            if (std::abs(vals[i] - it->second) <= 1e-9 * std::max(std::abs(vals[i]), std::abs(it->second))) found = static_cast<long>(i);
        if (found < 0) {
            std::string list;
            for (double v : vals) list += (list.empty() ? "" : ", ") + number(v);
            fail(src, ": ", raw.where, ": point.", g.names[a], " = ", number(it->second), " is not a value of that axis in ", condition,
                 "; its values: ", list);
        }
        index = index * static_cast<long>(vals.size()) + found;
        label += (a ? ", " : "") + g.names[a] + " = " + number(vals[static_cast<std::size_t>(found)]);
    }
    return index;
}

}  // namespace

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::pass: return "pass";
        case Verdict::fail: return "fail";
        case Verdict::inconclusive: return "inconclusive";
    }
    return "?";
}

std::string Requirement::assertion_text() const {
    switch (assertion) {
        case Assertion::mean_accuracy_min: return "mean accuracy >= " + fixed(100 * threshold, 2) + " %";
        case Assertion::accuracy_drop_max_points: return "accuracy drop <= " + fixed(threshold, 2) + " points";
        case Assertion::yield_min:
            return "yield (accuracy >= " + fixed(100 * spec_accuracy, 2) + " %) >= " + fixed(100 * threshold, 2) + " %";
    }
    return "?";
}

RequirementsFile load_requirements(const std::string& path) {
    TomlDocument doc = TomlDocument::from_file(path);
    RequirementsFile file;
    file.source = path;
    file.text = doc.text();
    const fs::path base = fs::path(path).parent_path();
    auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? p : (base / p).lexically_normal().string(); };

    Requirement defaults;
    std::vector<std::string> default_set;
    const Range confidence_range{0.5, 0.999999}, chips_range{2, static_cast<double>(kMaxTrials)};
    auto d = doc.section("defaults");
    d.read("confidence", defaults.confidence, confidence_range);
    d.read("max_chips", defaults.max_chips, chips_range);
    d.read("first_chips", defaults.first_chips, chips_range);
    d.read("set", default_set);

    std::vector<Raw> raws;
    std::set<std::string> names;
    const auto tables = doc.root().tables("requirement");
    if (tables.empty()) fail(path, ": no requirements: add at least one [[requirement]] table");
    for (const auto& t : tables) {
        Raw raw;
        Requirement& r = raw.r;
        r = defaults;
        raw.where = t.name();
        t.require("name", r.name);
        if (r.name.empty() || r.name.size() > 128 ||
            r.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos)
            fail(path, ": key '", t.path("name"), "' = \"", abbreviate(r.name), "\": a name is 1 to 128 letters, digits, '_', '-' or '.'");
        if (!names.insert(r.name).second) fail(path, ": key '", t.path("name"), "': requirement '", r.name, "' is named twice");
        raw.where = "requirement '" + r.name + "'";
        t.read("description", r.description);
        t.read("confidence", r.confidence, confidence_range);
        t.read("max_chips", r.max_chips, chips_range);
        t.read("first_chips", r.first_chips, chips_range);
        std::vector<std::string> set;
        t.read("set", set);

        t.read("sweep", r.sweep_file);
        t.read("result", r.result_file);
        if (t.has("point")) {
            raw.has_point = true;
            const TomlSection p = t.section("point");
            for (const auto& k : p.keys()) {
                double v = 0;
                p.read(k, v, Range{-1e300, 1e300});
                raw.point.emplace_back(k, v);
            }
        }
        t.read("point_index", raw.point_index, Range{0, static_cast<double>(kMaxPoints)});
        for (auto [key, kind, range] : {std::tuple{"mean_accuracy_min", Assertion::mean_accuracy_min, Range{0, 1}},
                                        std::tuple{"accuracy_drop_max_points", Assertion::accuracy_drop_max_points, Range{-100, 100}},
                                        std::tuple{"yield_min", Assertion::yield_min, Range{0, 1}}}) {
            if (!t.has(key)) continue;
            ++raw.assertions;
            r.assertion = kind;
            t.read(key, r.threshold, range);
        }
        raw.has_spec = t.has("yield_spec_accuracy");
        t.read("yield_spec_accuracy", r.spec_accuracy, Range{0, 1});
        raw.set = std::move(set);
        raws.push_back(std::move(raw));
    }
    // Unknown keys first (a misspelled key explains the errors below).
    doc.finish();
    for (auto& raw : raws) {
        Requirement& r = raw.r;
        if (r.sweep_file.empty() == r.result_file.empty())
            fail(path, ": ", raw.where, " needs exactly one of 'sweep' (a sweep file that check runs) or 'result' (an existing result file)");
        if (!r.sweep_file.empty()) {
            r.sweep_file = resolve(r.sweep_file);
            r.overrides = default_set;
            r.overrides.insert(r.overrides.end(), raw.set.begin(), raw.set.end());
        } else {
            if (!raw.set.empty()) fail(path, ": ", raw.where, ": 'set' changes a sweep file; it cannot apply to an existing result file");
            r.result_file = resolve(r.result_file);
        }
        if (raw.has_point && raw.point_index >= 0) fail(path, ": ", raw.where, ": give 'point' or 'point_index', not both");
        if (raw.assertions != 1)
            fail(path, ": ", raw.where, " needs exactly one assertion (mean_accuracy_min, accuracy_drop_max_points or yield_min), got ",
                 raw.assertions);
        if (r.assertion == Assertion::yield_min && !raw.has_spec)
            fail(path, ": ", raw.where, ": 'yield_min' needs 'yield_spec_accuracy' (the accuracy a chip must reach to count)");
        if (r.assertion != Assertion::yield_min && raw.has_spec)
            fail(path, ": ", raw.where, ": 'yield_spec_accuracy' belongs to a 'yield_min' assertion");
        r.first_chips = std::min(r.first_chips, r.max_chips);
    }

    // The conditions: each sweep (with its overrides) or result file, and the point in it.
    for (auto& raw : raws) {
        Requirement& r = raw.r;
        Grid g;
        std::string condition;
        if (!r.sweep_file.empty()) {
            SweepSpec spec;
            try {
                spec = load_sweep_spec(r.sweep_file, r.overrides);
            } catch (const Error& e) {
                fail(path, ": ", raw.where, ": ", e.what());
            }
            for (const auto& a : spec.axes) g.names.push_back(a.name), g.values.push_back(a.values);
            condition = "sweep " + r.sweep_file;
        } else {
            SweepResults res;
            try {
                res = read_results(r.result_file);
            } catch (const Error& e) {
                fail(path, ": ", raw.where, ": ", e.what());
            }
            for (const auto& a : res.axes) g.names.push_back(a.name), g.values.push_back(a.values);
            condition = "result file " + r.result_file;
        }
        r.point = find_point(raw, g, path, condition, r.point_label);
        file.requirements.push_back(std::move(r));
    }
    return file;
}

std::vector<long> look_schedule(const Requirement& r) {
    if (!r.result_file.empty()) return {};
    std::vector<long> looks{std::min(r.first_chips, r.max_chips)};
    while (looks.back() < r.max_chips) looks.push_back(std::min(2 * looks.back(), r.max_chips));
    return looks;
}

double look_confidence(double confidence, long looks) { return 1 - (1 - confidence) / static_cast<double>(std::max(1L, looks)); }

Decision decide(const Requirement& r, std::span<const double> acc, double ideal_accuracy, double confidence) {
    Decision d;
    d.chips = static_cast<long>(acc.size());
    d.confidence = confidence;
    double mean = kNaN;
    if (!acc.empty()) {
        double sum = 0;
        for (double a : acc) sum += a;
        mean = sum / static_cast<double>(acc.size());
    }
    const double x = r.threshold;
    switch (r.assertion) {
        case Assertion::mean_accuracy_min:
            d.value = mean;
            d.bounds = mean_one_sided_bounds(acc, confidence);
            if (d.bounds.lo >= x) d.verdict = Verdict::pass;
            else if (d.bounds.hi < x) d.verdict = Verdict::fail;
            break;
        case Assertion::accuracy_drop_max_points: {
            // drop = ideal − mean accuracy, in points: its bounds are the mean's, mirrored.
            const Interval m = mean_one_sided_bounds(acc, confidence);
            d.value = 100 * (ideal_accuracy - mean);
            d.bounds = {100 * (ideal_accuracy - m.hi), 100 * (ideal_accuracy - m.lo)};
            if (d.bounds.hi <= x) d.verdict = Verdict::pass;
            else if (d.bounds.lo > x) d.verdict = Verdict::fail;
            break;
        }
        case Assertion::yield_min:
            for (double a : acc) d.passing += a >= r.spec_accuracy;
            if (acc.empty()) {
                d.value = kNaN;
                d.bounds = {kNaN, kNaN};
                break;
            }
            d.value = static_cast<double>(d.passing) / static_cast<double>(acc.size());
            d.bounds = clopper_pearson_bounds(d.passing, d.chips, confidence);
            if (d.bounds.lo >= x) d.verdict = Verdict::pass;
            else if (d.bounds.hi < x) d.verdict = Verdict::fail;
            break;
    }
    return d;
}

}  // namespace flashmc::mc
