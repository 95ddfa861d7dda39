#pragma once
// Fully connected layer: y = W x + b on the flattened input (C·H·W features per image), with an
// optional weight quantizer like Conv2d's.
#include "flashmc/nn/weighted_layer.hpp"

namespace flashmc::nn {

class Linear : public WeightedLayer {
public:
    Linear(int in_features, int out_features, bool bias = true);
    std::string kind() const override { return "linear"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    void save(const h5::Group& g) const override;
    void load(const h5::Group& g) override;
    long macs_per_image(const std::vector<std::array<int, 4>>&) const override { return long(in_f) * out_f; }
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Linear>(*this); }
    int in_f, out_f;  // weight [out_f][in_f]
};

}  // namespace flashmc::nn
