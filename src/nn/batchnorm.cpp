#include "flashmc/nn/batchnorm.hpp"

#include <cmath>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

BatchNorm::BatchNorm(int c, double m, double e) : channels(c), momentum(m), eps(e) {
    for (Tensor* t : {&gamma, &beta, &grad_gamma, &grad_beta, &running_mean, &running_var}) t->resize(1, c);
    std::fill(gamma.data.begin(), gamma.data.end(), 1.0f);
    std::fill(running_var.data.begin(), running_var.data.end(), 1.0f);
}

std::array<int, 4> BatchNorm::out_shape(const std::vector<std::array<int, 4>>& in) const {
    if (in.at(0)[1] != channels) fail("batchnorm: input has ", in.at(0)[1], " channels, layer expects ", channels);
    return in[0];
}

void BatchNorm::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) {
    const Tensor& x = *in[0];
    if (x.c() != channels) fail("batchnorm: input has ", x.c(), " channels, layer expects ", channels);
    out.resize_like(x);
    const int n = x.n(), hw = x.h() * x.w();
    const double count = static_cast<double>(n) * hw;
    mean_.assign(channels, 0.0f);
    invstd_.assign(channels, 0.0f);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; ++c) {
        double mean, var;
        if (ctx.training) {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; ++i) {
                const float* p = x.image(i) + static_cast<std::size_t>(c) * hw;
                for (int j = 0; j < hw; ++j) s += p[j];
            }
            mean = s / count;
            for (int i = 0; i < n; ++i) {
                const float* p = x.image(i) + static_cast<std::size_t>(c) * hw;
                for (int j = 0; j < hw; ++j) s2 += (p[j] - mean) * (p[j] - mean);
            }
            var = s2 / count;
            running_mean.data[c] = static_cast<float>((1 - momentum) * running_mean.data[c] + momentum * mean);
            running_var.data[c] = static_cast<float>((1 - momentum) * running_var.data[c] +
                                                     momentum * var * count / std::max(1.0, count - 1));
        } else {
            mean = running_mean.data[c];
            var = running_var.data[c];
        }
        const float is = static_cast<float>(1.0 / std::sqrt(var + eps));
        mean_[c] = static_cast<float>(mean);
        invstd_[c] = is;
        const float a = gamma.data[c] * is, b = beta.data[c] - static_cast<float>(mean) * a;
        for (int i = 0; i < n; ++i) {
            const float* p = x.image(i) + static_cast<std::size_t>(c) * hw;
            float* q = out.image(i) + static_cast<std::size_t>(c) * hw;
            for (int j = 0; j < hw; ++j) q[j] = a * p[j] + b;
        }
    }
}

void BatchNorm::backward(const std::vector<const Tensor*>& in, const Tensor&, const Tensor& dout,
                         std::vector<Tensor>& din, const Context& ctx) {
    const Tensor& x = *in[0];
    Tensor& dx = din[0];
    dx.resize_like(x);
    const int n = x.n(), hw = x.h() * x.w();
    const double count = static_cast<double>(n) * hw;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; ++c) {
        const float m = mean_[c], is = invstd_[c];
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < n; ++i) {
            const float* p = x.image(i) + static_cast<std::size_t>(c) * hw;
            const float* d = dout.image(i) + static_cast<std::size_t>(c) * hw;
            for (int j = 0; j < hw; ++j) {
                sdy += d[j];
                sdyx += d[j] * (p[j] - m) * is;
            }
        }
        grad_gamma.data[c] += static_cast<float>(sdyx);
        grad_beta.data[c] += static_cast<float>(sdy);
        const float g = gamma.data[c] * is;
        const float a = static_cast<float>(sdy / count), b = static_cast<float>(sdyx / count);
        for (int i = 0; i < n; ++i) {
            const float* p = x.image(i) + static_cast<std::size_t>(c) * hw;
            const float* d = dout.image(i) + static_cast<std::size_t>(c) * hw;
            float* q = dx.image(i) + static_cast<std::size_t>(c) * hw;
            if (ctx.training)
                for (int j = 0; j < hw; ++j) q[j] = g * (d[j] - a - (p[j] - m) * is * b);
            else
                for (int j = 0; j < hw; ++j) q[j] = g * d[j];
        }
    }
}

std::vector<Param> BatchNorm::params() {
    return {{"gamma", &gamma, &grad_gamma, false}, {"beta", &beta, &grad_beta, false}};
}

void BatchNorm::save(const h5::Group& g) const {
    g.set_attr("channels", channels);
    g.set_attr("momentum", momentum);
    g.set_attr("eps", eps);
    Layer::save(g);
    for (auto [name, t] : {std::pair{"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean}, {"running_var", &running_var}})
        g.write(name, t->ptr(), {h5::Dims::value_type(channels)});
}

void BatchNorm::load(const h5::Group& g) {
    for (auto [name, t] : {std::pair{"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean}, {"running_var", &running_var}}) {
        const auto v = g.read_shaped<float>(name, {h5::Dims::value_type(channels)});
        for (float x : v)
            if (!std::isfinite(x) || (t == &running_var && x < 0)) fail(g.where(), ": dataset '", name, "' holds ", x);
        std::copy(v.begin(), v.end(), t->data.begin());
    }
}

}  // namespace flashmc::nn
