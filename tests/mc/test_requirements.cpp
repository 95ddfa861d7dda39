// Requirements files (mc/requirements.hpp) and their one-sided statistics (mc/stats.hpp): bounds
// against closed forms and defining equations, verdicts, the look schedule, and every input error.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/mc/requirements.hpp"
#include "flashmc/mc/stats.hpp"
#include "../test_util.hpp"

using namespace flashmc;

namespace {

// P(X >= k) and P(X <= k) for X ~ Binomial(n, p), summed term by term.
double binomial_upper_tail(long k, long n, double p) {
    double s = 0;
    for (long i = k; i <= n; ++i)
        s += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) + i * std::log(p) + (n - i) * std::log1p(-p));
    return s;
}
double binomial_lower_tail(long k, long n, double p) { return 1 - binomial_upper_tail(k + 1, n, p); }

}  // namespace

TEST_CASE("Clopper-Pearson one-sided bounds solve their defining binomial equations", "[mc][stats][requirements]") {
    // All chips pass / none pass: closed forms (1 − c)^(1/n) and 1 − (1 − c)^(1/n).
    for (long n : {1L, 4L, 10L, 59L}) {
        const mc::Interval all = mc::clopper_pearson_bounds(n, n, 0.95);
        REQUIRE(all.lo == Approx(std::pow(0.05, 1.0 / static_cast<double>(n))).epsilon(1e-12));
        REQUIRE(all.hi == 1.0);
        const mc::Interval none = mc::clopper_pearson_bounds(0, n, 0.95);
        REQUIRE(none.lo == 0.0);
        REQUIRE(none.hi == Approx(1 - std::pow(0.05, 1.0 / static_cast<double>(n))).epsilon(1e-12));
    }
    // 59 chips all passing is the classic "95 % sure that yield >= 95 %".
    REQUIRE(mc::clopper_pearson_bounds(59, 59, 0.95).lo > 0.95);
    REQUIRE(mc::clopper_pearson_bounds(58, 58, 0.95).lo < 0.95);
    // In between: P(X >= k | lo) = 1 − c and P(X <= k | hi) = 1 − c.
    for (auto [k, n, c] : {std::tuple{7L, 20L, 0.95}, std::tuple{1L, 3L, 0.9}, std::tuple{45L, 50L, 0.99}, std::tuple{500L, 1000L, 0.975}}) {
        const mc::Interval b = mc::clopper_pearson_bounds(k, n, c);
        REQUIRE(binomial_upper_tail(k, n, b.lo) == Approx(1 - c).epsilon(1e-9));
        REQUIRE(binomial_lower_tail(k, n, b.hi) == Approx(1 - c).epsilon(1e-9));
        REQUIRE(b.lo < static_cast<double>(k) / static_cast<double>(n));
        REQUIRE(b.hi > static_cast<double>(k) / static_cast<double>(n));
    }
    // The two-sided 95 % interval of 7/20 (two one-sided 97.5 % bounds), as tabulated: 0.1539–0.5922.
    const mc::Interval t = mc::clopper_pearson_bounds(7, 20, 0.975);
    REQUIRE(t.lo == Approx(0.1539).margin(5e-5));
    REQUIRE(t.hi == Approx(0.5922).margin(5e-5));
    REQUIRE_THROWS_AS(mc::clopper_pearson_bounds(3, 2, 0.95), Error);
    REQUIRE_THROWS_AS(mc::clopper_pearson_bounds(1, 2, 1.0), Error);
}

TEST_CASE("one-sided Student t bounds of a mean match the closed forms for 1 and 2 degrees of freedom", "[mc][stats][requirements]") {
    // df = 1: t(p) = tan(π(p − 1/2)); df = 2: t(p) = (2p − 1)/√(2p(1 − p)).
    const std::vector<double> two = {0.80, 0.86};  // mean 0.83, s = 0.06/√2
    for (double c : {0.9, 0.95, 0.99}) {
        const double t1 = std::tan(M_PI * (c - 0.5)), h = t1 * (0.06 / std::sqrt(2.0)) / std::sqrt(2.0);
        const mc::Interval b = mc::mean_one_sided_bounds(two, c);
        REQUIRE(b.lo == Approx(0.83 - h).epsilon(1e-10));
        REQUIRE(b.hi == Approx(0.83 + h).epsilon(1e-10));
    }
    const std::vector<double> three = {0.70, 0.75, 0.86};  // mean 0.77, s² = (0.0049 + 0.0004 + 0.0081)/2
    const double s = std::sqrt(0.0134 / 2);
    for (double c : {0.95, 0.9875}) {
        const double t2 = (2 * c - 1) / std::sqrt(2 * c * (1 - c)), h = t2 * s / std::sqrt(3.0);
        const mc::Interval b = mc::mean_one_sided_bounds(three, c);
        REQUIRE(b.lo == Approx(0.77 - h).epsilon(1e-10));
        REQUIRE(b.hi == Approx(0.77 + h).epsilon(1e-10));
    }
    // One chip has no spread estimate; identical chips have a zero-width bound.
    REQUIRE(std::isnan(mc::mean_one_sided_bounds(std::vector<double>{0.8}, 0.95).lo));
    const mc::Interval same = mc::mean_one_sided_bounds(std::vector<double>{0.9, 0.9, 0.9}, 0.95);
    REQUIRE(same.lo == Approx(0.9));
    REQUIRE(same.hi == Approx(0.9));
}

TEST_CASE("looks double from first_chips to max_chips and split the error rate evenly", "[mc][requirements]") {
    mc::Requirement r;
    r.sweep_file = "s.toml";
    r.first_chips = 8, r.max_chips = 64;
    REQUIRE(mc::look_schedule(r) == std::vector<long>{8, 16, 32, 64});
    r.max_chips = 50;
    REQUIRE(mc::look_schedule(r) == std::vector<long>{8, 16, 32, 50});
    r.first_chips = 64;
    REQUIRE(mc::look_schedule(r) == std::vector<long>{50});
    r.first_chips = 2, r.max_chips = 2;
    REQUIRE(mc::look_schedule(r) == std::vector<long>{2});
    REQUIRE(mc::look_confidence(0.95, 4) == Approx(0.9875));
    REQUIRE(mc::look_confidence(0.95, 1) == Approx(0.95));
}

TEST_CASE("verdicts: pass on the near bound, fail on the far bound, otherwise undecided", "[mc][requirements]") {
    mc::Requirement r;
    const std::vector<double> acc = {0.80, 0.82, 0.84, 0.86, 0.88};  // mean 0.84, s = 0.0316
    const mc::Interval b = mc::mean_one_sided_bounds(acc, 0.95);      // [0.8099, 0.8701]
    r.assertion = mc::Assertion::mean_accuracy_min;
    r.threshold = 0.80;
    REQUIRE(mc::decide(r, acc, 0.9, 0.95).verdict == mc::Verdict::pass);
    r.threshold = 0.88;
    REQUIRE(mc::decide(r, acc, 0.9, 0.95).verdict == mc::Verdict::fail);
    r.threshold = 0.84;
    const mc::Decision d = mc::decide(r, acc, 0.9, 0.95);
    REQUIRE(d.verdict == mc::Verdict::inconclusive);
    REQUIRE(d.value == Approx(0.84));
    REQUIRE(d.bounds.lo == Approx(b.lo));
    REQUIRE(d.chips == 5);
    // Drop against an ideal 90 %: 6 points, bounds mirrored from the mean's, in points.
    r.assertion = mc::Assertion::accuracy_drop_max_points;
    r.threshold = 10;
    const mc::Decision drop = mc::decide(r, acc, 0.90, 0.95);
    REQUIRE(drop.verdict == mc::Verdict::pass);
    REQUIRE(drop.value == Approx(6.0));
    REQUIRE(drop.bounds.lo == Approx(100 * (0.90 - b.hi)));
    REQUIRE(drop.bounds.hi == Approx(100 * (0.90 - b.lo)));
    r.threshold = 2;
    REQUIRE(mc::decide(r, acc, 0.90, 0.95).verdict == mc::Verdict::fail);
    r.threshold = 6;
    REQUIRE(mc::decide(r, acc, 0.90, 0.95).verdict == mc::Verdict::inconclusive);
    // Yield at spec 0.83: 3 of 5 chips.
    r.assertion = mc::Assertion::yield_min;
    r.spec_accuracy = 0.83;
    r.threshold = 0.05;
    const mc::Decision y = mc::decide(r, acc, 0.9, 0.95);
    REQUIRE(y.passing == 3);
    REQUIRE(y.value == Approx(0.6));
    REQUIRE(y.bounds.lo == Approx(mc::clopper_pearson_bounds(3, 5, 0.95).lo));
    REQUIRE(y.verdict == mc::Verdict::pass);  // lower bound 0.189
    r.threshold = 0.95;
    REQUIRE(mc::decide(r, acc, 0.9, 0.95).verdict == mc::Verdict::fail);  // upper bound 0.924
    r.threshold = 0.6;
    REQUIRE(mc::decide(r, acc, 0.9, 0.95).verdict == mc::Verdict::inconclusive);
    // No chips decide nothing.
    REQUIRE(mc::decide(r, std::vector<double>{}, 0.9, 0.95).verdict == mc::Verdict::inconclusive);
}

namespace {

std::string sweep_line() {
    return "sweep = \"" + test::source_dir() + "/experiments/test_tiny.toml\"\nset = [\"device.card=" + test::source_dir() +
           "/devices/nor40_cim.toml\"]\n";
}

mc::RequirementsFile load_text(const test::TempDir& dir, const std::string& text) {
    const std::string path = dir / "req.toml";
    std::ofstream(path) << text;
    return mc::load_requirements(path);
}

std::string error_of(const test::TempDir& dir, const std::string& text) {
    try {
        load_text(dir, text);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a requirements file names its points by axis values and inherits its defaults", "[mc][requirements]") {
    test::TempDir dir("req-load");
    const auto f = load_text(dir, "[defaults]\nconfidence = 0.9\nmax_chips = 32\n\n[[requirement]]\nname = \"hot\"\n" + sweep_line() +
                                      "point = { sigma_vth = 0.04, read_t = 35 }\nyield_min = 0.8\nyield_spec_accuracy = 0.5\n\n"
                                      "[[requirement]]\nname = \"cold\"\ndescription = \"d\"\n" + sweep_line() +
                                      "point_index = 1\nconfidence = 0.99\nfirst_chips = 4\naccuracy_drop_max_points = 2.5\n");
    REQUIRE(f.requirements.size() == 2);
    const auto& hot = f.requirements[0];
    REQUIRE(hot.point == 3);  // last axis fastest: (1, 1)
    REQUIRE(hot.point_label == "sigma_vth = 0.04, read_t = 35");
    REQUIRE(hot.assertion == mc::Assertion::yield_min);
    REQUIRE(hot.spec_accuracy == 0.5);
    REQUIRE(hot.confidence == 0.9);
    REQUIRE(hot.max_chips == 32);
    REQUIRE(hot.first_chips == 8);
    REQUIRE(hot.assertion_text() == "yield (accuracy >= 50.00 %) >= 80.00 %");
    const auto& cold = f.requirements[1];
    REQUIRE(cold.point == 1);
    REQUIRE(cold.point_label == "sigma_vth = 0, read_t = 35");
    REQUIRE(cold.confidence == 0.99);
    REQUIRE(cold.first_chips == 4);
    REQUIRE(cold.threshold == 2.5);
    REQUIRE(cold.overrides.size() == 1);
    REQUIRE(cold.assertion_text() == "accuracy drop <= 2.50 points");
}

TEST_CASE("requirements files reject unknown keys, bad values and impossible conditions, naming them", "[mc][requirements]") {
    test::TempDir dir("req-errors");
    const std::string head = "[[requirement]]\nname = \"r\"\n" + sweep_line();
    const std::string pt = "point = { sigma_vth = 0.0, read_t = 25 }\n";
    REQUIRE(error_of(dir, "") == dir / "req.toml" + ": no requirements: add at least one [[requirement]] table");
    REQUIRE_THAT(error_of(dir, head + pt + "mean_acuracy_min = 0.5\n"),
                 Catch::Contains("unknown key 'mean_acuracy_min' in [requirement[0]]; did you mean 'mean_accuracy_min'?"));
    REQUIRE_THAT(error_of(dir, "[defaults]\nconfidence = 1.5\n" + head + pt + "mean_accuracy_min = 0.5\n"),
                 Catch::Contains("key 'defaults.confidence' = 1.5 is out of range [0.5, 0.999999]"));
    REQUIRE_THAT(error_of(dir, head + pt + "mean_accuracy_min = 85\n"), Catch::Contains("key 'requirement[0].mean_accuracy_min' = 85 is out of range [0, 1]"));
    REQUIRE_THAT(error_of(dir, head + pt), Catch::Contains("requirement 'r' needs exactly one assertion"));
    REQUIRE_THAT(error_of(dir, head + pt + "mean_accuracy_min = 0.5\nyield_min = 0.9\nyield_spec_accuracy = 0.5\n"),
                 Catch::Contains("needs exactly one assertion (mean_accuracy_min, accuracy_drop_max_points or yield_min), got 2"));
    REQUIRE_THAT(error_of(dir, head + pt + "yield_min = 0.9\n"), Catch::Contains("'yield_min' needs 'yield_spec_accuracy'"));
    REQUIRE_THAT(error_of(dir, head + pt + "mean_accuracy_min = 0.5\nyield_spec_accuracy = 0.5\n"),
                 Catch::Contains("'yield_spec_accuracy' belongs to a 'yield_min' assertion"));
    REQUIRE_THAT(error_of(dir, head + pt + "mean_accuracy_min = 0.5\nmax_chips = 1\n"),
                 Catch::Contains("key 'requirement[0].max_chips' = 1 is out of range [2, 1000000]"));
    REQUIRE_THAT(error_of(dir, "[[requirement]]\nname = \"r\"\n" + pt + "mean_accuracy_min = 0.5\n"),
                 Catch::Contains("needs exactly one of 'sweep'"));
    REQUIRE_THAT(error_of(dir, head + "name2 = 1\n" + pt + "mean_accuracy_min = 0.5\n"), Catch::Contains("unknown key 'name2'"));
    REQUIRE_THAT(error_of(dir, head + pt + "mean_accuracy_min = 0.5\n" + head + pt + "mean_accuracy_min = 0.6\n"),
                 Catch::Contains("requirement 'r' is named twice"));
    REQUIRE_THAT(error_of(dir, "[[requirement]]\nname = \"a b\"\n" + sweep_line() + pt + "mean_accuracy_min = 0.5\n"),
                 Catch::Contains("a name is 1 to 128 letters"));
    // Points: every axis, by a value it has, or an index in range.
    REQUIRE_THAT(error_of(dir, head + "mean_accuracy_min = 0.5\n"), Catch::Contains("has axes (sigma_vth, read_t): choose a point"));
    REQUIRE_THAT(error_of(dir, head + "point = { sigma_vth = 0.0 }\nmean_accuracy_min = 0.5\n"),
                 Catch::Contains("point gives no value for axis 'read_t'"));
    REQUIRE_THAT(error_of(dir, head + "point = { sigma_vth = 0.01, read_t = 25 }\nmean_accuracy_min = 0.5\n"),
                 Catch::Contains("point.sigma_vth = 0.01 is not a value of that axis in sweep") && Catch::Contains("its values: 0, 0.04"));
    REQUIRE_THAT(error_of(dir, head + "point = { sigma_vt = 0.0, read_t = 25 }\nmean_accuracy_min = 0.5\n"),
                 Catch::Contains("point names axis 'sigma_vt'") && Catch::Contains("did you mean 'sigma_vth'?"));
    REQUIRE_THAT(error_of(dir, head + "point_index = 4\nmean_accuracy_min = 0.5\n"), Catch::Contains("point_index = 4 but sweep"));
    REQUIRE_THAT(error_of(dir, head + pt + "point_index = 0\nmean_accuracy_min = 0.5\n"), Catch::Contains("give 'point' or 'point_index', not both"));
    REQUIRE_THAT(error_of(dir, head + "point = { sigma_vth = \"x\", read_t = 25 }\nmean_accuracy_min = 0.5\n"),
                 Catch::Contains("key 'requirement[0].point.sigma_vth' must be a number"));
    // The sweep file is loaded with the overrides: its errors stop the check, naming the requirement.
    REQUIRE_THAT(error_of(dir, "[[requirement]]\nname = \"r\"\nsweep = \"" + test::source_dir() + "/experiments/test_tiny.toml\"\n" +
                                   "set = [\"sweep.trails=3\"]\n" + pt + "mean_accuracy_min = 0.5\n"),
                 Catch::Contains("requirement 'r': ") && Catch::Contains("unknown key 'trails' in [sweep]"));
    REQUIRE_THAT(error_of(dir, "[[requirement]]\nname = \"r\"\nresult = \"missing.h5\"\nmean_accuracy_min = 0.5\n"),
                 Catch::Contains("requirement 'r': ") && Catch::Contains("missing.h5"));
    REQUIRE_THAT(error_of(dir, "[[requirement]]\nname = \"r\"\nresult = \"x.h5\"\nset = [\"a.b=1\"]\nmean_accuracy_min = 0.5\n"),
                 Catch::Contains("'set' changes a sweep file; it cannot apply to an existing result file"));
}

TEST_CASE("every shipped requirements file in experiments/ is valid", "[mc][requirements]") {
    // Its sweep files name their model, data and card relative to the repository root, where
    // flashmc check runs.
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(test::source_dir());
    int files = 0;
    try {
        for (const auto& e : std::filesystem::directory_iterator(test::source_dir() + "/experiments")) {
            if (!e.path().stem().string().ends_with("_requirements") || e.path().extension() != ".toml") continue;
            CAPTURE(e.path().string());
            const auto f = mc::load_requirements(e.path().string());
            REQUIRE(f.requirements.size() >= 3);
            ++files;
        }
    } catch (...) {
        std::filesystem::current_path(cwd);
        throw;
    }
    std::filesystem::current_path(cwd);
    REQUIRE(files >= 1);
}
