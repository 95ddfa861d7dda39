#pragma once
// Device-aware training (flashmc train --device-aware): the weights a chip realizes, as tables per
// weight code. For each condition (e.g. one point of a sweep file: "retention 1 day at 85 °C"), each
// analog layer and each code k ∈ [−Q, Q], samples of the effective weight, in code units, that
// sampled chips give a cell pair programmed to k. The mc module tabulates them from the device model
// (mc/device_errors.hpp); nn only draws from them, so it stays free of device physics:
//  - at every training step one condition c is drawn (stream (kConditionKey, step));
//  - every weight of a tabled layer, fake-quantized to code k with scale s, becomes s·e with e a
//    sample of table[c][layer][k] drawn afresh (stream (kDrawKey, step, node), one draw per weight
//    in storage order), so the forward pass sees a freshly sampled chip's weights;
//  - the gradient passes straight through to the float weight (the quantizer's STE, unchanged).
// Draws depend only on (seed, step, node): a resumed run is bit-identical.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "flashmc/core/rng.hpp"

namespace flashmc::nn {

struct CodeTable {
    int qmax = 0;                               // codes −qmax … qmax
    std::vector<std::vector<float>> samples;    // [k + qmax]: effective weights of code k (code units), each non-empty
};

struct WeightErrors {
    std::vector<std::string> conditions;                    // one description per condition
    std::vector<std::map<std::string, CodeTable>> tables;   // [condition][layer (node) name]
    // SHA-256 of the descriptions and every sample: names the tables in a checkpoint's identity.
    std::string fingerprint() const;
};

inline constexpr std::uint64_t kConditionKey = 0x64657661636f6e64ULL;  // "devacond"
inline constexpr std::uint64_t kDrawKey = 0x6465766164726177ULL;       // "devadraw"

// The condition of training step `step` (uniform over the n conditions).
int draw_condition(const Streams& streams, std::uint64_t step, std::size_t n);

// In place: each fake-quantized weight wq[j] = k·s (s = scale of its output channel, `scales`
// has out_c entries) becomes s·(a sample of t's code k), drawn from `rng` in index order.
// Throws when a weight is not on the code grid of t (a different bit width).
void draw_weights(const CodeTable& t, const std::vector<float>& scales, int out_c, std::size_t row, Stream& rng, float* wq);

}  // namespace flashmc::nn
