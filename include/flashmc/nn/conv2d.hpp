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

// The conv panel of one image: im2col without most of its k²-fold copy. Row (ci, ky, kx) of the
// im2col matrix (oh·ow columns) is panel + offsets[(ci·k + ky)·k + kx]. The panel holds, per
// (ci, kx) and row phase ky mod stride, the padded input rows of that phase sampled at columns
// ox·stride + kx, and row (ci, ky, kx) starts ky/stride rows in: at stride 1, k copies of the
// input instead of k² (3 instead of 9 for 3×3); at stride 2, 6 quarter-size copies instead of 9.
struct ConvPanel {
    int c, h, w, k, stride, pad, oh, ow;
    ConvPanel(int c, int h, int w, int k, int stride, int pad);
    std::size_t size() const;                   // floats of one image's panel
    std::vector<std::ptrdiff_t> offsets() const;  // c·k·k row offsets
    void fill(const float* x, float* panel) const;  // x: one image [c][h][w]
};

}  // namespace flashmc::nn
