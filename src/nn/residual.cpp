#include "flashmc/nn/residual.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/nn/quantizer.hpp"

namespace flashmc::nn {

std::array<int, 4> Add::out_shape(const std::vector<std::array<int, 4>>& in) const {
    if (in.size() != 2 || in[0] != in[1]) fail("add: inputs must be two tensors of the same shape");
    return in[0];
}

void Add::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    out.resize_like(*in[0]);
    const float* a = in[0]->ptr();
    const float* b = in[1]->ptr();
    float* q = out.ptr();
    const std::size_t n = out.size();
    if (grid_.empty()) {
#pragma omp parallel for schedule(static)
        for (std::size_t i = 0; i < n; ++i) q[i] = a[i] + b[i];
        return;
    }
    const std::size_t hw = static_cast<std::size_t>(out.h()) * out.w();
    const std::size_t channels = static_cast<std::size_t>(out.c());
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
        const float g = grid_.size() == 1 ? grid_[0] : grid_[(i / hw) % channels];
        q[i] = a[i] + round_half_away(b[i] / g) * g;
    }
}

void Add::backward(const std::vector<const Tensor*>&, const Tensor&, const Tensor& dout,
                   std::vector<Tensor>& din, const Context&) {
    din[0] = dout;
    din[1] = dout;
}

std::array<int, 4> ShortcutA::out_shape(const std::vector<std::array<int, 4>>& in) const {
    const auto& s = in.at(0);
    if (out_c < s[1]) fail("shortcut_a: out_channels ", out_c, " < input channels ", s[1]);
    return {s[0], out_c, (s[2] + stride - 1) / stride, (s[3] + stride - 1) / stride};
}

void ShortcutA::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    const Tensor& x = *in[0];
    auto o = out_shape({x.shape});
    out.resize(o[0], o[1], o[2], o[3]);
    out.zero();
    for (int i = 0; i < x.n(); ++i)
        for (int c = 0; c < x.c(); ++c)
            for (int y = 0; y < o[2]; ++y)
                for (int xx = 0; xx < o[3]; ++xx) out.at(i, c, y, xx) = x.at(i, c, y * stride, xx * stride);
}

void ShortcutA::backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                         std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    din[0].resize_like(x);
    din[0].zero();
    for (int i = 0; i < x.n(); ++i)
        for (int c = 0; c < x.c(); ++c)
            for (int y = 0; y < out.h(); ++y)
                for (int xx = 0; xx < out.w(); ++xx) din[0].at(i, c, y * stride, xx * stride) = dout.at(i, c, y, xx);
}

void ShortcutA::save(const h5::Group& g) const {
    g.set_attr("stride", stride);
    g.set_attr("out_channels", out_c);
    Layer::save(g);
}

void Dropout::apply(const Tensor& src, Tensor& dst, const Context& ctx) const {
    dst.resize_like(src);
    const float keep = 1.0f - p, scale = 1.0f / keep;
    const std::size_t per = src.per_image();
#pragma omp parallel for schedule(static)
    for (int i = 0; i < src.n(); ++i) {
        Stream rng = ctx.streams->at({0xD0D0, ctx.step, static_cast<std::uint64_t>(ctx.node), static_cast<std::uint64_t>(i)});
        const float* a = src.image(i);
        float* b = dst.image(i);
        for (std::size_t j = 0; j < per; ++j) b[j] = rng.uniform() < keep ? a[j] * scale : 0.0f;
    }
}

void Dropout::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) {
    if (!ctx.training || p <= 0.0f) {
        out = *in[0];
        return;
    }
    apply(*in[0], out, ctx);
}

void Dropout::backward(const std::vector<const Tensor*>&, const Tensor&, const Tensor& dout,
                       std::vector<Tensor>& din, const Context& ctx) {
    if (!ctx.training || p <= 0.0f) {
        din[0] = dout;
        return;
    }
    apply(dout, din[0], ctx);  // same stream keys: the same mask
}

void Dropout::save(const h5::Group& g) const {
    g.set_attr("p", static_cast<double>(p));
    Layer::save(g);
}

}  // namespace flashmc::nn
