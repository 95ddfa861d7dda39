// flashmc check end to end on the tiny model: requirements that pass, fail and stay inconclusive,
// the exit codes, the JUnit report (and its schema), re-runs that resume, chips identical to a
// plain sweep's and to any thread count, a result-file requirement, and input errors (exit 4).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "../test_util.hpp"
#include "flashmc/mc/sweep.hpp"
#include "sweep_fixture.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The tiny sweep's overrides as a [defaults] set, and one requirement on it.
std::string defaults(const test::TempDir& dir) {
    return "[defaults]\nconfidence = 0.95\nset = [\"model.file=" + dir / "q.h5" + "\", \"data.dir=" + dir / "data" + "\", \"device.card=" +
           test::source_dir() + "/devices/nor40_cim.toml\"]\n\n";
}
std::string requirement(const std::string& name, const std::string& point, const std::string& rest) {
    return "[[requirement]]\nname = \"" + name + "\"\nsweep = \"" + test::source_dir() + "/experiments/test_tiny.toml\"\npoint = " + point +
           "\nfirst_chips = 2\n" + rest + "\n";
}
const std::string kCold = "{ sigma_vth = 0.0, read_t = 25 }", kHot = "{ sigma_vth = 0.04, read_t = 35 }";

// The table row of a requirement.
std::string row(const std::string& output, const std::string& name) {
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0) return line;
    return "";
}

}  // namespace

TEST_CASE("flashmc check decides requirements on the tiny model, with exit codes and a JUnit report", "[cli][check]") {
    test::TempDir dir("check");
    const std::string sweep_args = test::tiny_sweep_args(dir);  // trains the tiny model, writes the synthetic data
    const std::string d = defaults(dir);
    // Passes: the model at ideal conditions is far above 20 %.
    const std::string lenient = requirement("lenient_mean", kCold, "max_chips = 8\nmean_accuracy_min = 0.2");
    // Fails: no chip of the noisiest point classifies every image.
    const std::string perfect = requirement("perfect_mean", kHot, "max_chips = 8\nmean_accuracy_min = 1.0");
    // The drop against the ideal model at ideal conditions is far below 50 points.
    const std::string drop = requirement("small_drop", kCold, "max_chips = 8\naccuracy_drop_max_points = 50");
    // Every chip counts (spec 0): the yield's exact lower bound (0.0125)^(1/n) at 98.75 % per look
    // (4 looks: 2, 4, 8, 16 chips) first reaches 50 % at 8 chips: a pass at the third look.
    const std::string seq = requirement("yield_sequential", kHot, "max_chips = 16\nyield_min = 0.5\nyield_spec_accuracy = 0.0");
    // 4 chips can never show a 50 % yield at 95 % ((0.025)^(1/4) = 0.40): inconclusive, budget spent.
    const std::string budget = requirement("yield_budget", kHot, "max_chips = 4\nyield_min = 0.5\nyield_spec_accuracy = 0.0");

    // Chips that differ (open-loop programming at σ_Vth = 10 mV: accuracies of 9 to 24 %): the
    // one-sided t bounds around a mean near 15 % stay on both sides of it with 4 chips.
    const std::string spread = requirement("spread_undecided", "{ sigma_vth = 0.01, read_t = 35 }",
                                           "max_chips = 4\nset = [\"chip.program=open-loop\", \"axis.sigma_vth.linspace=[0.0, 0.01, 2]\"]\n"
                                           "mean_accuracy_min = 0.15");
    std::ofstream(dir / "all.toml") << d + lenient + perfect + drop + seq + budget + spread;
    const auto all = run_cli("check " + dir / "all.toml --quiet --threads 2 --junit " + dir / "report.xml");
    INFO(all.output);
    REQUIRE(all.code == 1);
    REQUIRE_THAT(row(all.output, "lenient_mean"), Catch::EndsWith("pass"));
    REQUIRE_THAT(row(all.output, "perfect_mean"), Catch::EndsWith("fail"));
    REQUIRE_THAT(row(all.output, "small_drop"), Catch::EndsWith("pass"));
    REQUIRE_THAT(row(all.output, "yield_sequential"), Catch::Contains("100.00      [57.82, 100.00]       8    3/4  pass"));
    REQUIRE_THAT(row(all.output, "yield_budget"), Catch::Contains("100.00      [39.76, 100.00]       4    2/2  inconclusive"));
    REQUIRE_THAT(row(all.output, "spread_undecided"), Catch::EndsWith("4    2/2  inconclusive"));
    REQUIRE_THAT(all.output, Catch::Contains("3 passed, 1 failed, 2 inconclusive"));

    // The chips are those of the sweep file's own numbering: a plain sweep has the same ones.
    const std::string work = dir / "flashmc-check-work";
    // One work file per sweep text: the plain tiny sweep's, and spread_undecided's (its own overrides).
    long files = 0;
    mc::SweepResults w;
    for (const auto& e : std::filesystem::directory_iterator(work))
        if (e.path().extension() == ".h5") {
            ++files;
            mc::SweepResults r = mc::read_results(e.path().string());
            if (r.sweep_text.find("open-loop") == std::string::npos) w = std::move(r);
        }
    REQUIRE(files == 2);
    REQUIRE(w.capacity == 8);  // the most chips a look asked for: yield_sequential's third
    for (long t = 0; t < 8; ++t) REQUIRE(w.done[w.unit(3, t)] == 1);
    REQUIRE(w.done[w.unit(1, 0)] == 0);                                   // points no requirement names are never run
    {
        // The measured drop is ideal − mean accuracy of the chips used, in points.
        const double ideal = mc::paired_drop(w.labels, w.ideal_predictions, {}).ideal_accuracy;
        REQUIRE(ideal > 0.4);
        const std::string r = row(all.output, "small_drop");
        std::istringstream in(r.substr(r.find("points") + 6));
        double measured = 0;
        in >> measured;
        long chips = 0;
        for (long t = 0; t < w.capacity && w.done[w.unit(0, t)]; ++t) ++chips;
        REQUIRE(chips >= 2);
        const auto n = static_cast<long>(std::stol(r.substr(r.find(']') + 1)));
        double mean = 0;
        for (long t = 0; t < n; ++t) mean += w.accuracy[w.unit(0, t)] / static_cast<double>(n);
        REQUIRE(measured == Approx(100 * (ideal - mean)).margin(0.006));
    }
    const auto plain = run_cli("sweep " + sweep_args + " --out " + dir / "plain.h5");
    REQUIRE(plain.code == 0);
    const mc::SweepResults p = mc::read_results(dir / "plain.h5");
    for (long pt : {0L, 3L})
        for (long t = 0; t < p.capacity; ++t) {
            if (!w.done[w.unit(pt, t)]) continue;
            REQUIRE(w.accuracy[w.unit(pt, t)] == p.accuracy[p.unit(pt, t)]);
            REQUIRE(std::equal(w.predictions.begin() + static_cast<std::ptrdiff_t>(w.unit(pt, t) * 100),
                               w.predictions.begin() + static_cast<std::ptrdiff_t>(w.unit(pt, t) * 100 + 100),
                               p.predictions.begin() + static_cast<std::ptrdiff_t>(p.unit(pt, t) * 100)));
        }

    // The JUnit report: one case per requirement, a failure and a skip, valid against the schema.
    const std::string xml = slurp(dir / "report.xml");
    REQUIRE_THAT(xml, Catch::Contains("tests=\"6\" failures=\"1\" errors=\"0\" skipped=\"2\""));
    REQUIRE_THAT(xml, Catch::Contains("name=\"perfect_mean\"") && Catch::Contains("<failure message=\"fail: mean accuracy &gt;= 100.00 %"));
    REQUIRE_THAT(xml, Catch::Contains("<skipped message=\"inconclusive: yield (accuracy &gt;= 0.00 %) &gt;= 50.00 %; measured 100.00 %, "
                                      "one-sided bounds [39.76, 100.00] % at 97.50 % each (95.00 % over 2 planned looks), 4 chips"));
    if (test::run_shell("command -v xmllint").code == 0) {
        const auto v = test::run_shell("xmllint --noout --schema " + test::source_dir() + "/tests/data/junit.xsd " + dir / "report.xml");
        INFO(v.output);
        REQUIRE(v.code == 0);
    } else {
        WARN("xmllint not installed (Debian: libxml2-utils): schema validation skipped");
    }

    // Re-runs resume the work file: the same verdicts and values. Without the failing requirement
    // the exit status is 2 (inconclusive), with passes only 0.
    std::ofstream(dir / "undecided.toml") << d + lenient + drop + seq + budget;
    const auto undecided = run_cli("check " + dir / "undecided.toml --quiet --work-dir " + work);
    INFO(undecided.output);
    REQUIRE(undecided.code == 2);
    for (const char* name : {"lenient_mean", "small_drop", "yield_sequential", "yield_budget"}) REQUIRE(row(undecided.output, name) == row(all.output, name));
    std::ofstream(dir / "pass.toml") << d + lenient + seq;
    REQUIRE(run_cli("check " + dir / "pass.toml --quiet --work-dir " + work).code == 0);

    // One thread in a fresh work directory: the same chips, bit for bit.
    const auto one = run_cli("check " + dir / "all.toml --quiet --threads 1 --work-dir " + dir / "one");
    REQUIRE(one.code == 1);
    for (const char* name : {"lenient_mean", "perfect_mean", "small_drop", "yield_sequential", "yield_budget", "spread_undecided"}) REQUIRE(row(one.output, name) == row(all.output, name));

    // An existing result file: one look at its chips (3 per point).
    std::ofstream(dir / "result.toml") << "[[requirement]]\nname = \"from_file\"\nresult = \"plain.h5\"\npoint_index = 0\nmean_accuracy_min = 0.2\n";
    const auto res = run_cli("check " + dir / "result.toml --quiet --junit " + dir / "r2.xml");
    INFO(res.output);
    REQUIRE(res.code == 0);
    REQUIRE_THAT(row(res.output, "from_file"), Catch::Contains("       3    1/1  pass"));

    // Input errors exit 4, never 0 or 1; nothing is written.
    std::ofstream(dir / "bad.toml") << d + requirement("bad", kCold, "mean_acuracy_min = 0.5");
    const auto bad = run_cli("check " + dir / "bad.toml --junit " + dir / "bad.xml");
    REQUIRE(bad.code == 4);
    REQUIRE_THAT(bad.output, Catch::Contains("flashmc check: error: ") && Catch::Contains("did you mean 'mean_accuracy_min'?"));
    REQUIRE_FALSE(std::filesystem::exists(dir / "bad.xml"));
    REQUIRE(run_cli("check " + dir / "missing.toml").code == 4);
    REQUIRE(run_cli("check " + dir / "all.toml --junt x.xml").code == 4);
    REQUIRE(run_cli("check").code == 4);
}
