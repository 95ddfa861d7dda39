#pragma once
// Pooling: max (k×k, stride s), average (k×k, stride s), global average (to N×C×1×1).
#include "flashmc/nn/layer.hpp"

namespace flashmc::nn {

class Pool2d : public Layer {
public:
    enum class Mode { Max, Average };
    Pool2d(Mode mode, int k, int stride) : mode(mode), k(k), stride(stride) {}
    std::string kind() const override { return mode == Mode::Max ? "maxpool" : "avgpool"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override;
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    void save(const h5::Group& g) const override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<Pool2d>(*this); }
    std::vector<float> set_grid(const std::vector<std::vector<float>>& in_grids) override {
        std::vector<float> g = in_grids.at(0);
        if (mode == Mode::Average)
            for (auto& v : g) v /= static_cast<float>(k * k);
        return g;
    }
    Mode mode;
    int k, stride;
};

class GlobalAvgPool : public Layer {
public:
    std::string kind() const override { return "global_avgpool"; }
    std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const override {
        return {in.at(0)[0], in.at(0)[1], 1, 1};
    }
    void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) override;
    void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                  std::vector<Tensor>& din, const Context& ctx) override;
    std::unique_ptr<Layer> clone() const override { return std::make_unique<GlobalAvgPool>(*this); }
    // The averaging divisor depends on the input size: the output grid is left unknown (only a
    // requantizing activation may follow it in a quantized graph).
    std::vector<float> set_grid(const std::vector<std::vector<float>>&) override { return {}; }
};

}  // namespace flashmc::nn
