#pragma once
// Turning a trained FP32 model into a quantization-aware one (the source paper's W4A4 method):
//  1. fold every BatchNorm into the conv/linear before it (Jacob et al. 2018, arXiv:1712.05877):
//     w' = w·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε), using the running statistics — from here on
//     the training graph computes exactly what integer inference computes;
//  2. switch on the weight quantizers (dynamic threshold) and the PACT activation quantizers;
//  3. initialize each activation clip to the MSE-optimal threshold on a calibration batch.
#include <map>
#include <string>

#include "flashmc/core/tensor.hpp"
#include "flashmc/nn/model.hpp"

namespace flashmc::nn {

struct QuantConfig {
    int weight_bits = 4;       // every conv/FC layer
    int act_bits = 4;          // every activation after ReLU
    int input_bits = 8;        // the network input
    int first_last_bits = 0;   // >0: weight and input-activation bits of the first conv and last FC
    bool per_channel = false;  // weight thresholds per output channel
    // Per-node overrides, node name -> bits: a conv/linear node's weight bits, an activation's
    // bits, or the input's bits (flashmc train --layer-bits NAME=N).
    std::map<std::string, int> layer_bits;
    int threshold_every_steps = 50;
    double threshold_momentum = 0.1;
    std::string describe() const;  // e.g. "W4A4, input 8-bit, per-layer"
};

// Parses "w4a4", "w4a4-fl8" (first/last 8-bit) style names. Throws Error for anything else.
QuantConfig parse_quant(const std::string& spec);

// Parses one per-node override "NAME=BITS" (the --layer-bits option) into q.layer_bits.
void add_layer_bits(QuantConfig& q, const std::string& name_eq_bits);

// Folds each BatchNorm into the conv/linear that feeds it (only consumer). Returns folds done.
int fold_batchnorm(Model& m);

// Steps 1-3 above; `calibration` is a batch of normalized images (any count: they pass through the
// network in chunks of 500). The weight thresholds are set to their MSE-optimal values on the way.
// The result is also a complete post-training quantization (flashmc quantize): exportable as it is,
// or fine-tuned by QAT.
void prepare_qat(Model& m, const QuantConfig& q, const Tensor& calibration);

// Empirical bias correction for post-training quantization (Nagel et al. 2019, arXiv:1906.04721
// §4.2): quantizing a layer's weights W to W_q shifts the mean of its output channel c by
// ((W_q − W)·E[x])_c, a bias error that no rounding averages out. Layer by layer in graph order,
// each quantized conv/linear of `q` gets b[c] −= mean(y_q[c]) − mean(y[c]), the means over the
// calibration images and positions of its output with quantized weights (y_q) and with its float
// weights and unsnapped bias (y), both on the same inputs: those of the quantized graph, with every
// earlier layer already corrected. Activation clipping is left alone (its shift is not a weight
// error and correcting it pre-activation hurts). Returns the layers corrected.
int correct_bias(Model& q, const Tensor& calibration);

bool is_quantized(const Model& m);

}  // namespace flashmc::nn
