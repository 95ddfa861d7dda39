#pragma once
// Fully connected layer: y = W x + b on the flattened input (C·H·W features per image), with an
// optional weight quantizer like Conv2d's.
#include "flashmc/nn/layer.hpp"
#include "flashmc/nn/quantizer.hpp"

namespace flashmc::nn {

class Linear : public Layer {
public:
    Linear(int in_features, int out_features, bool bias = true);
    std::string kind() const override { return "linear"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    std::vector<Param> params() override;
    void save(const h5::Group& g) const override;
    void load(const h5::Group& g) override;
    long macs_per_image(const std::vector<std::array<int, 4>>&) const override { return long(in_f) * out_f; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Linear>(*this); }
    void begin_step(const Context& ctx) override;
    std::vector<float> set_grid(const std::vector<std::vector<float>>& in_grids) override;
    // The bias the forward pass adds: snapped to the accumulator grid s_w[c]·s_x when quantized.
    float effective_bias(int c) const;
    const Tensor& effective_weight();
    void init_he(Stream& rng);

    int in_f, out_f;
    bool has_bias;
    Tensor weight, bias, grad_weight, grad_bias;  // weight [out_f][in_f]
    WeightQuantizer quant;

private:
    Tensor effective_;
    float input_grid_ = 0.0f;  // s_x of the quantized input; 0 when unknown
};

}  // namespace flashmc::nn
