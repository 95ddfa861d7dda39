#pragma once
// 2-D convolution (cross-correlation), NCHW, weights [out_c][in_c][k][k], optional bias, with an
// optional weight quantizer (fake quantization in training; integer codes on export).
// Implementation: im2col per image + GEMM (Eigen), images in parallel (OpenMP).
#include "flashmc/nn/weighted_layer.hpp"

namespace flashmc::nn {

class Conv2d : public WeightedLayer {
public:
    Conv2d(int in_c, int out_c, int k, int stride, int pad, bool bias);
    std::string kind() const override { return "conv2d"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    void save(const h5::Group& g) const override;
    void load(const h5::Group& g) override;
    long macs_per_image(const std::vector<std::array<int, 4>>& in) const override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Conv2d>(*this); }
    int in_c, out_c, k, stride, pad;
};

// im2col for one image [c][h][w] into col [c·k·k][oh·ow]; col2im accumulates the reverse.
void im2col(const float* x, int c, int h, int w, int k, int stride, int pad, int oh, int ow, float* col);
void col2im(const float* col, int c, int h, int w, int k, int stride, int pad, int oh, int ow, float* x);

}  // namespace flashmc::nn
