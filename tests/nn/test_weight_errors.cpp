// Device-aware training's draws (nn/weight_errors.hpp): what a layer's forward pass sees.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "flashmc/core/error.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/weight_errors.hpp"

using namespace flashmc;

namespace {
// Code k realizes k + 0.25 or k − 0.25.
nn::CodeTable split_table(int qmax) {
    nn::CodeTable t;
    t.qmax = qmax;
    for (int k = -qmax; k <= qmax; ++k) t.samples.push_back({k + 0.25f, k - 0.25f});
    return t;
}
}  // namespace

TEST_CASE("draw_weights replaces each code by a sample of its own table, deterministically", "[nn][device-aware]") {
    const nn::CodeTable t = split_table(7);
    const std::vector<float> scales{0.5f, 0.125f};
    const int out_c = 2;
    const std::size_t row = 200;
    std::vector<float> wq(out_c * row);
    for (std::size_t j = 0; j < wq.size(); ++j) wq[j] = static_cast<float>(static_cast<int>(j % 15) - 7) * scales[j / row];
    auto draw = [&](std::uint64_t key) {
        std::vector<float> w = wq;
        Stream rng = Streams(3).at({key});
        nn::draw_weights(t, scales, out_c, row, rng, w.data());
        return w;
    };
    const auto a = draw(1);
    int plus = 0;
    for (std::size_t j = 0; j < wq.size(); ++j) {
        const float s = scales[j / row], k = wq[j] / s;
        const float e = a[j] / s - k;
        REQUIRE(std::abs(std::abs(e) - 0.25f) < 1e-5f);
        plus += e > 0;
    }
    // Both samples are drawn, about equally: 400 fair draws, 5 standard deviations.
    REQUIRE(std::abs(plus - 200) < 5 * 10);
    REQUIRE(draw(1) == a);
    REQUIRE(draw(2) != a);
    // A weight off the table's codes (another bit width) is an error, not a silent clamp.
    const nn::CodeTable small = split_table(3);
    std::vector<float> w = wq;
    Stream rng = Streams(3).at({1});
    REQUIRE_THROWS_WITH(nn::draw_weights(small, scales, out_c, row, rng, w.data()), Catch::Contains("outside the table's"));
}

TEST_CASE("draw_condition is uniform over the conditions and keyed by the step", "[nn][device-aware]") {
    const Streams s(11);
    REQUIRE(nn::draw_condition(s, 5, 1) == 0);
    std::vector<int> count(5);
    const int steps = 5000;
    for (int step = 0; step < steps; ++step) ++count[static_cast<std::size_t>(nn::draw_condition(s, static_cast<std::uint64_t>(step), 5))];
    // Binomial(5000, 0.2): sd = 28.3; 5 sd.
    for (int c : count) REQUIRE(std::abs(c - 1000) < 5 * 28.3);
    REQUIRE(nn::draw_condition(s, 17, 5) == nn::draw_condition(s, 17, 5));
    REQUIRE_THROWS(nn::draw_condition(s, 0, 0));
}

TEST_CASE("a layer's training pass draws its weights from the table, inference does not", "[nn][device-aware]") {
    nn::Linear fc(30, 4);
    Stream r = Streams(5).at({1});
    fc.init_he(r);
    fc.quant.bits = 4;
    const nn::CodeTable t = split_table(7);
    const Streams streams(9);
    const Tensor plain = fc.effective_weight();  // fake-quantized
    fc.device_errors = &t;
    nn::Context train{true, 3, &streams, 2}, infer{};
    REQUIRE(fc.effective_weight(infer).data == plain.data);
    const Tensor noisy = fc.effective_weight(train);
    for (std::size_t j = 0; j < plain.size(); ++j) {
        const float s = fc.quant.scale(0);
        REQUIRE(std::abs(std::abs(noisy.data[j] - plain.data[j]) / s - 0.25f) < 1e-5f);
    }
    // Keyed by (step, node): the same step redraws the same weights, another step others.
    REQUIRE(fc.effective_weight(train).data == noisy.data);
    nn::Context next{true, 4, &streams, 2};
    REQUIRE(fc.effective_weight(next).data != noisy.data);
}

TEST_CASE("the tables' fingerprint changes with any sample", "[nn][device-aware]") {
    nn::WeightErrors e;
    e.conditions = {"a"};
    e.tables.push_back({{"fc", split_table(7)}});
    const std::string f = e.fingerprint();
    REQUIRE(f.size() == 64);
    e.tables[0]["fc"].samples[3][1] += 1e-6f;
    REQUIRE(e.fingerprint() != f);
}
