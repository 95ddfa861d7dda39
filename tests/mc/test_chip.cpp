#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/mc/chip.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"
#include "../test_util.hpp"

using namespace flashmc;

namespace {
struct Fixture {
    nn::QuantModel model;
    std::vector<std::uint8_t> images;
    device::Card card;
    Fixture() {
        Tensor calib(16, 3, 32, 32);
        Stream r = Streams(8).at({1});
        for (auto& v : calib.data) v = static_cast<float>(r.normal());
        nn::Model m = nn::build_model("tiny", 2);
        nn::prepare_qat(m, nn::parse_quant("w4a4"), calib);
        model = nn::export_quantized(m);
        images.resize(16 * 3072);
        for (auto& p : images) p = static_cast<std::uint8_t>(r.below(256));
        card = device::load_card(test::source_dir() + "/devices/nor40_cim.toml");
    }
    double mean_abs_error(const mc::Chip& c) const {
        double e = 0;
        std::size_t n = 0;
        for (std::size_t s = 0; s < c.nodes.size(); ++s) {
            const auto& q = model.nodes[static_cast<std::size_t>(c.nodes[s])];
            for (std::size_t i = 0; i < q.codes.size(); ++i, ++n) e += std::abs(c.weights[s][i] - q.codes[i]);
        }
        return e / static_cast<double>(n);
    }
};
}  // namespace

TEST_CASE("a chip with exact effective weights reproduces the digital model bit for bit", "[mc][chip]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    REQUIRE(analog.size() == 4);
    mc::Chip exact;
    exact.nodes = analog;
    for (int n : analog) {
        const auto& q = f.model.nodes[static_cast<std::size_t>(n)];
        exact.weights.emplace_back(q.codes.begin(), q.codes.end());
    }
    Tensor digital, analog_out;
    f.model.forward(f.images.data(), 16, digital);
    mc::ChipMvm mvm(f.model, exact, true);
    f.model.forward(f.images.data(), 16, analog_out, nullptr, &mvm);
    REQUIRE(analog_out.data == digital.data);
    for (double e : mvm.rms_relative_error()) REQUIRE(e == 0.0);
    REQUIRE_THROWS_WITH(mc::analog_nodes(f.model, {"conv9"}), Catch::Contains("valid: conv1"));
    REQUIRE(mc::analog_nodes(f.model, {"fc", "conv1"}) == std::vector<int>{analog.front(), analog.back()});
}

TEST_CASE("sampled chips: effective weights near the codes, deterministic, keyed by trial", "[mc][chip]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings verify;  // program-verify at and read at 25 °C
    set_threads(1);
    const mc::Chip a = mc::sample_chip(f.model, analog, f.card, verify, 3, 0, 0);
    set_threads(2);
    const mc::Chip b = mc::sample_chip(f.model, analog, f.card, verify, 3, 0, 0);
    set_threads(0);
    REQUIRE(a.weights == b.weights);  // any thread count
    REQUIRE(a.keys[0] == mc::layer_stream_key(3, 0, 0, analog[0]));
    const mc::Chip c = mc::sample_chip(f.model, analog, f.card, verify, 3, 0, 1);
    REQUIRE(c.weights != a.weights);
    // Program-verify places each cell within a few % of its target current.
    const double e_verify = f.mean_abs_error(a);
    REQUIRE(e_verify < 0.15);
    // Open loop sees the full σ_Vth: larger errors, growing with σ_Vth.
    mc::ChipSettings open = verify;
    open.program = mc::ProgramMode::open_loop;
    const double e_open = f.mean_abs_error(mc::sample_chip(f.model, analog, f.card, open, 3, 0, 0));
    device::Card wide = f.card;
    wide.variation.sigma_vth_v = 0.1;
    const double e_wide = f.mean_abs_error(mc::sample_chip(f.model, analog, wide, open, 3, 0, 0));
    REQUIRE(e_open > e_verify);
    REQUIRE(e_wide > e_open);
    // The per-layer diagnostic sees the error.
    Tensor out;
    mc::ChipMvm mvm(f.model, a, true);
    f.model.forward(f.images.data(), 16, out, nullptr, &mvm);
    for (double e : mvm.rms_relative_error()) {
        REQUIRE(e > 0.0);
        REQUIRE(e < 0.2);
    }
    // Codes beyond the card's levels are an error naming the layer.
    device::Card two_bit = f.card;
    two_bit.levels.weight_bits = 2;
    REQUIRE_THROWS_WITH(mc::sample_chip(f.model, analog, two_bit, verify, 3, 0, 0), Catch::Contains("leave this layer digital"));
}
