#pragma once
// What the result-file targets do with a file: read it as `flashmc inspect`, `merge` and
// `sweep --resume` do, compute every point's statistics and merge it with itself. Only
// flashmc::Error may come out.
#include "flashmc/core/error.hpp"
#include "flashmc/mc/sweep.hpp"
#include "fuzz_util.hpp"

namespace flashmc::fuzz {

inline void check_results_file(const std::string& path) {
    try {
        const mc::SweepResults r = mc::read_results(path);
        (void)r.units_done();
        (void)r.complete();
        for (long p = 0; p < r.points && p < 64; ++p) {
            (void)r.planned_trials(p);
            (void)mc::point_stats(r, p);
        }
        const mc::SweepResults m = mc::merge_results({path, path});
        (void)m.complete();
    } catch (const Error&) {
        // the clean rejection of a bad file
    }
    require_no_open_hdf5_objects();
}

}  // namespace flashmc::fuzz
