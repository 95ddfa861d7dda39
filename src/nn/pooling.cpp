#include "flashmc/nn/pooling.hpp"

#include <cfloat>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

std::array<int, 4> Pool2d::out_shape(const std::vector<std::array<int, 4>>& in) const {
    const auto& s = in.at(0);
    if (s[2] < k || s[3] < k) fail("pool: a ", k, "x", k, " window does not fit a ", s[2], "x", s[3], " input");
    return {s[0], s[1], (s[2] - k) / stride + 1, (s[3] - k) / stride + 1};
}

void Pool2d::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    const Tensor& x = *in[0];
    auto o = out_shape({x.shape});
    out.resize(o[0], o[1], o[2], o[3]);
    const int planes = x.n() * x.c();
    const float inv = 1.0f / static_cast<float>(k * k);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; ++pl) {
        const float* p = x.ptr() + static_cast<std::size_t>(pl) * x.h() * x.w();
        float* q = out.ptr() + static_cast<std::size_t>(pl) * o[2] * o[3];
        for (int oy = 0; oy < o[2]; ++oy)
            for (int ox = 0; ox < o[3]; ++ox) {
                float acc = mode == Mode::Max ? -FLT_MAX : 0.0f;
                for (int ky = 0; ky < k; ++ky)
                    for (int kx = 0; kx < k; ++kx) {
                        float v = p[(oy * stride + ky) * x.w() + ox * stride + kx];
                        acc = mode == Mode::Max ? std::max(acc, v) : acc + v;
                    }
                q[oy * o[3] + ox] = mode == Mode::Max ? acc : acc * inv;
            }
    }
}

void Pool2d::backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                      std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    Tensor& dx = din[0];
    dx.resize_like(x);
    dx.zero();
    const int planes = x.n() * x.c(), oh = out.h(), ow = out.w();
    const float inv = 1.0f / static_cast<float>(k * k);
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; ++pl) {
        const float* p = x.ptr() + static_cast<std::size_t>(pl) * x.h() * x.w();
        float* dp = dx.ptr() + static_cast<std::size_t>(pl) * x.h() * x.w();
        const float* d = dout.ptr() + static_cast<std::size_t>(pl) * oh * ow;
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox) {
                const float g = d[oy * ow + ox];
                if (mode == Mode::Average) {
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) dp[(oy * stride + ky) * x.w() + ox * stride + kx] += g * inv;
                } else {
                    int best = -1;
                    float bv = -FLT_MAX;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            int idx = (oy * stride + ky) * x.w() + ox * stride + kx;
                            if (p[idx] > bv) { bv = p[idx]; best = idx; }
                        }
                    dp[best] += g;
                }
            }
    }
}

void Pool2d::save(const h5::Group& g) const {
    g.set_attr("kernel", k);
    g.set_attr("stride", stride);
    Layer::save(g);
}

void GlobalAvgPool::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context&) {
    const Tensor& x = *in[0];
    out.resize(x.n(), x.c(), 1, 1);
    const int hw = x.h() * x.w(), planes = x.n() * x.c();
    for (int pl = 0; pl < planes; ++pl) {
        const float* p = x.ptr() + static_cast<std::size_t>(pl) * hw;
        float s = 0;
        for (int j = 0; j < hw; ++j) s += p[j];
        out.data[pl] = s / static_cast<float>(hw);
    }
}

void GlobalAvgPool::backward(const std::vector<const Tensor*>& in, const Tensor&, const Tensor& dout,
                             std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    din[0].resize_like(x);
    const int hw = x.h() * x.w(), planes = x.n() * x.c();
    for (int pl = 0; pl < planes; ++pl) {
        float g = dout.data[pl] / static_cast<float>(hw);
        float* q = din[0].ptr() + static_cast<std::size_t>(pl) * hw;
        for (int j = 0; j < hw; ++j) q[j] = g;
    }
}

}  // namespace flashmc::nn
