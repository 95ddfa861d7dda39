#include "flashmc/nn/quantizer.hpp"

#include <algorithm>
#include <cmath>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

// Candidates are scored on a fixed-stride subsample (at most ~200,000 values): deterministic, and
// the cost stays bounded for large tensors.
ThresholdSearch::ThresholdSearch(std::size_t total, int levels, bool is_signed)
    : total_(total), stride_(std::max<std::size_t>(1, total / 200000)), levels_(levels), signed_(is_signed) {
    sample_.reserve(total / stride_ + 1);
}

void ThresholdSearch::add(const float* x, std::size_t n) {
    if (seen_ + n > total_) fail("ThresholdSearch: ", seen_ + n, " values added, ", total_, " announced");
    for (std::size_t i = 0; i < n; ++i) max_ = std::max(max_, signed_ ? std::abs(x[i]) : x[i]);
    // The first global index >= seen_ that is a multiple of the stride.
    for (std::size_t g = (seen_ + stride_ - 1) / stride_ * stride_; g < seen_ + n; g += stride_) sample_.push_back(x[g - seen_]);
    seen_ += n;
}

float ThresholdSearch::threshold() const {
    if (seen_ != total_) fail("ThresholdSearch: ", seen_, " values added, ", total_, " announced");
    if (max_ <= 0.0f) return 1e-8f;
    double best = INFINITY;
    float best_t = max_;
    for (int j = 8; j <= 64; ++j) {
        const float t = max_ * static_cast<float>(j) / 64.0f;
        const float s = t / static_cast<float>(levels_);
        double err = 0.0;
        for (float v : sample_) {
            float c = std::clamp(v, signed_ ? -t : 0.0f, t);
            float q = round_half_away(c / s) * s;
            err += static_cast<double>(v - q) * (v - q);
        }
        if (err < best) { best = err; best_t = t; }
    }
    return best_t;
}

float mse_optimal_threshold(const float* x, std::size_t n, int levels, bool is_signed) {
    ThresholdSearch search(n, levels, is_signed);
    search.add(x, n);
    return search.threshold();
}

void WeightQuantizer::update(const float* w, int out_c, std::size_t row) {
    const int groups = per_channel ? out_c : 1;
    const std::size_t len = per_channel ? row : row * static_cast<std::size_t>(out_c);
    std::vector<float> fresh(static_cast<std::size_t>(groups));
    for (int g = 0; g < groups; ++g) fresh[static_cast<std::size_t>(g)] = mse_optimal_threshold(w + g * len, len, qmax(), true);
    if (threshold.size() != fresh.size()) {
        threshold = fresh;
        return;
    }
    for (std::size_t g = 0; g < fresh.size(); ++g)
        threshold[g] = static_cast<float>((1.0 - momentum) * threshold[g] + momentum * fresh[g]);
}

void WeightQuantizer::quantize(const float* w, int out_c, std::size_t row, float* wq) const {
    const float q = static_cast<float>(qmax());
    for (int c = 0; c < out_c; ++c) {
        const float s = scale(c);
        for (std::size_t i = 0; i < row; ++i) {
            const std::size_t k = c * row + i;
            wq[k] = std::clamp(round_half_away(w[k] / s), -q, q) * s;
        }
    }
}

std::vector<std::int8_t> WeightQuantizer::codes(const float* w, int out_c, std::size_t row) const {
    std::vector<std::int8_t> out(static_cast<std::size_t>(out_c) * row);
    const float q = static_cast<float>(qmax());
    for (int c = 0; c < out_c; ++c)
        for (std::size_t i = 0; i < row; ++i)
            out[c * row + i] = static_cast<std::int8_t>(std::clamp(round_half_away(w[c * row + i] / scale(c)), -q, q));
    return out;
}

void WeightQuantizer::mask_gradient(const float* w, int out_c, std::size_t row, float* grad) const {
    for (int c = 0; c < out_c; ++c) {
        const float t = threshold[per_channel ? c : 0];
        for (std::size_t i = 0; i < row; ++i)
            if (std::abs(w[c * row + i]) > t) grad[c * row + i] = 0.0f;
    }
}

void WeightQuantizer::save(const h5::Group& g) const {
    g.set_attr("weight_bits", bits);
    g.set_attr("per_channel", per_channel ? 1 : 0);
    g.set_attr("threshold_every_steps", every_steps);
    g.set_attr("threshold_momentum", momentum);
    if (!threshold.empty()) g.write("weight_threshold", threshold);
}

void WeightQuantizer::load(const h5::Group& g, int out_c) {
    bits = g.has_attr("weight_bits") ? static_cast<int>(g.attr_int("weight_bits", 0, 8)) : 0;  // int8 codes
    if (bits == 1) fail(g.where(), ": attribute 'weight_bits' = 1: weights need 0 (float) or 2 to 8 bits");
    per_channel = g.has_attr("per_channel") && g.attr_int("per_channel", 0, 1) != 0;
    if (g.has_attr("threshold_every_steps")) every_steps = static_cast<int>(g.attr_int("threshold_every_steps", 1, 1 << 30));
    if (g.has_attr("threshold_momentum")) momentum = g.attr_double("threshold_momentum", 0, 1);
    threshold.clear();
    if (!g.has("weight_threshold")) return;
    threshold = g.read_shaped<float>("weight_threshold", {h5::Dims::value_type(per_channel ? out_c : 1)});
    for (float t : threshold)
        if (!(t > 0 && t <= 1e30f)) fail(g.where(), ": dataset 'weight_threshold' holds ", t, ", expected a positive threshold");
}

}  // namespace flashmc::nn
