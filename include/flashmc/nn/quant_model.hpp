#pragma once
// The deployable integer model and its integer-only inference.
//
// Tensors carry integer values (codes or accumulators) with a real scale per channel:
// real = value · scale[c]. Node operations:
//   input     pixel bytes -> signed codes, through a per-channel lookup table (normalize, /s_in, round)
//   conv/fc   acc = Σ w_code · x_code + bias_q   (int32 accumulation; scale s_w[c] · s_x)
//   requant   code = clamp(round(round(v) · M[c]), 0, 2^b − 1), M[c] = scale[c]/s_out as a fixed-point
//             multiplier m·2^-shift (Jacob et al. 2018): ReLU + PACT clip + 4-bit activation
//   add       round(a) + round(round(b) · M[c]), M[c] = scale_b[c]/scale_a[c] (fixed point); scale of a
//   maxpool, avgpool (sum; scale/k²), gap (sum; scale/HW), shortcut_a (subsample, zero channels),
//   identity  (dropout at inference)
// The last node's output, times its scale, are the logits.
//
// Accumulations run through float32 GEMM on integer-valued operands: every product and partial sum
// is an integer below 2^24 in magnitude (checked on load from K·max|w|·max|x|), so float32
// arithmetic represents them exactly and the result equals int32 accumulation bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "flashmc/core/tensor.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/nn/model.hpp"

namespace flashmc::nn {

struct QNode {
    enum class Op { Input, Conv, Linear, Requant, Add, MaxPool, AvgPool, GlobalAvgPool, ShortcutA, Identity };
    Op op = Op::Identity;
    std::string name;
    std::vector<int> inputs;
    // conv / linear (linear: k = 1, in_c = features)
    int in_c = 0, out_c = 0, k = 1, stride = 1, pad = 0, weight_bits = 0;
    std::vector<std::int8_t> codes;      // [out_c][in_c·k·k]
    std::vector<double> weight_scale;    // per output channel
    std::vector<std::int32_t> bias_q;    // per output channel, in accumulator units
    double input_scale = 0;              // s_x of the input codes
    // input / requant
    int bits = 0;
    double out_scale = 0;                // requant: alpha/(2^b − 1); input: range/Q
    std::vector<float> affine_scale, affine_shift;  // input: the imported network's normalization, or empty
    // pools, shortcut
    int pool = 0, shortcut_out_c = 0;

    std::size_t row() const { return static_cast<std::size_t>(in_c) * k * k; }
    bool is_mvm() const { return op == Op::Conv || op == Op::Linear; }
};

std::string op_name(QNode::Op op);

// A fixed-point multiplier M ≈ m · 2^-shift, m in [2^30, 2^31).
struct FixedMultiplier {
    std::int32_t m = 0;
    int shift = 0;
    static FixedMultiplier from(double real);
    // round(v · M), ties away from zero, in 64-bit integer arithmetic.
    // Branch-free (selects only), so that loops over a channel vectorize.
    std::int64_t apply(std::int64_t v) const {
        const std::int64_t p = v * m, half = std::int64_t{1} << (shift - 1);
        const std::int64_t r = ((p < 0 ? -p : p) + half) >> shift;
        return p < 0 ? -r : r;
    }
};

// An accumulator value as the integer requant and add operate on: rounded to the nearest integer
// (ties to even), saturated at ±2^31, NaN as 0. Digital accumulators are exact integers and pass
// unchanged; analog ones (real-valued sums of cell currents) are rounded without bias, where a
// truncation toward zero would take half a unit off every value on average.
inline std::int64_t round_accumulator(float v) {
    const float lim = 2147483648.0f;
    const float c = v == v ? std::nearbyint(std::clamp(v, -lim, lim)) : 0.0f;
    return static_cast<std::int64_t>(c);
}

// Replaces the digital matrix-vector products of conv/linear nodes during QuantModel::forward, so
// that a Monte Carlo trial can run the shared (read-only) model through its own analog chip.
// accumulate() must fill `acc` (n × out_c × oh × ow for conv, n × out_c for linear) in
// accumulator units, bias included; QuantModel::accumulate_with() does it for given weights.
class MvmOverride {
public:
    virtual ~MvmOverride() = default;
    // Return false to let the node run digitally.
    virtual bool accumulate(int node_index, const QNode& node, const Tensor& x, Tensor& acc) const = 0;
};

class QuantModel {
public:
    std::string arch;
    std::vector<QNode> nodes;

    // Integer inference on `n` CIFAR images (3072 bytes each). logits gets n × classes reals.
    // `trace`, if given, receives every node's output (integer values); `mvm`, if given, replaces
    // the conv/linear products it accepts.
    void forward(const std::uint8_t* images, int n, Tensor& logits, std::vector<Tensor>* trace = nullptr,
                 const MvmOverride* mvm = nullptr) const;
    // Top-1 predictions of the images.
    std::vector<int> predict(const std::uint8_t* images, int n) const;
    // Scale (per channel) of each node's output.
    const std::vector<std::vector<double>>& scales() const { return scales_; }
    // Largest |value| node i can output (an integer bound), and whether it can be negative.
    double output_bound(std::size_t i) const { return bounds_.at(i); }
    bool output_signed(std::size_t i) const { return signed_.at(i); }
    // Multiply-accumulates of one image's conv/linear products.
    long macs_per_image() const;
    // The accumulator of one MVM node for input codes x (float-valued integers), as the digital
    // reference; the Monte Carlo engine substitutes an analog version.
    void accumulate(const QNode& node, const Tensor& x, Tensor& acc) const;
    // The same product with arbitrary real-valued weights [out_c][in_c·k·k] in code units (for
    // example the effective weights of a chip with static cell errors), plus bias_q: plain GEMMs.
    static void accumulate_with(const QNode& node, const float* weights, const Tensor& x, Tensor& acc);

    void save(const h5::Group& parent) const;             // group "quantized"
    static QuantModel load(const h5::Group& parent);      // validates, derives multipliers
    // Derives scales, multipliers and shapes; validates that the nodes fit together.
    void prepare(bool require_logits = true);

private:
    std::vector<std::vector<double>> scales_;             // per node, per channel
    std::vector<double> bounds_;                          // per node: largest |output|
    std::vector<bool> signed_;                            // per node: output may be negative
    std::vector<std::vector<FixedMultiplier>> mult_;      // requant: per channel; add: per channel
    std::vector<std::array<int, 4>> shapes_;              // per node (N = 1)
    std::vector<int> last_use_;                           // per node: the last node reading it (−1: none)
    std::vector<std::array<float, 256>> input_lut_;       // per input channel: pixel -> code
};

// Exports a quantization-aware-trained (BN-folded, quantizers on) float model.
QuantModel export_quantized(Model& m);

}  // namespace flashmc::nn
