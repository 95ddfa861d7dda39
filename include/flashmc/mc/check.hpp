#pragma once
// Deciding a requirements file (flashmc check). A `result` requirement is one look at the chips its
// file holds at the point. A `sweep` requirement runs its point through run_sweep into a work file
// and is looked at after first_chips, 2·first_chips, ... , max_chips chips, each look at the
// Bonferroni-split confidence (mc/requirements.hpp), until it passes or fails; undecided at
// max_chips, it is inconclusive. A look uses chips 0 .. n − 1 of its point, so the verdict depends
// only on the seed, the point and n: the same for any thread or rank count, and on a re-run, which
// resumes the work file (the chips already there are reused, never re-drawn).
//
// Requirements on the same sweep file with the same overrides share one work file,
// WORK_DIR/<sweep name>-<12 hex digits of the sweep text's SHA-256>.h5: a sweep result file whose
// chips are numbered as in a full run of that sweep (the same (point, trial) has the same chip).
// Under MPI every rank calls run_check; rank 0 decides each round and reads and writes the files.
#include <string>
#include <vector>

#include "flashmc/mc/requirements.hpp"

namespace flashmc::mc {

struct CheckOptions {
    std::string work_dir = "check-work";  // where sweep requirements' chips are kept
    int threads = 0;                       // <= 0: OpenMP default
    bool progress = true;
    double checkpoint_interval_s = 30;
};

struct CheckResult {
    Requirement requirement;
    Decision decision;          // the last look's
    long looks = 0;             // looks taken
    long planned_looks = 1;     // the confidence is split over these
    std::string data_file;      // the result or work file the chips are in
    double seconds = 0;         // wall time spent running this requirement's sweep rounds (shared rounds counted fully)
};

// Every rank returns the same verdicts; the other fields are filled at rank 0 only.
std::vector<CheckResult> run_check(const RequirementsFile& file, const CheckOptions& options);

// The exit status of `flashmc check`: 0 when every requirement passes, 1 when any fails, else 2
// (some inconclusive, none failed).
int check_exit_code(const std::vector<CheckResult>& results);

}  // namespace flashmc::mc
