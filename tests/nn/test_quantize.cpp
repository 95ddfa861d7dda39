// Post-training quantization's pieces: the streamed threshold search (calibration in chunks) and
// the empirical bias correction, against their closed forms.
#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/core/rng.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/quantizer.hpp"

using namespace flashmc;

TEST_CASE("the streamed threshold search equals the one-shot search on the concatenation", "[nn][quant]") {
    // Sizes on both sides of the 200,000-value sampling bound (stride 1 and stride > 1).
    for (const std::size_t n : {std::size_t{1000}, std::size_t{450001}}) {
        std::vector<float> x(n);
        Stream r = Streams(5).at({n});
        for (auto& v : x) v = static_cast<float>(std::max(0.0, r.normal() + 0.3));
        const float whole = nn::mse_optimal_threshold(x.data(), n, 15, false);
        for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{499}, std::size_t{100000}}) {
            if (piece == 1 && n > 1000) continue;  // 450,001 single-value calls: slow, adds nothing
            nn::ThresholdSearch s(n, 15, false);
            for (std::size_t b = 0; b < n; b += piece) s.add(x.data() + b, std::min(piece, n - b));
            INFO("n " << n << " pieces of " << piece);
            REQUIRE(s.threshold() == whole);
        }
        nn::ThresholdSearch short_of(n, 15, false);
        short_of.add(x.data(), n - 1);
        REQUIRE_THROWS_WITH(short_of.threshold(), Catch::Contains("announced"));
        REQUIRE_THROWS_WITH(short_of.add(x.data(), 2), Catch::Contains("announced"));
    }
}

namespace {
Tensor gaussian(int n, int c, int h, int w, double mean, std::uint64_t seed) {
    Tensor t(n, c, h, w);
    Stream r = Streams(seed).at({1});
    for (auto& v : t.data) v = static_cast<float>(mean + r.normal());
    return t;
}
// Per-channel means of y over images and positions.
std::vector<double> channel_means(const Tensor& y) {
    std::vector<double> m(static_cast<std::size_t>(y.c()), 0.0);
    const std::size_t hw = static_cast<std::size_t>(y.h()) * y.w();
    for (int i = 0; i < y.n(); ++i)
        for (int c = 0; c < y.c(); ++c)
            for (std::size_t k = 0; k < hw; ++k) m[static_cast<std::size_t>(c)] += y.image(i)[c * hw + k];
    for (auto& v : m) v /= static_cast<double>(y.n()) * static_cast<double>(hw);
    return m;
}
}  // namespace

TEST_CASE("bias correction removes the mean shift of weight quantization: (W_q - W)·E[x]", "[nn][quant]") {
    // One linear layer: the shift is known in closed form.
    const int in_f = 40, out_f = 6;
    nn::Model m;
    m.input_shape = {in_f, 1, 1};
    auto fc = std::make_unique<nn::Linear>(in_f, out_f, true);
    Stream r = Streams(11).at({2});
    for (auto& v : fc->weight.data) v = static_cast<float>(0.3 * r.normal());
    for (auto& v : fc->bias.data) v = static_cast<float>(r.normal());
    fc->quant.bits = 4;
    m.add("fc", std::move(fc), {-1});
    const Tensor x = gaussian(1200, in_f, 1, 1, 0.7, 3);  // 3 calibration chunks, the last partial
    auto* l = static_cast<nn::Linear*>(m.nodes[0].layer.get());
    const std::vector<float> b0(l->bias.data.begin(), l->bias.data.end());
    std::vector<float> wq(l->weight.size());
    l->quant.update(l->weight.ptr(), out_f, in_f);
    l->quant.quantize(l->weight.ptr(), out_f, in_f, wq.data());
    const std::vector<double> mx = channel_means(x);

    REQUIRE(nn::correct_bias(m, x) == 1);
    for (int c = 0; c < out_f; ++c) {
        double shift = 0;
        for (int j = 0; j < in_f; ++j) shift += (wq[c * in_f + j] - l->weight.data[c * in_f + j]) * mx[static_cast<std::size_t>(j)];
        INFO("channel " << c << " shift " << shift);
        REQUIRE(std::abs(shift) > 1e-3);  // the test means something
        REQUIRE(l->bias.data[c] == Approx(b0[static_cast<std::size_t>(c)] - shift).margin(2e-5));
    }
}

TEST_CASE("after bias correction a quantized conv's channel means equal its float twin's", "[nn][quant]") {
    nn::Model m;
    m.input_shape = {3, 12, 12};
    auto conv = std::make_unique<nn::Conv2d>(3, 8, 3, 1, 1, true);  // padded: positions see fewer inputs at the border
    Stream r = Streams(12).at({2});
    for (auto& v : conv->weight.data) v = static_cast<float>(0.2 * r.normal());
    for (auto& v : conv->bias.data) v = static_cast<float>(0.1 * r.normal());
    conv->quant.bits = 3;
    nn::Conv2d twin = *conv;  // float weights, original bias
    twin.quant.bits = 0;
    m.add("conv", std::move(conv), {-1});
    const Tensor x = gaussian(700, 3, 12, 12, -0.4, 4);

    Tensor y_f;
    twin.forward({&x}, y_f, nn::Context{});
    const auto want = channel_means(y_f);
    nn::Context ctx;
    const auto before = channel_means(m.forward(x, ctx));
    double gap = 0;
    for (std::size_t c = 0; c < want.size(); ++c) gap = std::max(gap, std::abs(before[c] - want[c]));
    REQUIRE(gap > 1e-3);
    nn::correct_bias(m, x);
    const auto after = channel_means(m.forward(x, ctx));
    for (std::size_t c = 0; c < want.size(); ++c) REQUIRE(after[c] == Approx(want[c]).margin(1e-5));
}

TEST_CASE("bias correction needs the bias that BatchNorm folding gives", "[nn][quant]") {
    nn::Model m;
    m.input_shape = {4, 1, 1};
    auto fc = std::make_unique<nn::Linear>(4, 2, false);
    fc->quant.bits = 4;
    for (auto& v : fc->weight.data) v = 0.5f;
    m.add("head", std::move(fc), {-1});
    REQUIRE_THROWS_WITH(nn::correct_bias(m, gaussian(4, 4, 1, 1, 0, 1)), Catch::Contains("'head' has no bias"));
}
