#pragma once
// Batch normalization (Ioffe & Szegedy 2015) over N·H·W per channel. Training uses batch
// statistics and updates running averages (momentum m: r <- (1-m) r + m·batch, unbiased variance);
// inference uses the running statistics. Folded into the preceding conv for integer inference.
#include "flashmc/nn/layer.hpp"

namespace flashmc::nn {

class BatchNorm : public Layer {
public:
    explicit BatchNorm(int channels, double momentum = 0.1, double eps = 1e-5);
    std::string kind() const override { return "batchnorm"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    std::vector<Param> params() override;
    void save(const h5::Group& g) const override;
    void load(const h5::Group& g) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<BatchNorm>(*this); }
    std::vector<float> set_grid(const std::vector<std::vector<float>>&) override { return {}; }

    int channels;
    double momentum, eps;
    Tensor gamma, beta, grad_gamma, grad_beta, running_mean, running_var;

private:
    std::vector<float> mean_, invstd_;  // of the last training batch, for backward
};

}  // namespace flashmc::nn
