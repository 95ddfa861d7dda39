#include "flashmc/nn/conv2d.hpp"

#include <omp.h>

#include <cmath>
#include <algorithm>
#include <cstring>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;

Conv2d::Conv2d(int in_c_, int out_c_, int k_, int stride_, int pad_, bool bias_)
    : WeightedLayer(out_c_, static_cast<std::size_t>(in_c_) * k_ * k_, bias_, {out_c_, in_c_, k_, k_}),
      in_c(in_c_), out_c(out_c_), k(k_), stride(stride_), pad(pad_) {}

std::array<int, 4> Conv2d::out_shape(const std::vector<std::array<int, 4>>& in) const {
    const auto& s = in.at(0);
    if (s[1] != in_c) fail("conv2d: input has ", s[1], " channels, layer expects ", in_c);
    if (s[2] + 2 * pad < k || s[3] + 2 * pad < k)
        fail("conv2d: a ", k, "x", k, " kernel does not fit a ", s[2], "x", s[3], " input with padding ", pad);
    return {s[0], out_c, (s[2] + 2 * pad - k) / stride + 1, (s[3] + 2 * pad - k) / stride + 1};
}

long Conv2d::macs_per_image(const std::vector<std::array<int, 4>>& in) const {
    auto o = out_shape(in);
    return static_cast<long>(o[2]) * o[3] * out_c * static_cast<long>(row());
}

void im2col(const float* x, int c, int h, int w, int k, int stride, int pad, int oh, int ow, float* col) {
    for (int ci = 0; ci < c; ++ci)
        for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
                float* dst = col + ((ci * k + ky) * k + kx) * oh * ow;
                for (int oy = 0; oy < oh; ++oy) {
                    const int iy = oy * stride - pad + ky;
                    float* d = dst + oy * ow;
                    if (iy < 0 || iy >= h) {
                        std::memset(d, 0, sizeof(float) * ow);
                        continue;
                    }
                    const float* src = x + (ci * h + iy) * w;
                    if (stride == 1) {
                        const int lo = std::max(0, pad - kx), hi = std::min(ow, w + pad - kx);
                        for (int ox = 0; ox < lo; ++ox) d[ox] = 0.0f;
                        if (hi > lo) std::memcpy(d + lo, src + lo - pad + kx, sizeof(float) * (hi - lo));
                        for (int ox = std::max(hi, lo); ox < ow; ++ox) d[ox] = 0.0f;
                    } else {
                        for (int ox = 0; ox < ow; ++ox) {
                            const int ix = ox * stride - pad + kx;
                            d[ox] = (ix >= 0 && ix < w) ? src[ix] : 0.0f;
                        }
                    }
                }
            }
}

ConvPanel::ConvPanel(int c_, int h_, int w_, int k_, int stride_, int pad_)
    : c(c_), h(h_), w(w_), k(k_), stride(stride_), pad(pad_), oh((h_ + 2 * pad_ - k_) / stride_ + 1), ow((w_ + 2 * pad_ - k_) / stride_ + 1) {}

// Planes (ci, a, kx) for the row phases a < min(stride, k), each of oh + (k − 1)/stride rows of
// ow: plane row r holds input row r·stride + a − pad at columns ox·stride + kx − pad.
std::size_t ConvPanel::size() const {
    return static_cast<std::size_t>(c) * std::min(stride, k) * k * static_cast<std::size_t>(oh + (k - 1) / stride) * ow;
}

std::vector<std::ptrdiff_t> ConvPanel::offsets() const {
    std::vector<std::ptrdiff_t> off;
    const std::ptrdiff_t phases = std::min(stride, k), rows = oh + (k - 1) / stride;
    for (int ci = 0; ci < c; ++ci)
        for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) off.push_back(((ci * phases + ky % stride) * k + kx) * rows * ow + (ky / stride) * ow);
    return off;
}

void ConvPanel::fill(const float* x, float* panel) const {
    const int rows = oh + (k - 1) / stride;
    float* d = panel;
    for (int ci = 0; ci < c; ++ci)
        for (int a = 0; a < std::min(stride, k); ++a)
            for (int kx = 0; kx < k; ++kx) {
                // Output columns [lo, hi) read inside the input: 0 ≤ ox·stride + kx − pad < w.
                const int lo = std::min(ow, pad > kx ? (pad - kx + stride - 1) / stride : 0);
                const int hi = std::max(lo, std::min(ow, w + pad > kx ? (w + pad - kx + stride - 1) / stride : 0));
                if (stride == 1 && ow == w) {
                    // "Same" padding: the plane is the channel shifted by kx − pad as one block
                    // copy, between pad zero rows above and below; then the columns shifted in
                    // from the neighbouring rows are zeroed.
                    const int hw = h * w, shift = kx - pad, j0 = std::max(0, -shift), j1 = std::min(hw, hw - shift);
                    const float* s = x + static_cast<std::size_t>(ci) * hw;
                    float* body = d + pad * ow;
                    std::fill(d, body + j0, 0.0f);
                    std::copy(s + j0 + shift, s + j1 + shift, body + j0);
                    std::fill(body + j1, d + rows * ow, 0.0f);
                    for (float* row = body; row < body + hw; row += ow) {
                        std::fill(row, row + lo, 0.0f);
                        std::fill(row + hi, row + ow, 0.0f);
                    }
                    d += rows * ow;
                    continue;
                }
                for (int r = 0; r < rows; ++r, d += ow) {
                    const int iy = r * stride + a - pad;
                    if (iy < 0 || iy >= h) {
                        std::fill(d, d + ow, 0.0f);
                        continue;
                    }
                    const float* s = x + (static_cast<std::size_t>(ci) * h + iy) * w + kx - pad;
                    std::fill(d, d + lo, 0.0f);
                    if (stride == 1)  // a constant stride vectorizes
                        for (int ox = lo; ox < hi; ++ox) d[ox] = s[ox];
                    else if (stride == 2)
                        for (int ox = lo; ox < hi; ++ox) d[ox] = s[2 * ox];
                    else
                        for (int ox = lo; ox < hi; ++ox) d[ox] = s[ox * stride];
                    std::fill(d + hi, d + ow, 0.0f);
                }
            }
}

void col2im(const float* col, int c, int h, int w, int k, int stride, int pad, int oh, int ow, float* x) {
    for (int ci = 0; ci < c; ++ci)
        for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
                const float* src = col + ((ci * k + ky) * k + kx) * oh * ow;
                for (int oy = 0; oy < oh; ++oy) {
                    const int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= h) continue;
                    float* dst = x + (ci * h + iy) * w;
                    const float* s = src + oy * ow;
                    for (int ox = 0; ox < ow; ++ox) {
                        const int ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < w) dst[ix] += s[ox];
                    }
                }
            }
}

void Conv2d::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) {
    const Tensor& x = *in[0];
    auto os = out_shape({x.shape});
    out.resize(os[0], os[1], os[2], os[3]);
    const Tensor& wt = effective_weight(ctx);
    const int oh = os[2], ow = os[3], n = x.n();
    const int K = static_cast<int>(row()), P = oh * ow;
    const bool direct = (k == 1 && stride == 1 && pad == 0);
    CMapR W(wt.ptr(), out_c, K);
#pragma omp parallel
    {
        FloatVec col(direct ? 0 : static_cast<std::size_t>(K) * P);
#pragma omp for schedule(static)
        for (int i = 0; i < n; ++i) {
            const float* src = x.image(i);
            if (!direct) {
                im2col(src, in_c, x.h(), x.w(), k, stride, pad, oh, ow, col.data());
                src = col.data();
            }
            MapR Y(out.image(i), out_c, P);
            Y.noalias() = W * CMapR(src, K, P);
            if (has_bias)
                for (int c = 0; c < out_c; ++c) Y.row(c).array() += effective_bias(c);
        }
    }
}

void Conv2d::backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                      std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    Tensor& dx = din[0];
    dx.resize_like(x);
    dx.zero();
    const Tensor& wt = forward_weight();
    const int oh = out.h(), ow = out.w(), n = x.n();
    const int K = static_cast<int>(row()), P = oh * ow;
    const bool direct = (k == 1 && stride == 1 && pad == 0);
    CMapR W(wt.ptr(), out_c, K);
    const int nt = omp_get_max_threads();
    std::vector<FloatVec> gw(static_cast<std::size_t>(nt)), gb(static_cast<std::size_t>(nt));
#pragma omp parallel
    {
        const int t = omp_get_thread_num();
        gw[t].assign(static_cast<std::size_t>(out_c) * K, 0.0f);
        gb[t].assign(static_cast<std::size_t>(out_c), 0.0f);
        FloatVec col(direct ? 0 : static_cast<std::size_t>(K) * P), dcol(static_cast<std::size_t>(K) * P);
        MapR GW(gw[t].data(), out_c, K);
#pragma omp for schedule(static)
        for (int i = 0; i < n; ++i) {
            const float* src = x.image(i);
            if (!direct) {
                im2col(src, in_c, x.h(), x.w(), k, stride, pad, oh, ow, col.data());
                src = col.data();
            }
            CMapR DY(dout.image(i), out_c, P);
            GW.noalias() += DY * CMapR(src, K, P).transpose();
            if (has_bias)
                for (int c = 0; c < out_c; ++c) gb[t][c] += DY.row(c).sum();
            if (direct) {
                MapR(dx.image(i), K, P).noalias() = W.transpose() * DY;
            } else {
                MapR(dcol.data(), K, P).noalias() = W.transpose() * DY;
                col2im(dcol.data(), in_c, x.h(), x.w(), k, stride, pad, oh, ow, dx.image(i));
            }
        }
    }
    // Reduce in thread order: bit-identical for a given thread count.
    for (int t = 0; t < nt; ++t) {
        if (gw[t].empty()) continue;
        for (std::size_t j = 0; j < gw[t].size(); ++j) grad_weight.data[j] += gw[t][j];
        if (has_bias)
            for (int c = 0; c < out_c; ++c) grad_bias.data[c] += gb[t][c];
    }
    mask_weight_gradient();
}

void Conv2d::save(const h5::Group& g) const {
    g.set_attr("in_channels", in_c);
    g.set_attr("out_channels", out_c);
    g.set_attr("kernel", k);
    g.set_attr("stride", stride);
    g.set_attr("padding", pad);
    g.set_attr("has_bias", has_bias ? 1 : 0);
    Layer::save(g);
    save_weights(g, {h5::Dims::value_type(out_c), h5::Dims::value_type(in_c), h5::Dims::value_type(k), h5::Dims::value_type(k)});
}

void Conv2d::load(const h5::Group& g) { load_weights(g, {h5::Dims::value_type(out_c), h5::Dims::value_type(in_c), h5::Dims::value_type(k), h5::Dims::value_type(k)}); }

}  // namespace flashmc::nn
