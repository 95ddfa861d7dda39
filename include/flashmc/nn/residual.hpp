#pragma once
// Residual pieces: Add (y = a + b) and the parameter-free shortcut of He et al. 2016, option A
// (subsample by `stride`, zero-pad channels to `out_c`; used by the CIFAR ResNet-20).
#include "flashmc/nn/layer.hpp"

namespace flashmc::nn {

class Add : public Layer {
public:
    std::string kind() const override { return "add"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Add>(*this); }
    // Integer inference adds b rescaled and rounded to a's grid; the quantized graph does the same.
    std::vector<float> set_grid(const std::vector<std::vector<float>>& in_grids) override {
        grid_ = in_grids.size() == 2 && !in_grids[1].empty() ? in_grids[0] : std::vector<float>{};
        return in_grids.empty() ? std::vector<float>{} : in_grids[0];
    }

private:
    std::vector<float> grid_;
};

class ShortcutA : public Layer {
public:
    ShortcutA(int stride, int out_c) : stride(stride), out_c(out_c) {}
    std::string kind() const override { return "shortcut_a"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    void save(const h5::Group& g) const override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<ShortcutA>(*this); }
    std::vector<float> set_grid(const std::vector<std::vector<float>>& in_grids) override {
        std::vector<float> g = in_grids.at(0);
        if (g.size() > 1) g.resize(static_cast<std::size_t>(out_c), g[0]);
        return g;
    }
    int stride, out_c;
};

// Dropout (Srivastava et al. 2014), inverted: training keeps a unit with probability 1-p and
// scales it by 1/(1-p); the mask comes from the stream (step, node, image), so it is the same for
// any thread count and can be regenerated in backward.
class Dropout : public Layer {
public:
    explicit Dropout(float p) : p(p) {}
    std::string kind() const override { return "dropout"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override { return in.at(0); }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    void save(const h5::Group& g) const override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Dropout>(*this); }
    float p;

private:
    void apply(const Tensor& src, Tensor& dst, const Context& ctx) const;
};

}  // namespace flashmc::nn
