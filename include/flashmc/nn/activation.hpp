#pragma once
// Activations.
//  - Activation: ReLU when bits = 0; otherwise PACT (Choi et al. 2018): y = clamp(x, 0, alpha)
//    quantized to 2^bits - 1 uniform steps, alpha learnable. Backward (straight-through):
//    dy/dx = 1 for 0 < x < alpha, dy/dalpha = 1 for x >= alpha.
//  - InputQuant: the network input, symmetric signed fixed-scale quantization (identity when
//    bits = 0): y = clamp(round(x/s), -Q, Q)·s, s = range / Q. An imported network that expects
//    another input normalization than flashmc's gets a per-channel affine first,
//    x' = affine_scale[c]·x + affine_shift[c] (empty: none); quantization applies to x'.
#include "flashmc/nn/layer.hpp"

namespace flashmc::nn {

class Activation : public Layer {
public:
    explicit Activation(int bits = 0, float clip = 6.0f) : bits(bits) { clip_.resize(1, 1); clip_.data[0] = clip; grad_clip_.resize(1, 1); }
    std::string kind() const override { return "activation"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override { return in.at(0); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    std::vector<Param> params() override;
    void save(const h5::Group& g) const override;
    void load(const h5::Group& g) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Activation>(*this); }
    std::vector<float> set_grid(const std::vector<std::vector<float>>&) override {
        return bits > 0 ? std::vector<float>{scale()} : std::vector<float>{};
    }
    float clip() const { return clip_.data[0]; }
    void set_clip(float a) { clip_.data[0] = a; }
    int levels() const { return (1 << bits) - 1; }
    float scale() const { return clip() / static_cast<float>(levels()); }

    int bits;
    static constexpr float kMinClip = 1e-2f;  // floor of the learned alpha (see params())

private:
    Tensor clip_, grad_clip_;
};

class InputQuant : public Layer {
public:
    InputQuant(int bits = 0, float range = 1.0f) : bits(bits), range(range) {}
    std::string kind() const override { return "input_quant"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override { return in.at(0); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    void save(const h5::Group& g) const override;
    void load(const h5::Group& g) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<InputQuant>(*this); }
    std::vector<float> set_grid(const std::vector<std::vector<float>>&) override {
        return bits > 0 ? std::vector<float>{scale()} : std::vector<float>{};
    }
    int qmax() const { return (1 << (bits - 1)) - 1; }
    float scale() const { return range / static_cast<float>(qmax()); }
    bool has_affine() const { return !affine_scale.empty(); }
    // The largest |x'| of any pixel (the quantization range that clips none).
    float affine_range() const;

    int bits;
    float range;
    std::vector<float> affine_scale, affine_shift;  // per input channel, or both empty
};

}  // namespace flashmc::nn
