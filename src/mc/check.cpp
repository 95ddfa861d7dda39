#include "flashmc/mc/check.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "flashmc/core/error.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/mc/mpi.hpp"
#include "flashmc/mc/sweep.hpp"

namespace flashmc::mc {

namespace {

double ideal_accuracy(const SweepResults& r) { return paired_drop(r.labels, r.ideal_predictions, {}).ideal_accuracy; }

// Accuracies of trials 0 .. n − 1 of a point, all of which must be done.
std::vector<double> first_chips(const SweepResults& r, long point, long n, const std::string& path) {
    std::vector<double> a;
    for (long t = 0; t < n; ++t) {
        if (t >= r.capacity || !r.done[r.unit(point, t)]) fail(path, ": chip ", t, " of point ", point, " is missing after its round");
        a.push_back(r.accuracy[r.unit(point, t)]);
    }
    return a;
}

void report_look(const CheckResult& c) {
    const Decision& d = c.decision;
    std::fprintf(stderr, "check %s: look %ld/%ld, %ld chips: %s (value %.4g, bounds [%.4g, %.4g] at %.4g)\n",
                 c.requirement.name.c_str(), c.looks, c.planned_looks, d.chips,
                 d.verdict == Verdict::inconclusive ? "undecided" : verdict_name(d.verdict), d.value, d.bounds.lo, d.bounds.hi, d.confidence);
    std::fflush(stderr);
}

}  // namespace

std::vector<CheckResult> run_check(const RequirementsFile& file, const CheckOptions& o) {
    using Clock = std::chrono::steady_clock;
    const bool root = mpi::root();
    const auto& reqs = file.requirements;
    std::vector<CheckResult> out(reqs.size());

    struct Group {
        SweepSpec spec;
        std::string path;
        std::vector<std::size_t> members;
    };
    std::vector<Group> groups;
    std::map<std::string, std::size_t> group_at;
    std::vector<std::vector<long>> schedule(reqs.size());
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        const Requirement& r = reqs[i];
        out[i].requirement = r;
        if (!r.result_file.empty()) {
            out[i].data_file = r.result_file;
            continue;
        }
        schedule[i] = look_schedule(r);
        out[i].planned_looks = static_cast<long>(schedule[i].size());
        SweepSpec spec = load_sweep_spec(r.sweep_file, r.overrides);
        const std::string stem = spec.name.empty() ? std::filesystem::path(r.sweep_file).stem().string() : spec.name;
        const std::string path =
            (std::filesystem::path(o.work_dir) / (stem + "-" + sha256_hex(spec.text.data(), spec.text.size()).substr(0, 12) + ".h5")).string();
        auto [it, added] = group_at.emplace(path, groups.size());
        if (added) groups.push_back({std::move(spec), path, {}});
        groups[it->second].members.push_back(i);
        out[i].data_file = path;
    }

    // Existing result files: one look each, at rank 0.
    if (root)
        for (auto& c : out) {
            const Requirement& r = c.requirement;
            if (r.result_file.empty()) continue;
            const SweepResults res = read_results(r.result_file);
            const auto acc = res.point_accuracies(r.point);
            c.decision = decide(r, acc, ideal_accuracy(res), look_confidence(r.confidence, 1));
            c.looks = 1;
            if (o.progress) report_look(c);
        }

    // Sweep requirements: rounds of looks. Rank 0 plans each round (trials per point of each group's
    // sweep) and every rank runs it.
    std::vector<std::size_t> look(reqs.size(), 0);
    std::vector<bool> open(reqs.size());
    for (std::size_t i = 0; i < reqs.size(); ++i) open[i] = reqs[i].result_file.empty();
    for (;;) {
        std::vector<long> plan;
        if (root) {
            bool any = false;
            for (const auto& g : groups) {
                std::vector<long> trials(static_cast<std::size_t>(g.spec.points()), 0);
                for (std::size_t m : g.members) {
                    if (!open[m]) continue;
                    auto& t = trials[static_cast<std::size_t>(reqs[m].point)];
                    t = std::max(t, schedule[m][look[m]]);
                    any = true;
                }
                plan.insert(plan.end(), trials.begin(), trials.end());
            }
            if (!any) plan.clear();
        }
        mpi::broadcast(plan);
        if (plan.empty()) break;
        std::size_t offset = 0;
        for (const auto& g : groups) {
            const auto points = static_cast<std::size_t>(g.spec.points());
            std::vector<long> trials(plan.begin() + static_cast<std::ptrdiff_t>(offset), plan.begin() + static_cast<std::ptrdiff_t>(offset + points));
            offset += points;
            if (std::all_of(trials.begin(), trials.end(), [](long n) { return n == 0; })) continue;
            SweepOptions so;
            so.output = g.path;
            so.threads = o.threads;
            so.resume = true;
            so.progress = o.progress;
            so.checkpoint_interval_s = o.checkpoint_interval_s;
            so.trials_per_point = trials;
            const auto t0 = Clock::now();
            run_sweep(g.spec, so);
            const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
            if (!root) continue;
            const SweepResults res = read_results(g.path);
            const double ideal = ideal_accuracy(res);
            for (std::size_t m : g.members) {
                if (!open[m]) continue;
                const Requirement& r = reqs[m];
                const auto& s = schedule[m];
                CheckResult& c = out[m];
                c.decision = decide(r, first_chips(res, r.point, s[look[m]], g.path), ideal,
                                    look_confidence(r.confidence, static_cast<long>(s.size())));
                c.looks = static_cast<long>(look[m]) + 1;
                c.seconds += seconds;
                if (o.progress) report_look(c);
                if (c.decision.verdict != Verdict::inconclusive || look[m] + 1 == s.size()) open[m] = false;
                else ++look[m];
            }
        }
    }

    std::vector<long> verdicts;
    for (const auto& c : out) verdicts.push_back(static_cast<long>(c.decision.verdict));
    mpi::broadcast(verdicts);
    for (std::size_t i = 0; i < out.size(); ++i) out[i].decision.verdict = static_cast<Verdict>(verdicts[i]);
    return out;
}

int check_exit_code(const std::vector<CheckResult>& results) {
    bool failed = false, undecided = false;
    for (const auto& c : results) {
        failed = failed || c.decision.verdict == Verdict::fail;
        undecided = undecided || c.decision.verdict == Verdict::inconclusive;
    }
    return failed ? 1 : undecided ? 2 : 0;
}

}  // namespace flashmc::mc
