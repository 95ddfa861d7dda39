#include "flashmc/nn/activation.hpp"

#include <algorithm>
#include <cmath>

#include "flashmc/io/cifar10.hpp"

#include "flashmc/core/error.hpp"

#include "flashmc/nn/quantizer.hpp"

namespace flashmc::nn {

void Activation::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    const Tensor& x = *in[0];
    out.resize_like(x);
    const std::size_t n = x.size();
    const float* p = x.ptr();
    float* q = out.ptr();
    if (bits == 0) {
#pragma omp parallel for schedule(static)
        for (std::size_t i = 0; i < n; ++i) q[i] = std::max(p[i], 0.0f);
        return;
    }
    const float a = clip(), s = scale(), inv = 1.0f / s;
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) q[i] = round_half_away(std::clamp(p[i], 0.0f, a) * inv) * s;
}

void Activation::backward(const std::vector<const Tensor*>& in, const Tensor&, const Tensor& dout,
                          std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    din[0].resize_like(x);
    const std::size_t n = x.size();
    const float* p = x.ptr();
    const float* d = dout.ptr();
    float* q = din[0].ptr();
    if (bits == 0) {
#pragma omp parallel for schedule(static)
        for (std::size_t i = 0; i < n; ++i) q[i] = p[i] > 0.0f ? d[i] : 0.0f;
        return;
    }
    const float a = clip();
    double da = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : da)
    for (std::size_t i = 0; i < n; ++i) {
        q[i] = (p[i] > 0.0f && p[i] < a) ? d[i] : 0.0f;
        if (p[i] >= a) da += d[i];
    }
    grad_clip_.data[0] += static_cast<float>(da);
}

std::vector<Param> Activation::params() {
    if (bits == 0) return {};
    // PACT regularizes alpha with L2. A clip at or below 0 would zero the layer's output and make
    // the model unexportable; a large step can overshoot there, so alpha is kept >= kMinClip.
    return {{"clip", &clip_, &grad_clip_, true, kMinClip}};
}

void Activation::save(const h5::Group& g) const {
    g.set_attr("bits", bits);
    g.set_attr("clip", static_cast<double>(clip()));
    Layer::save(g);
}

void Activation::load(const h5::Group& g) {
    bits = static_cast<int>(g.attr_int("bits", 0, 16));  // 0: ReLU
    set_clip(static_cast<float>(g.attr_double("clip", 1e-30, 1e30)));
}

void InputQuant::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    const Tensor& x = *in[0];
    out = x;
    if (has_affine()) {
        const std::size_t hw = static_cast<std::size_t>(x.h()) * x.w();
        for (int i = 0; i < x.n(); ++i)
            for (int c = 0; c < x.c(); ++c) {
                float* p = out.image(i) + c * hw;
                const float a = affine_scale[static_cast<std::size_t>(c)], b = affine_shift[static_cast<std::size_t>(c)];
                for (std::size_t j = 0; j < hw; ++j) p[j] = a * p[j] + b;
            }
    }
    if (bits == 0) return;
    const float s = scale(), inv = 1.0f / s, q = static_cast<float>(qmax());
    for (auto& v : out.data) v = std::clamp(round_half_away(v * inv), -q, q) * s;
}

void InputQuant::backward(const std::vector<const Tensor*>&, const Tensor&, const Tensor& dout,
                          std::vector<Tensor>& din, const Context&) {
    din[0] = dout;  // straight-through
    if (!has_affine()) return;
    const std::size_t hw = static_cast<std::size_t>(dout.h()) * dout.w();
    for (int i = 0; i < dout.n(); ++i)
        for (int c = 0; c < dout.c(); ++c) {
            float* p = din[0].image(i) + c * hw;
            for (std::size_t j = 0; j < hw; ++j) p[j] *= affine_scale[static_cast<std::size_t>(c)];
        }
}

float InputQuant::affine_range() const {
    float r = 0.0f;
    for (int c = 0; c < 3; ++c) {
        const float a = has_affine() ? affine_scale[static_cast<std::size_t>(c)] : 1.0f, b = has_affine() ? affine_shift[static_cast<std::size_t>(c)] : 0.0f;
        for (float p : {0.0f, 255.0f}) r = std::max(r, std::abs(a * ((p - kCifarMean[c]) / kCifarStd[c]) + b));
    }
    return r;
}

void InputQuant::save(const h5::Group& g) const {
    g.set_attr("bits", bits);
    g.set_attr("range", static_cast<double>(range));
    Layer::save(g);
    if (has_affine()) {
        g.write("affine_scale", affine_scale);
        g.write("affine_shift", affine_shift);
    }
}

void InputQuant::load(const h5::Group& g) {
    bits = static_cast<int>(g.attr_int("bits", 0, 16));  // 0: identity; 1 would leave no nonzero code
    if (bits == 1) fail(g.where(), ": attribute 'bits' = 1: the input needs 0 (identity) or 2 to 16 bits");
    range = static_cast<float>(g.attr_double("range", 1e-30, 1e30));
    affine_scale.clear();
    affine_shift.clear();
    if (!g.has("affine_scale") && !g.has("affine_shift")) return;
    affine_scale = g.read_shaped<float>("affine_scale", {3});
    affine_shift = g.read_shaped<float>("affine_shift", {3});
    for (std::size_t c = 0; c < 3; ++c)
        if (!(std::abs(affine_scale[c]) >= 1e-6f && std::abs(affine_scale[c]) <= 1e6f) || !(std::abs(affine_shift[c]) <= 1e6f))
            fail(g.where(), ": input affine of channel ", c, " (scale ", affine_scale[c], ", shift ", affine_shift[c],
                 ") outside |scale| 1e-6..1e6, |shift| <= 1e6");
}

}  // namespace flashmc::nn
