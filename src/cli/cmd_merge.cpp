// flashmc merge: combine the shard files of one sweep (--shard i/N) into one result file.
#include <cstdio>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/mc/sweep.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc merge SHARD.h5... -o F.h5

Combines sweep files written with --shard i/N (or partial runs of one sweep) into one file whose
results equal a single run's. The inputs must come from the same sweep file text, seed, model and
dataset; a unit present in several inputs must agree bit for bit.)";

int run(Args& a) {
    const std::string out = a.required("out");
    a.finish(static_cast<std::size_t>(-1));
    if (a.positional().empty()) fail("merge: no input files; see flashmc help merge");
    mc::SweepResults r = mc::merge_results(a.positional());
    mc::write_results(out, r);
    std::printf("merged %zu files: %ld of %ld units done (%s)\nresults: %s\n", a.positional().size(), r.units_done(),
                r.points * r.capacity, r.complete() ? "complete" : "incomplete", out.c_str());
    return 0;
}

const Registration reg({"merge", "combine sweep shard files into one result file", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
