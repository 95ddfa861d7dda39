#include "flashmc/nn/linear.hpp"

#include <cmath>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;

Linear::Linear(int in_features, int out_features, bool bias_) : in_f(in_features), out_f(out_features), has_bias(bias_) {
    weight.resize(out_f, in_f);
    grad_weight.resize(out_f, in_f);
    if (has_bias) {
        bias.resize(1, out_f);
        grad_bias.resize(1, out_f);
    }
}

void Linear::init_he(Stream& rng) {
    const double sd = std::sqrt(2.0 / in_f);
    for (auto& v : weight.data) v = static_cast<float>(rng.normal() * sd);
    bias.zero();
}

std::array<int, 4> Linear::out_shape(const std::vector<std::array<int, 4>>& in) const {
    const auto& s = in.at(0);
    if (s[1] * s[2] * s[3] != in_f) fail("linear: input has ", s[1] * s[2] * s[3], " features, layer expects ", in_f);
    return {s[0], out_f, 1, 1};
}

const Tensor& Linear::effective_weight() {
    if (!quant.enabled()) return weight;
    if (quant.threshold.empty()) quant.update(weight.ptr(), out_f, in_f);
    effective_.resize_like(weight);
    quant.quantize(weight.ptr(), out_f, in_f, effective_.ptr());
    return effective_;
}

void Linear::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    const Tensor& x = *in[0];
    out.resize(x.n(), out_f);
    const Tensor& wt = effective_weight();
    MapR Y(out.ptr(), x.n(), out_f);
    Y.noalias() = CMapR(x.ptr(), x.n(), in_f) * CMapR(wt.ptr(), out_f, in_f).transpose();
    if (has_bias)
        for (int i = 0; i < x.n(); ++i)
            for (int o = 0; o < out_f; ++o) Y(i, o) += effective_bias(o);
}

void Linear::backward(const std::vector<const Tensor*>& in, const Tensor&, const Tensor& dout,
                      std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    const Tensor& wt = quant.enabled() ? effective_ : weight;
    din[0].resize_like(x);
    CMapR DY(dout.ptr(), x.n(), out_f);
    MapR(grad_weight.ptr(), out_f, in_f).noalias() += DY.transpose() * CMapR(x.ptr(), x.n(), in_f);
    if (has_bias)
        for (int i = 0; i < x.n(); ++i)
            for (int o = 0; o < out_f; ++o) grad_bias.data[o] += DY(i, o);
    MapR(din[0].ptr(), x.n(), in_f).noalias() = DY * CMapR(wt.ptr(), out_f, in_f);
    if (quant.enabled()) quant.mask_gradient(weight.ptr(), out_f, in_f, grad_weight.ptr());
}

void Linear::begin_step(const Context& ctx) {
    if (quant.enabled() && ctx.training && ctx.step % static_cast<std::uint64_t>(quant.every_steps) == 0)
        quant.update(weight.ptr(), out_f, static_cast<std::size_t>(in_f));
}

std::vector<float> Linear::set_grid(const std::vector<std::vector<float>>& in_grids) {
    input_grid_ = 0.0f;
    if (!quant.enabled() || in_grids.empty() || in_grids[0].empty()) return {};
    const auto& g = in_grids[0];
    for (float v : g)
        if (v != g[0]) return {};  // per-channel input scales: not a quantized activation
    input_grid_ = g[0];
    if (quant.threshold.empty()) quant.update(weight.ptr(), out_f, static_cast<std::size_t>(in_f));
    std::vector<float> out(static_cast<std::size_t>(out_f));
    for (int c = 0; c < out_f; ++c) out[static_cast<std::size_t>(c)] = quant.scale(c) * input_grid_;
    return out;
}

float Linear::effective_bias(int c) const {
    if (!has_bias) return 0.0f;
    const float b = bias.data[static_cast<std::size_t>(c)];
    if (!quant.enabled() || input_grid_ <= 0.0f) return b;
    const float step = quant.scale(c) * input_grid_;
    return round_half_away(b / step) * step;
}

std::vector<Param> Linear::params() {
    std::vector<Param> p{{"weight", &weight, &grad_weight, true}};
    if (has_bias) p.push_back({"bias", &bias, &grad_bias, false});
    return p;
}

void Linear::save(const h5::Group& g) const {
    g.set_attr("in_features", in_f);
    g.set_attr("out_features", out_f);
    g.set_attr("has_bias", has_bias ? 1 : 0);
    Layer::save(g);
    g.write("weight", weight.ptr(), {h5::Dims::value_type(out_f), h5::Dims::value_type(in_f)});
    if (has_bias) g.write("bias", bias.ptr(), {h5::Dims::value_type(out_f)});
    quant.save(g);
}

void Linear::load(const h5::Group& g) {
    auto w = g.read<float>("weight");
    if (w.size() != weight.size()) fail(g.where(), ": weight has ", w.size(), " values, expected ", weight.size());
    std::copy(w.begin(), w.end(), weight.data.begin());
    if (has_bias) {
        auto b = g.read<float>("bias");
        if (b.size() != static_cast<std::size_t>(out_f)) fail(g.where(), ": bias has ", b.size(), " values, expected ", out_f);
        std::copy(b.begin(), b.end(), bias.data.begin());
    }
    quant.load(g);
}

}  // namespace flashmc::nn
