// Every backward pass against central finite differences of L = Σ out · R (R random).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/loss.hpp"
#include "flashmc/nn/pooling.hpp"
#include "flashmc/nn/residual.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;
using namespace flashmc::nn;

namespace {

Tensor random_tensor(int n, int c, int h, int w, std::uint64_t key, double sd = 1.0) {
    Tensor t(n, c, h, w);
    Stream r = Streams(99).at({key});
    for (auto& v : t.data) v = static_cast<float>(r.normal() * sd);
    return t;
}

double dot(const Tensor& a, const Tensor& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a.data[i]) * b.data[i];
    return s;
}

// Checks d(Σ out·R)/d(inputs and params) of `layer` at `inputs` against finite differences.
void check_layer(Layer& layer, std::vector<Tensor> inputs, bool training = true, double eps = 1e-2, double tol = 2e-2) {
    Streams streams(5);
    Context ctx{training, 3, &streams, 1};
    std::vector<const Tensor*> in;
    for (auto& t : inputs) in.push_back(&t);
    Tensor out;
    layer.forward(in, out, ctx);
    Tensor R = random_tensor(out.n(), out.c(), out.h(), out.w(), 777);
    for (auto& p : layer.params()) p.grad->zero();
    std::vector<Tensor> din(inputs.size());
    layer.backward(in, out, R, din, ctx);
    auto loss = [&]() {
        Tensor o;
        layer.forward(in, o, ctx);
        return dot(o, R);
    };
    auto check = [&](float* value, float analytic, const std::string& what) {
        const float saved = *value;
        *value = saved + static_cast<float>(eps);
        const double lp = loss();
        *value = saved - static_cast<float>(eps);
        const double lm = loss();
        *value = saved;
        const double numeric = (lp - lm) / (2 * eps);
        INFO(layer.kind() << " " << what << ": analytic " << analytic << " numeric " << numeric);
        REQUIRE(std::abs(numeric - analytic) <= tol * std::max(1.0, std::abs(numeric)));
    };
    Stream pick = Streams(3).at({42});
    for (std::size_t k = 0; k < inputs.size(); ++k)
        for (int s = 0; s < 12; ++s) {
            const std::size_t j = pick.below(inputs[k].size());
            check(&inputs[k].data[j], din[k].data[j], "input " + std::to_string(k) + "[" + std::to_string(j) + "]");
        }
    for (auto& p : layer.params())
        for (int s = 0; s < 8; ++s) {
            const std::size_t j = pick.below(p.value->size());
            check(&p.value->data[j], p.grad->data[j], p.name + "[" + std::to_string(j) + "]");
        }
}

}  // namespace

TEST_CASE("conv2d backward matches finite differences", "[nn][grad]") {
    for (auto [k, stride, pad] : {std::tuple{3, 1, 1}, {3, 2, 1}, {1, 1, 0}, {1, 2, 0}, {5, 1, 2}}) {
        Conv2d conv(3, 4, k, stride, pad, true);
        Stream r = Streams(1).at({static_cast<std::uint64_t>(k * 10 + stride)});
        conv.init_he(r);
        for (auto& b : conv.bias.data) b = static_cast<float>(r.normal() * 0.1);
        check_layer(conv, {random_tensor(2, 3, 7, 7, 1)}, true, 1e-2, 1e-2);
    }
}

TEST_CASE("linear backward matches finite differences", "[nn][grad]") {
    Linear fc(12, 5, true);
    Stream r = Streams(1).at({2});
    fc.init_he(r);
    check_layer(fc, {random_tensor(3, 3, 2, 2, 2)}, true, 1e-2, 1e-2);
}

TEST_CASE("batchnorm backward matches finite differences (training and inference)", "[nn][grad]") {
    BatchNorm bn(3);
    Stream r = Streams(1).at({3});
    for (int c = 0; c < 3; ++c) {
        bn.gamma.data[c] = static_cast<float>(1 + 0.3 * r.normal());
        bn.beta.data[c] = static_cast<float>(0.3 * r.normal());
    }
    check_layer(bn, {random_tensor(4, 3, 3, 3, 3)}, true, 1e-2, 3e-2);
    check_layer(bn, {random_tensor(4, 3, 3, 3, 4)}, false, 1e-2, 1e-2);
}

TEST_CASE("relu and PACT clipped relu backward match finite differences", "[nn][grad]") {
    Activation relu(0);
    check_layer(relu, {random_tensor(2, 3, 4, 4, 5)}, true, 1e-3, 1e-2);
    // PACT clip gradient: with many bits the quantization is negligible against eps.
    Activation pact(16, 0.8f);
    check_layer(pact, {random_tensor(2, 3, 4, 4, 6)}, true, 1e-3, 2e-2);
}

TEST_CASE("pooling backward matches finite differences", "[nn][grad]") {
    Pool2d mx(Pool2d::Mode::Max, 2, 2), av(Pool2d::Mode::Average, 2, 2), av3(Pool2d::Mode::Average, 3, 1);
    check_layer(mx, {random_tensor(2, 3, 6, 6, 7)}, true, 1e-3, 1e-2);
    check_layer(av, {random_tensor(2, 3, 6, 6, 8)}, true, 1e-2, 1e-2);
    check_layer(av3, {random_tensor(2, 3, 6, 6, 9)}, true, 1e-2, 1e-2);
    GlobalAvgPool gap;
    check_layer(gap, {random_tensor(2, 3, 5, 5, 10)}, true, 1e-2, 1e-2);
}

TEST_CASE("residual add, option-A shortcut and dropout backward match finite differences", "[nn][grad]") {
    Add add;
    check_layer(add, {random_tensor(2, 3, 4, 4, 11), random_tensor(2, 3, 4, 4, 12)});
    ShortcutA sc(2, 5);
    check_layer(sc, {random_tensor(2, 3, 6, 6, 13)});
    Dropout drop(0.4f);
    check_layer(drop, {random_tensor(2, 3, 4, 4, 14)});
}

TEST_CASE("softmax cross-entropy with label smoothing: gradient and value", "[nn][grad]") {
    Tensor z = random_tensor(4, 10, 1, 1, 15);
    std::uint8_t labels[4] = {0, 3, 9, 3};
    Tensor dz;
    int correct = 0;
    softmax_cross_entropy(z, labels, 0.1f, &dz, &correct);
    for (std::size_t j = 0; j < z.size(); j += 3) {
        const float saved = z.data[j];
        z.data[j] = saved + 1e-3f;
        const double lp = softmax_cross_entropy(z, labels, 0.1f, nullptr, nullptr);
        z.data[j] = saved - 1e-3f;
        const double lm = softmax_cross_entropy(z, labels, 0.1f, nullptr, nullptr);
        z.data[j] = saved;
        REQUIRE(std::abs((lp - lm) / 2e-3 - dz.data[j]) < 1e-3);
    }
    // Uniform logits: loss = ln K whatever the smoothing.
    Tensor u(2, 10);
    std::uint8_t l2[2] = {1, 2};
    REQUIRE(std::abs(softmax_cross_entropy(u, l2, 0.1f, nullptr, nullptr) - std::log(10.0)) < 1e-6);
}

TEST_CASE("whole-model backward (graph with residual fan-out) matches finite differences", "[nn][grad]") {
    Model m = build_model("tiny", 3);
    Tensor x = random_tensor(3, 3, 32, 32, 16);
    std::uint8_t labels[3] = {1, 4, 7};
    Streams streams(1);
    Context ctx{true, 0, &streams, 0};
    // Batch-norm statistics make the loss depend on the whole batch; keep training mode.
    m.zero_grad();
    Tensor dz;
    softmax_cross_entropy(m.forward(x, ctx), labels, 0.0f, &dz, nullptr);
    m.backward(dz, ctx);
    auto params = m.params();
    Stream pick = Streams(4).at({1});
    for (auto& p : params) {
        // The absolute floor scales with this tensor's largest gradient (float32 finite-difference
        // noise is ~1e-4), so a zero or wrong small gradient cannot hide under it.
        float g_max = 0;
        for (float g : p.grad->data) g_max = std::max(g_max, std::abs(g));
        INFO(p.name << ": largest |gradient| " << g_max);
        REQUIRE(g_max > 1e-3f);
        for (int s = 0; s < 3; ++s) {
            const std::size_t j = pick.below(p.value->size());
            const float saved = p.value->data[j], g = p.grad->data[j];
            const float eps = 2e-3f;
            p.value->data[j] = saved + eps;
            const double lp = softmax_cross_entropy(m.forward(x, ctx), labels, 0.0f, nullptr, nullptr);
            p.value->data[j] = saved - eps;
            const double lm = softmax_cross_entropy(m.forward(x, ctx), labels, 0.0f, nullptr, nullptr);
            p.value->data[j] = saved;
            const double numeric = (lp - lm) / (2 * eps);
            INFO(p.name << "[" << j << "] analytic " << g << " numeric " << numeric);
            REQUIRE(std::abs(numeric - g) <= 3e-2 * std::abs(numeric) + 1e-2 * g_max + 2e-4);
        }
    }
}
