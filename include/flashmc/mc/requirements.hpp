#pragma once
// A requirements file (flashmc check): named reliability requirements, each one point of a sweep
// (run by check, or read from an existing result file) and one assertion on its chips, decided at
// a stated one-sided confidence. Read strictly (io/toml); format and statistics: docs/requirements.md.
//
//   [defaults]       confidence, max_chips, first_chips, set = ["section.key=value", ...]
//   [[requirement]]  name, description,
//                    sweep = "FILE.toml" (check runs it) | result = "FILE.h5" (its chips, one look),
//                    point = { AXIS = value, ... } | point = INDEX (omitted: a sweep without axes),
//                    exactly one of  mean_accuracy_min | accuracy_drop_max_points | yield_min (with
//                    yield_spec_accuracy), and confidence, max_chips, first_chips, set as in [defaults]
//
// Paths are relative to the requirements file; the sweep file's own paths (model, data, card) are
// read as `flashmc sweep` reads them, relative to the working directory.
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "flashmc/mc/stats.hpp"

namespace flashmc::mc {

enum class Assertion { mean_accuracy_min, accuracy_drop_max_points, yield_min };
enum class Verdict { pass, fail, inconclusive };
const char* verdict_name(Verdict v);  // "pass", "fail", "inconclusive"

struct Requirement {
    std::string name, description;
    std::string sweep_file;               // exactly one of sweep_file and result_file is set
    std::string result_file;
    std::vector<std::string> overrides;   // sweep-file overrides: [defaults] set, then the requirement's
    long point = 0;                       // index in the sweep's grid
    std::string point_label;              // "temperature = 85, time = 31536000" (empty: no axes)
    Assertion assertion = Assertion::mean_accuracy_min;
    double threshold = 0;                 // mean accuracy or yield (fractions), or drop (points)
    double spec_accuracy = std::numeric_limits<double>::quiet_NaN();  // yield: chips with accuracy >= this pass
    double confidence = 0.95;             // one-sided, over all looks
    long max_chips = 64;                  // chip budget (sweep requirements)
    long first_chips = 8;                 // chips at the first look (capped at max_chips)
    std::string assertion_text() const;   // "mean accuracy >= 85.00 %", "yield(acc >= 85.00 %) >= 90.00 %"
};

struct RequirementsFile {
    std::string source;  // path as given
    std::string text;
    std::vector<Requirement> requirements;
};

// Loads and validates a requirements file: every key, every referenced sweep file (loaded with its
// overrides, so a bad sweep stops the check before anything runs) or result file, and every point.
RequirementsFile load_requirements(const std::string& path);

// The chip counts at which a sweep requirement is evaluated: first_chips, then doubling, ending at
// max_chips (first_chips capped at max_chips). A result file is one look at the chips it holds.
std::vector<long> look_schedule(const Requirement& r);
// The confidence of each of `looks` looks so that the stated confidence holds over all of them
// (Bonferroni): 1 − (1 − confidence)/looks.
double look_confidence(double confidence, long looks);

struct Decision {
    Verdict verdict = Verdict::inconclusive;  // inconclusive: not decided at this look
    long chips = 0;
    double value = 0;          // measured: mean accuracy (fraction), drop (points) or yield (fraction)
    Interval bounds{0, 0};     // one-sided lower and upper bounds of `value` at `confidence`
    double confidence = 0;     // of this look
    long passing = 0;          // yield: chips at or above the spec accuracy
};
// Decides a requirement on the accuracies of chips at its point (ideal_accuracy: the digital model
// on the same images, for drops) at one look's confidence. A "≥" assertion passes when the lower
// bound is ≥ the threshold and fails when the upper bound is below it; a "≤" assertion (drop)
// passes when the upper bound is ≤ the threshold and fails when the lower bound is above it.
Decision decide(const Requirement& r, std::span<const double> accuracies, double ideal_accuracy, double confidence);

}  // namespace flashmc::mc
