// flashmc sweep: run a Monte Carlo sweep file (experiments/*.toml) and write its HDF5 results.
#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/mc/mpi.hpp"
#include "flashmc/mc/sweep.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc sweep FILE.toml [--out F.h5] [--threads N] [--resume] [--shard i/N] [--set key=value]...

Runs a Monte Carlo sweep: for every point of the sweep grid and every trial, one chip is sampled
(every analog layer's cells on their tiles, erased, programmed and aged), the test images are
classified through it, and the results are checkpointed into the HDF5 output (schema and sweep-file
keys: docs/results-format.md). With the [array] defaults the chip has static errors only and runs
as effective weights and GEMMs; IR drop, ADCs or per-batch read noise in [array] run every analog
layer through the array model (DAC, cell currents, IR drop, ADC) instead.
  --out F.h5      output file (default: sweep.output of the file)
  --threads N     OpenMP threads; results are bit-identical for any N
  --resume        continue from the units already in the output file
  --shard i/N     run only the units u with u % N == i (combine the shards with flashmc merge)
  --set k=v       override a sweep-file key, e.g. --set sweep.trials=16 or
                  --set 'device.set=["variation.sigma_vth_v=0.03"]' (repeatable)
  --checkpoint-s S  least seconds between checkpoint rewrites (default 30)
  --quiet         no progress bar

Under MPI (mpirun -np K flashmc sweep ..., or srun), the K ranks share the units: each rank
evaluates units on its --threads OpenMP threads, rank 0 alone writes the output file, and the
file equals a one-process run's. With --shard, the ranks share that shard's units.)";

int sweep(const std::string& file, const std::vector<std::string>& overrides, const mc::SweepOptions& o) {
    const mc::SweepSpec spec = mc::load_sweep_spec(file, overrides);
    const bool root = mc::mpi::root();  // only rank 0 prints
    if (root) {
        std::printf("sweep %s: %ld points x %ld trials%s, %ld images, seed %llu\n", file.c_str(), spec.points(), spec.trials,
                    spec.adaptive.enabled ? " (adaptive)" : "", spec.test_images, static_cast<unsigned long long>(spec.seed));
        std::fflush(stdout);
    }
    const mc::SweepOutcome r = mc::run_sweep(spec, o);
    if (!root) return 0;
    if (r.stopped) {
        std::printf("stopped after %ld units (%ld done in %s); continue with --resume\n", r.units_run, r.units_done, r.output.c_str());
        return 3;
    }
    std::printf("%ld units run, %ld in file; %s\n", r.units_run, r.units_done, r.complete ? "complete" : "incomplete");
    std::printf("results: %s\n", r.output.c_str());
    return 0;
}

int run(Args& a) {
    if (a.positional().size() != 1) fail("sweep: expects exactly one sweep file (FILE.toml); see flashmc help sweep");
    const std::string file = a.positional()[0];
    mc::SweepOptions o;
    o.output = a.str("out", "");
    o.threads = a.threads();
    o.resume = a.flag("resume");
    o.checkpoint_interval_s = a.number("checkpoint-s", 30.0);
    if (!(o.checkpoint_interval_s >= 0)) fail("sweep: --checkpoint-s expects a number >= 0, got ", o.checkpoint_interval_s);
    o.stop_after_units = a.integer("stop-after-units", -1);  // testing: stop as if killed
    o.progress = !a.flag("quiet");
    const std::string shard = a.str("shard", "");
    const auto overrides = a.all("set");
    a.finish(1);
    if (!shard.empty()) {
        int i = -1, n = 0;
        char slash = 0, extra = 0;
        if (std::sscanf(shard.c_str(), "%d%c%d%c", &i, &slash, &n, &extra) != 3 || slash != '/' || n < 1 || i < 0 || i >= n)
            fail("sweep: --shard expects i/N with 0 <= i < N, got '", shard, "'");
        o.shard_index = i;
        o.shard_count = n;
    }
    mc::mpi::Session mpi;  // MPI_Init when started by mpirun or srun
    try {
        return sweep(file, overrides, o);
    } catch (const std::exception& e) {
        if (mc::mpi::size() == 1) throw;
        // One rank failed: say which, and end every rank (the others may wait for it).
        std::fprintf(stderr, "flashmc sweep: error: %s (rank %d of %d)\n", e.what(), mc::mpi::rank(), mc::mpi::size());
        std::fflush(stderr);
        mc::mpi::abort(1);
    }
}

const Registration reg({"sweep", "run a Monte Carlo sweep file over device non-idealities (HDF5 results)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
