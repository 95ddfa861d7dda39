#include "flashmc/nn/linear.hpp"

#include <cmath>

#include "flashmc/core/error.hpp"

namespace flashmc::nn {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;

Linear::Linear(int in_features, int out_features, bool bias_)
    : WeightedLayer(out_features, static_cast<std::size_t>(in_features), bias_, {out_features, in_features, 1, 1}),
      in_f(in_features), out_f(out_features) {}

std::array<int, 4> Linear::out_shape(const std::vector<std::array<int, 4>>& in) const {
    const auto& s = in.at(0);
    if (s[1] * s[2] * s[3] != in_f) fail("linear: input has ", s[1] * s[2] * s[3], " features, layer expects ", in_f);
    return {s[0], out_f, 1, 1};
}

void Linear::forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) {
    const Tensor& x = *in[0];
    out.resize(x.n(), out_f);
    const Tensor& wt = effective_weight(ctx);
    MapR Y(out.ptr(), x.n(), out_f);
    Y.noalias() = CMapR(x.ptr(), x.n(), in_f) * CMapR(wt.ptr(), out_f, in_f).transpose();
    if (has_bias)
        for (int i = 0; i < x.n(); ++i)
            for (int o = 0; o < out_f; ++o) Y(i, o) += effective_bias(o);
}

void Linear::backward(const std::vector<const Tensor*>& in, const Tensor&, const Tensor& dout,
                      std::vector<Tensor>& din, const Context&) {
    const Tensor& x = *in[0];
    const Tensor& wt = forward_weight();
    din[0].resize_like(x);
    CMapR DY(dout.ptr(), x.n(), out_f);
    MapR(grad_weight.ptr(), out_f, in_f).noalias() += DY.transpose() * CMapR(x.ptr(), x.n(), in_f);
    if (has_bias)
        for (int i = 0; i < x.n(); ++i)
            for (int o = 0; o < out_f; ++o) grad_bias.data[o] += DY(i, o);
    MapR(din[0].ptr(), x.n(), in_f).noalias() = DY * CMapR(wt.ptr(), out_f, in_f);
    mask_weight_gradient();
}

void Linear::save(const h5::Group& g) const {
    g.set_attr("in_features", in_f);
    g.set_attr("out_features", out_f);
    g.set_attr("has_bias", has_bias ? 1 : 0);
    Layer::save(g);
    save_weights(g, {h5::Dims::value_type(out_f), h5::Dims::value_type(in_f)});
}

void Linear::load(const h5::Group& g) { load_weights(g, {h5::Dims::value_type(out_f), h5::Dims::value_type(in_f)}); }

}  // namespace flashmc::nn
