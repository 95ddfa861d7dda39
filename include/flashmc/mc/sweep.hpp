#pragma once
// Running a sweep: (point, trial) units, each one sampled chip evaluated on the test images, run
// in any order on any thread (each unit draws only from its own streams, so results are
// bit-identical for any thread count), checkpointed into the output file as they complete, and
// resumable. Shards (--shard i/N) run the units u with u % N == i, u = point·capacity + trial;
// merge_results() combines shard files. The HDF5 schema is documented in docs/results-format.md.
//
// Scheduling is a flat list of pending unit numbers per round (rounds only matter for adaptive
// stopping, which adds trials to a point after its previous round is complete); any scheduler that
// hands out unit numbers (OpenMP threads; MPI ranks, mc/mpi.hpp) gives the same results. Under MPI
// (MPI initialized by mpi::Session, more than one rank) run_sweep shares the units among the ranks
// and only rank 0 reads and writes the output file.
#include <cstdint>
#include <string>
#include <vector>

#include "flashmc/mc/stats.hpp"
#include "flashmc/mc/sweep_spec.hpp"

namespace flashmc::mc {

inline constexpr const char* kSweepFiletype = "flashmc.sweep";
inline constexpr int kSweepSchemaVersion = 1;

struct AxisRecord {
    std::string name, parameter, spacing;
    std::vector<double> values;
};

// Everything a sweep file holds; unit arrays are [point][trial] (trial < capacity), flattened.
struct SweepResults {
    // provenance
    std::string source, sweep_text, card_text, model_file, model_sha256, data_dir, dataset_sha256, name;
    std::uint64_t seed = 0;
    double spec_accuracy = 0;  // NaN: no yield
    bool adaptive = false;
    double adaptive_ci_half_width = 0;
    long trials = 0;           // initial trials per point
    long points = 0, capacity = 0, images = 0;
    int shard_index = 0, shard_count = 1;
    std::vector<AxisRecord> axes;
    std::vector<double> point_values;        // [point][axis]
    std::vector<std::string> layer_names;    // analog layers
    std::vector<std::int32_t> layer_nodes;
    std::vector<std::uint8_t> labels;        // [image]
    std::vector<std::int8_t> ideal_predictions;  // [image]
    double ideal_seconds = 0;
    double elapsed_seconds = 0;  // wall time of the runs that wrote the file (resumes and merged shards summed)
    // per unit
    std::vector<std::uint8_t> done;          // [point][trial]
    std::vector<double> accuracy;            // NaN where not done
    std::vector<std::int8_t> predictions;    // [point][trial][image], −1 where not done
    std::vector<double> layer_error;         // [point][trial][layer] RMS relative error, NaN if off
    std::vector<std::uint64_t> stream_keys;  // [point][trial][layer]
    std::vector<double> unit_seconds;        // [point][trial]

    std::size_t unit(long point, long trial) const { return static_cast<std::size_t>(point * capacity + trial); }
    long layers() const { return static_cast<long>(layer_names.size()); }
    // Trials the point should hold given its done units: `trials`, extended by adaptive stopping
    // while the previous round is complete and its CI half-width is above target.
    long planned_trials(long point) const;
    long units_done() const;
    bool complete() const;  // every planned unit (of this shard, for a shard file) done
    std::vector<double> point_accuracies(long point) const;  // done trials, in trial order
};

struct PointStats {
    AccuracyStats accuracy;
    DropStats drop;
    YieldStats yield;
    std::vector<double> layer_error_mean;  // per layer, over done trials
};
PointStats point_stats(const SweepResults& r, long point);

// Writes the whole file atomically (temporary beside `path`, then rename).
void write_results(const std::string& path, const SweepResults& r);
// Reads a sweep file back (checks filetype and schema version).
SweepResults read_results(const std::string& path);
// Combines shard files of one sweep; throws if they come from different sweeps or disagree on a unit.
SweepResults merge_results(const std::vector<std::string>& paths);

struct SweepOptions {
    std::string output;          // empty: the spec's sweep.output
    int threads = 0;             // <= 0: OpenMP default
    bool resume = false;
    int shard_index = 0, shard_count = 1;
    long stop_after_units = -1;  // testing: stop (as if killed) after this many units in this process
    double checkpoint_interval_s = 30;  // least time between checkpoint rewrites (0: after every unit)
    bool progress = true;
    // When not empty (one entry per point): run trials 0 .. trials_per_point[p] − 1 of each point p
    // instead of its planned trials (flashmc check adds chips to one point look by look). The file's
    // capacity grows to hold them; a resumed file of another capacity keeps every chip in its
    // (point, trial) slot, so adding chips reuses the chips already run (same streams, same bits).
    std::vector<long> trials_per_point;
};

struct SweepOutcome {
    std::string output;
    long units_run = 0;    // in this process (under MPI: at rank 0, in the whole job)
    long units_done = 0;   // in the file (known at rank 0 only, as `complete`)
    bool complete = false;
    bool stopped = false;  // by stop_after_units
};
SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options);

}  // namespace flashmc::mc
