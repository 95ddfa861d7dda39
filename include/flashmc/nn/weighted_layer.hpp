#pragma once
// The common part of conv2d and linear: weights [outputs][row] with optional bias, their
// gradients, and the weight quantizer with what quantization-aware training adds to it: the
// fake-quantized weights the forward pass uses, the threshold schedule, and the bias snapped to the
// accumulator grid s_w[c]·s_x so that the training graph computes what integer inference computes.
#include "flashmc/nn/layer.hpp"
#include "flashmc/nn/quantizer.hpp"
#include "flashmc/nn/weight_errors.hpp"

namespace flashmc::nn {

class WeightedLayer : public Layer {
public:
    void begin_step(const Context& ctx) override;
    std::vector<float> set_grid(const std::vector<std::vector<float>>& in_grids) override;
    std::vector<Param> params() override;

    // The weights the forward pass uses: fake-quantized when the quantizer is on; in a training
    // pass with device_errors set, then redrawn from its table (nn/weight_errors.hpp), keyed by
    // (ctx.step, ctx.node).
    const Tensor& effective_weight(const Context& ctx = Context{});
    // The bias the forward pass adds: snapped to the accumulator grid s_w[c]·s_x when quantized.
    float effective_bias(int c) const;
    void init_he(Stream& rng);  // He et al. 2015: N(0, 2/fan_in), fan_in = row; zero bias
    int outputs() const { return outputs_; }
    std::size_t row() const { return row_; }

    bool has_bias;
    Tensor weight, bias, grad_weight, grad_bias;
    WeightQuantizer quant;
    // Device-aware training: this step's chip table for the layer (set by the trainer), or null.
    const CodeTable* device_errors = nullptr;

protected:
    WeightedLayer(int outputs, std::size_t row, bool has_bias, const std::array<int, 4>& weight_shape);
    // The weights of the last forward pass (for backward).
    const Tensor& forward_weight() const { return quant.enabled() ? effective_ : weight; }
    // Straight-through estimator: zero the weight gradient outside the clipping threshold.
    void mask_weight_gradient();
    void save_weights(const h5::Group& g, const h5::Dims& weight_dims) const;  // weight, bias, quantizer
    void load_weights(const h5::Group& g, const h5::Dims& weight_dims);  // checks every shape

private:
    int outputs_;
    std::size_t row_;
    Tensor effective_;
    float input_grid_ = 0.0f;  // s_x of the quantized input; 0 when unknown
};

}  // namespace flashmc::nn
