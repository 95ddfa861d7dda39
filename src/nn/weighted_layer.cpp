#include "flashmc/nn/weighted_layer.hpp"

#include <cmath>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

WeightedLayer::WeightedLayer(int outputs, std::size_t row, bool bias_, const std::array<int, 4>& shape)
    : has_bias(bias_), outputs_(outputs), row_(row) {
    weight.resize(shape[0], shape[1], shape[2], shape[3]);
    grad_weight.resize(shape[0], shape[1], shape[2], shape[3]);
    if (has_bias) {
        bias.resize(1, outputs);
        grad_bias.resize(1, outputs);
    }
}

void WeightedLayer::init_he(Stream& rng) {
    const double sd = std::sqrt(2.0 / static_cast<double>(row_));
    for (auto& v : weight.data) v = static_cast<float>(rng.normal() * sd);
    bias.zero();
}

const Tensor& WeightedLayer::effective_weight(const Context& ctx) {
    if (!quant.enabled()) return weight;
    if (quant.threshold.empty()) quant.update(weight.ptr(), outputs_, row_);
    effective_.resize_like(weight);
    quant.quantize(weight.ptr(), outputs_, row_, effective_.ptr());
    if (device_errors && ctx.training) {
        if (!ctx.streams) fail("device-aware training: no streams in the training context");
        std::vector<float> scales(static_cast<std::size_t>(outputs_));
        for (int c = 0; c < outputs_; ++c) scales[static_cast<std::size_t>(c)] = quant.scale(c);
        Stream rng = ctx.streams->at({kDrawKey, ctx.step, static_cast<std::uint64_t>(ctx.node)});
        draw_weights(*device_errors, scales, outputs_, row_, rng, effective_.ptr());
    }
    return effective_;
}

void WeightedLayer::begin_step(const Context& ctx) {
    if (quant.enabled() && ctx.training && ctx.step % static_cast<std::uint64_t>(quant.every_steps) == 0)
        quant.update(weight.ptr(), outputs_, row_);
}

std::vector<float> WeightedLayer::set_grid(const std::vector<std::vector<float>>& in_grids) {
    input_grid_ = 0.0f;
    if (!quant.enabled() || in_grids.empty() || in_grids[0].empty()) return {};
    const auto& g = in_grids[0];
    for (float v : g)
        if (v != g[0]) return {};  // per-channel input scales: not a quantized activation
    input_grid_ = g[0];
    if (quant.threshold.empty()) quant.update(weight.ptr(), outputs_, row_);
    std::vector<float> out(static_cast<std::size_t>(outputs_));
    for (int c = 0; c < outputs_; ++c) out[static_cast<std::size_t>(c)] = quant.scale(c) * input_grid_;
    return out;
}

float WeightedLayer::effective_bias(int c) const {
    if (!has_bias) return 0.0f;
    const float b = bias.data[static_cast<std::size_t>(c)];
    if (!quant.enabled() || input_grid_ <= 0.0f) return b;
    const float step = quant.scale(c) * input_grid_;
    return round_half_away(b / step) * step;
}

void WeightedLayer::mask_weight_gradient() {
    if (quant.enabled()) quant.mask_gradient(weight.ptr(), outputs_, row_, grad_weight.ptr());
}

std::vector<Param> WeightedLayer::params() {
    std::vector<Param> p{{"weight", &weight, &grad_weight, true}};
    if (has_bias) p.push_back({"bias", &bias, &grad_bias, false});
    return p;
}

void WeightedLayer::save_weights(const h5::Group& g, const h5::Dims& weight_dims) const {
    g.write("weight", weight.ptr(), weight_dims);
    if (has_bias) g.write("bias", bias.ptr(), {h5::Dims::value_type(outputs_)});
    quant.save(g);
}

void WeightedLayer::load_weights(const h5::Group& g, const h5::Dims& weight_dims) {
    auto finite = [&](const char* name, const std::vector<float>& v) {
        for (std::size_t i = 0; i < v.size(); ++i)
            if (!std::isfinite(v[i])) fail(g.where(), ": dataset '", name, "' holds ", v[i], " at index ", i);
        return v;
    };
    const auto w = finite("weight", g.read_shaped<float>("weight", weight_dims));
    std::copy(w.begin(), w.end(), weight.data.begin());
    if (has_bias) {
        const auto b = finite("bias", g.read_shaped<float>("bias", {h5::Dims::value_type(outputs_)}));
        std::copy(b.begin(), b.end(), bias.data.begin());
    }
    quant.load(g, outputs_);
}

}  // namespace flashmc::nn
