// flashmc check: decide a requirements file (reliability requirements as pass/fail tests).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/junit.hpp"
#include "flashmc/mc/check.hpp"
#include "flashmc/mc/mpi.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc check REQ.toml [--junit report.xml] [--work-dir DIR] [--threads N] [--quiet]

Decides every requirement of a requirements file (format and statistics: docs/requirements.md):
one point of a sweep and one assertion on its chips (mean accuracy >= X, accuracy drop <= Y
points, or yield >= Z), at a stated one-sided confidence. A requirement on an existing result file
is one look at its chips; one on a sweep file runs that point, adding chips (first_chips, doubling,
up to max_chips) until the verdict is decided, with the confidence split over the planned looks.
Prints a table and exits with
  0  every requirement passes        1  some requirement fails
  2  none fails, some inconclusive   4  error in the input (file, key, value) or in a run
  3  internal error
  --junit F.xml    also write a JUnit XML report (one test case per requirement; inconclusive is
                   <skipped>), as CI servers read it
  --work-dir DIR   where the chips of sweep requirements are kept, and resumed from on a re-run
                   (default: flashmc-check-work beside the --junit report, else in the current directory)
  --threads N      OpenMP threads; verdicts and chips are bit-identical for any N
  --checkpoint-s S least seconds between checkpoint rewrites of a work file (default 30)
  --quiet          no progress output

Under MPI (mpirun -np K flashmc check ...), the K ranks share each round's chips as in flashmc
sweep; rank 0 alone writes the files and prints.)";

std::string pct(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", 100 * v);
    return b;
}

// The measured value and bounds in the assertion's unit.
std::string value_text(const mc::CheckResult& c, double v) {
    if (c.requirement.assertion == mc::Assertion::accuracy_drop_max_points) {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f", v);
        return b;
    }
    return pct(v);
}
const char* unit(const mc::CheckResult& c) {
    return c.requirement.assertion == mc::Assertion::accuracy_drop_max_points ? " points" : " %";
}

// One line: what was measured, its bounds and the chips, as the table and the JUnit message say it.
std::string summary(const mc::CheckResult& c) {
    const auto& d = c.decision;
    const auto& r = c.requirement;
    std::string s = std::string(mc::verdict_name(d.verdict)) + ": " + r.assertion_text() + "; measured " + value_text(c, d.value) + unit(c) +
                    ", one-sided bounds [" + value_text(c, d.bounds.lo) + ", " + value_text(c, d.bounds.hi) + "]" + unit(c) + " at " +
                    pct(d.confidence) + " % each (" + pct(r.confidence) + " % over " + std::to_string(c.planned_looks) + " planned look" +
                    (c.planned_looks == 1 ? "" : "s") + "), " + std::to_string(d.chips) + " chips";
    if (r.assertion == mc::Assertion::yield_min) s += " (" + std::to_string(d.passing) + " at or above spec)";
    s += ", look " + std::to_string(c.looks) + " of " + std::to_string(c.planned_looks);
    s += "; " + (r.sweep_file.empty() ? "result " + r.result_file : "sweep " + r.sweep_file);
    if (!r.point_label.empty()) s += " at " + r.point_label;
    s += " (chips in " + c.data_file + ")";
    return s;
}

void print_table(const std::vector<mc::CheckResult>& results) {
    std::size_t w = 11;
    for (const auto& c : results) w = std::max(w, c.requirement.name.size());
    std::size_t wa = 9;
    for (const auto& c : results) wa = std::max(wa, c.requirement.assertion_text().size());
    std::printf("%-*s  %-*s  %9s  %19s  %6s  %5s  %s\n", static_cast<int>(w), "requirement", static_cast<int>(wa), "assertion", "measured",
                "bounds (one-sided)", "chips", "looks", "verdict");
    for (const auto& c : results) {
        const auto& d = c.decision;
        const std::string bounds = "[" + value_text(c, d.bounds.lo) + ", " + value_text(c, d.bounds.hi) + "]";
        const std::string looks = std::to_string(c.looks) + "/" + std::to_string(c.planned_looks);
        std::printf("%-*s  %-*s  %9s  %19s  %6ld  %5s  %s\n", static_cast<int>(w), c.requirement.name.c_str(), static_cast<int>(wa),
                    c.requirement.assertion_text().c_str(), value_text(c, d.value).c_str(), bounds.c_str(), d.chips, looks.c_str(),
                    mc::verdict_name(d.verdict));
    }
    long pass = 0, fail = 0, undecided = 0;
    for (const auto& c : results) {
        pass += c.decision.verdict == mc::Verdict::pass;
        fail += c.decision.verdict == mc::Verdict::fail;
        undecided += c.decision.verdict == mc::Verdict::inconclusive;
    }
    std::printf("%ld passed, %ld failed, %ld inconclusive\n", pass, fail, undecided);
}

io::JunitSuite junit_suite(const std::string& file, const std::vector<mc::CheckResult>& results, double seconds, const std::string& timestamp) {
    io::JunitSuite s;
    s.name = "flashmc check " + std::filesystem::path(file).filename().string();
    s.time_s = seconds;
    s.timestamp = timestamp;
    const std::string classname = "flashmc.check." + std::filesystem::path(file).stem().string();
    for (const auto& c : results) {
        io::JunitCase k;
        k.classname = classname;
        k.name = c.requirement.name;
        k.time_s = c.seconds;
        const std::string line = summary(c);
        switch (c.decision.verdict) {
            case mc::Verdict::pass: k.outcome = io::JunitCase::Outcome::passed; break;
            case mc::Verdict::fail: k.outcome = io::JunitCase::Outcome::failure; break;
            case mc::Verdict::inconclusive: k.outcome = io::JunitCase::Outcome::skipped; break;
        }
        k.message = line;
        k.detail = c.requirement.description;
        k.system_out = line + (c.requirement.description.empty() ? "" : "\n" + c.requirement.description);
        s.cases.push_back(std::move(k));
    }
    return s;
}

int check(const std::string& file, const std::string& junit, const mc::CheckOptions& o) {
    const bool root = mc::mpi::root();
    const auto started = std::chrono::steady_clock::now();
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    const mc::RequirementsFile req = mc::load_requirements(file);
    if (root) {
        std::printf("check %s: %zu requirement%s, chips of sweeps in %s\n", file.c_str(), req.requirements.size(),
                    req.requirements.size() == 1 ? "" : "s", o.work_dir.c_str());
        std::fflush(stdout);
    }
    const auto results = mc::run_check(req, o);
    if (root) {
        print_table(results);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!junit.empty()) {
            io::write_junit(junit, junit_suite(file, results, seconds, stamp));
            std::printf("junit: %s\n", junit.c_str());
        }
    }
    return mc::check_exit_code(results);
}

int run(Args& a) {
    // Input errors exit 4, never 1 (a failed requirement) or 0.
    try {
        if (a.positional().size() != 1) fail("check: expects exactly one requirements file (REQ.toml); see flashmc help check");
        const std::string file = a.positional()[0];
        const std::string junit = a.str("junit", "");
        mc::CheckOptions o;
        const std::string beside = junit.empty() ? std::string(".") : std::filesystem::path(junit).parent_path().string();
        o.work_dir = a.str("work-dir", (std::filesystem::path(beside.empty() ? "." : beside) / "flashmc-check-work").lexically_normal().string());
        o.threads = a.threads();
        o.checkpoint_interval_s = a.number("checkpoint-s", 30.0);
        if (!(o.checkpoint_interval_s >= 0)) fail("check: --checkpoint-s expects a number >= 0, got ", o.checkpoint_interval_s);
        o.progress = !a.flag("quiet");
        a.finish(1);
        mc::mpi::Session mpi;  // MPI_Init when started by mpirun or srun
        try {
            return check(file, junit, o);
        } catch (const std::exception& e) {
            if (mc::mpi::size() == 1) throw;
            std::fprintf(stderr, "flashmc check: error: %s (rank %d of %d)\n", e.what(), mc::mpi::rank(), mc::mpi::size());
            std::fflush(stderr);
            mc::mpi::abort(4);
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "flashmc check: error: %s\n", e.what());
        return 4;
    }
}

const Registration reg({"check", "decide reliability requirements (TOML) on sweeps: pass/fail/inconclusive, JUnit XML", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
