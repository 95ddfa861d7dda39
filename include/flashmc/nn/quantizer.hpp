#pragma once
// The source paper's 4-bit quantizers.
//  - Weights: signed symmetric, codes in [-Q, Q], Q = 2^(b-1) - 1, scale s = t / Q. The clipping
//    threshold t is adjusted dynamically: every `every_steps` training steps the float weights are
//    sampled and the threshold that minimizes the quantization MSE among candidate fractions of
//    max|w| is found; it is smoothed into the running threshold, t <- (1-m) t + m t*. Gradients
//    pass by the straight-through estimator, clipped to |w| <= t.
//  - Activations: unsigned, after ReLU, clip value alpha learned by backpropagation (PACT, Choi et
//    al. 2018, arXiv:1805.06085), codes in [0, 2^b - 1], scale alpha / (2^b - 1).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "flashmc/io/hdf5.hpp"

namespace flashmc::nn {

// The clipping threshold in (0, max|x|] minimizing sum (x - Q_t(x))^2, where Q_t quantizes to
// `levels` uniform steps of size t/levels on [-t, t] (is_signed) or [0, t]. Candidates are
// max|x|·j/64 for j = 8..64.
float mse_optimal_threshold(const float* x, std::size_t n, int levels, bool is_signed);

// The same search, streamed: values arrive in pieces (e.g. calibration batches) and the result is
// the one mse_optimal_threshold gives on their concatenation, without holding it. `total` is the
// concatenation's length, known in advance (it fixes the sampling stride).
class ThresholdSearch {
public:
    ThresholdSearch(std::size_t total, int levels, bool is_signed);
    void add(const float* x, std::size_t n);  // the next n values
    float threshold() const;                   // after all `total` values were added
private:
    std::size_t total_, stride_, seen_ = 0;
    int levels_;
    bool signed_;
    float max_ = 0.0f;
    std::vector<float> sample_;  // values at indices 0, stride, 2·stride, ...
};

// Round half away from zero: the rounding of both the fake-quantized graph and integer inference.
// NaN and magnitudes from 2^62 on (integers already) pass unchanged: their conversion to long would
// be undefined (a corrupted model's weight of 1e38 reached it).
inline float round_half_away(float v) {
    if (!(std::abs(v) < 0x1p62f)) return v;
    return v >= 0.0f ? static_cast<float>(static_cast<long>(v + 0.5f)) : -static_cast<float>(static_cast<long>(-v + 0.5f));
}

struct WeightQuantizer {
    int bits = 0;                 // 0: float weights
    bool per_channel = false;     // one threshold per output channel
    int every_steps = 50;         // re-estimation period (training steps)
    double momentum = 0.1;        // smoothing of the running threshold
    std::vector<float> threshold; // running threshold(s); empty until first estimate

    bool enabled() const { return bits > 0; }
    int qmax() const { return (1 << (bits - 1)) - 1; }
    float scale(int channel) const { return threshold[per_channel ? channel : 0] / static_cast<float>(qmax()); }
    // Re-estimates the threshold(s) from weights w (out_c rows of `row` values) and smooths them in.
    void update(const float* w, int out_c, std::size_t row);
    // Fake-quantizes w into wq (same layout): wq = clamp(round(w/s), -Q, Q) * s.
    void quantize(const float* w, int out_c, std::size_t row, float* wq) const;
    // Integer codes of w.
    std::vector<std::int8_t> codes(const float* w, int out_c, std::size_t row) const;
    // STE: zero the gradient where |w| > t.
    void mask_gradient(const float* w, int out_c, std::size_t row, float* grad) const;
    void save(const h5::Group& g) const;
    void load(const h5::Group& g, int out_c);  // checks bits, settings and the threshold's shape
};

}  // namespace flashmc::nn
