#include <catch2/catch.hpp>

#include "flashmc/core/parallel.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/quant_model.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;

namespace {
// Runs every MVM with the node's own codes as real weights, optionally scaled.
struct ScaledCodes : nn::MvmOverride {
    float factor;
    mutable int calls = 0;
    explicit ScaledCodes(float f) : factor(f) {}
    bool accumulate(int, const nn::QNode& q, const Tensor& x, Tensor& acc) const override {
        ++calls;
        FloatVec w(q.codes.begin(), q.codes.end());
        for (auto& v : w) v *= factor;
        nn::QuantModel::accumulate_with(q, w.data(), x, acc);
        return true;
    }
};
}  // namespace

TEST_CASE("an MVM override replaces the digital products of every conv/FC node", "[nn][quant]") {
    Tensor calib(16, 3, 32, 32);
    Stream r = Streams(8).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::Model m = nn::build_model("tiny", 2);
    nn::prepare_qat(m, nn::parse_quant("w4a4"), calib);
    nn::QuantModel q = nn::export_quantized(m);
    std::vector<std::uint8_t> images(16 * 3072);
    for (auto& p : images) p = static_cast<std::uint8_t>(r.below(256));
    Tensor digital, same, zero;
    q.forward(images.data(), 16, digital);
    ScaledCodes identity(1.0f), off(0.0f);
    q.forward(images.data(), 16, same, nullptr, &identity);
    REQUIRE(identity.calls == 4);  // conv1, b1_conv1, b1_conv2, fc
    REQUIRE(same.data == digital.data);
    // All weights zero: the logits are the last layer's bias alone.
    q.forward(images.data(), 16, zero, nullptr, &off);
    const auto& fc = q.nodes.back();
    for (int b = 0; b < 16; ++b)
        for (int c = 0; c < 10; ++c)
            REQUIRE(zero.image(b)[c] == Approx(fc.bias_q[static_cast<std::size_t>(c)] * q.scales().back()[static_cast<std::size_t>(c)]));
}

TEST_CASE("accumulate_with equals a direct convolution for any shape and thread count", "[nn][quant]") {
    struct Shape { int in_c, h, w, k, stride, pad, out_c, n; };
    // ResNet-20's stride-1 and stride-2 shapes, a partial last vector (P % 16 ≠ 0), 1×1, no
    // padding (ow ≠ w), a 5×5 kernel, out_c not a multiple of the 8-row tile, several groups.
    const Shape shapes[] = {{3, 32, 32, 3, 1, 1, 16, 3}, {16, 8, 8, 3, 2, 1, 32, 4}, {5, 7, 9, 3, 1, 1, 10, 4}, {4, 9, 9, 3, 2, 1, 9, 5},
                            {6, 8, 8, 1, 1, 0, 12, 2},  {3, 10, 7, 3, 1, 0, 8, 3},  {2, 11, 11, 5, 2, 2, 3, 2}, {16, 32, 32, 3, 1, 1, 16, 12}};
    Stream r = Streams(9).at({2});
    for (const Shape& s : shapes) {
        nn::QNode q;
        q.op = nn::QNode::Op::Conv;
        q.in_c = s.in_c, q.out_c = s.out_c, q.k = s.k, q.stride = s.stride, q.pad = s.pad;
        for (int o = 0; o < s.out_c; ++o) q.bias_q.push_back(static_cast<std::int32_t>(r.below(41)) - 20);
        const int K = static_cast<int>(q.row()), oh = (s.h + 2 * s.pad - s.k) / s.stride + 1, ow = (s.w + 2 * s.pad - s.k) / s.stride + 1;
        for (bool integer : {true, false}) {
            // Integer codes (4-bit weights, activations) must come out exact; real weights to rounding.
            Tensor x(s.n, s.in_c, s.h, s.w);
            for (auto& v : x.data) v = static_cast<float>(r.below(16));
            FloatVec w(static_cast<std::size_t>(s.out_c) * K);
            for (auto& v : w) v = integer ? static_cast<float>(static_cast<int>(r.below(15)) - 7) : static_cast<float>(r.normal());
            Tensor one, two;
            set_threads(1);
            nn::QuantModel::accumulate_with(q, w.data(), x, one);
            set_threads(2);
            nn::QuantModel::accumulate_with(q, w.data(), x, two);
            set_threads(0);
            REQUIRE(one.shape == std::array<int, 4>{s.n, s.out_c, oh, ow});
            REQUIRE(one.data == two.data);
            for (int i = 0; i < s.n; ++i)
                for (int o = 0; o < s.out_c; ++o)
                    for (int y = 0; y < oh; ++y)
                        for (int xx = 0; xx < ow; ++xx) {
                            double ref = q.bias_q[static_cast<std::size_t>(o)];
                            for (int c = 0; c < s.in_c; ++c)
                                for (int ky = 0; ky < s.k; ++ky)
                                    for (int kx = 0; kx < s.k; ++kx) {
                                        const int iy = y * s.stride + ky - s.pad, ix = xx * s.stride + kx - s.pad;
                                        if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                                            ref += double(w[static_cast<std::size_t>(o) * K + (c * s.k + ky) * s.k + kx]) * x.at(i, c, iy, ix);
                                    }
                            if (integer) REQUIRE(one.at(i, o, y, xx) == ref);
                            else REQUIRE(one.at(i, o, y, xx) == Approx(ref).margin(1e-3));
                        }
        }
    }
}
