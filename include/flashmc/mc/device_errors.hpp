#pragma once
// Chip tables for device-aware fine-tuning (nn/weight_errors.hpp; flashmc train --device-aware).
// Every point of the given sweep files is one condition: its device card, programming mode,
// variation, P/E cycles, retention bake, reads, read temperature, read reference and column
// calibration, as the [device], [chip] tables and axes set them. Per condition, `chips` chips of
// the model are sampled exactly as a sweep samples them (sample_chip) and read as the static path
// reads them (effective_weights); with array.read_noise = "per_batch", each chip is read `reads`
// times with fresh read noise. Each analog weight's effective value (code units) is filed under its
// layer and programmed code; a (layer, code) pool larger than `max_samples` is thinned to that many,
// evenly strided.
//  - The chips are those of a sweep with seed hash_keys(spec.seed, {kTrainingChipsKey}): never the
//    chips that a sweep of the same file measures, so fine-tuning does not see its test chips.
//  - A code with fewer than kMinSamples samples in a layer (codes the model rarely uses) is topped
//    up from the same code's samples of all layers at that condition; a code no layer uses keeps
//    its exact value.
//  - The tables keep each weight's own error distribution (what per-cell errors, the reference and
//    the calibration leave), not the correlation between weights of one chip. Array settings that
//    are not per-weight errors (IR drop, ADC) are refused.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "flashmc/mc/sweep_spec.hpp"
#include "flashmc/nn/quant_model.hpp"
#include "flashmc/nn/weight_errors.hpp"

namespace flashmc::mc {

struct DeviceErrorOptions {
    int chips = 4;                   // chips sampled per condition
    int reads = 4;                   // noisy reads per chip (read noise on only)
    std::size_t max_samples = 4096;  // per (condition, layer, code)
};

inline constexpr std::size_t kMinSamples = 64;
inline constexpr std::uint64_t kTrainingChipsKey = 0x747261696e636869ULL;  // "trainchi"

// The tables for `model` (a quantized model) under every point of `specs`, in file and point order.
nn::WeightErrors device_error_tables(const nn::QuantModel& model, const std::vector<SweepSpec>& specs,
                                     const DeviceErrorOptions& options);

// Per condition and code, the mean and RMS of (effective − code) over every tabled weight: what the
// tables hold, for reports. [condition][code + qmax] pairs (mean, rms); codes without samples NaN.
std::vector<std::vector<std::pair<double, double>>> code_error_summary(const nn::WeightErrors& e);

}  // namespace flashmc::mc
