#include <catch2/catch.hpp>

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
