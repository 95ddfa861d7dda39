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
    std::vector<FloatVec> weights(const mc::Chip& c, const mc::ChipSettings& s = {}) const {
        return mc::StaticMvm(model, c, card, s, false).weights();
    }
    double mean_abs_error(const mc::Chip& c) const {
        const auto w = weights(c);
        double e = 0;
        std::size_t n = 0;
        for (std::size_t s = 0; s < c.layers.size(); ++s) {
            const auto& q = model.nodes[static_cast<std::size_t>(c.layers[s].node)];
            for (std::size_t i = 0; i < q.codes.size(); ++i, ++n) e += std::abs(w[s][i] - q.codes[i]);
        }
        return e / static_cast<double>(n);
    }
};
}  // namespace

TEST_CASE("a chip with exact effective weights reproduces the digital model bit for bit", "[mc][chip]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    REQUIRE(analog.size() == 4);
    std::vector<FloatVec> exact;
    for (int n : analog) {
        const auto& q = f.model.nodes[static_cast<std::size_t>(n)];
        exact.emplace_back(q.codes.begin(), q.codes.end());
    }
    Tensor digital, analog_out;
    f.model.forward(f.images.data(), 16, digital);
    mc::StaticMvm mvm(f.model, analog, exact, true);
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
    const array::MappingParams tiles;  // 256 × 256, differential
    const mc::Chip a = mc::sample_chip(f.model, analog, f.card, verify, tiles, 3, 0, 0);
    set_threads(2);
    const mc::Chip b = mc::sample_chip(f.model, analog, f.card, verify, tiles, 3, 0, 0);
    set_threads(0);
    REQUIRE(f.weights(a) == f.weights(b));  // any thread count
    REQUIRE(a.keys()[0] == mc::layer_stream_key(3, 0, 0, analog[0]));
    const mc::Chip c = mc::sample_chip(f.model, analog, f.card, verify, tiles, 3, 0, 1);
    REQUIRE(f.weights(c) != f.weights(a));
    // Program-verify places each cell within a few % of its target current.
    const double e_verify = f.mean_abs_error(a);
    REQUIRE(e_verify < 0.15);
    // Open loop sees the full σ_Vth: larger errors, growing with σ_Vth.
    mc::ChipSettings open = verify;
    open.program = mc::ProgramMode::open_loop;
    const double e_open = f.mean_abs_error(mc::sample_chip(f.model, analog, f.card, open, tiles, 3, 0, 0));
    device::Card wide = f.card;
    wide.variation.sigma_vth_v = 0.1;
    const double e_wide = f.mean_abs_error(mc::sample_chip(f.model, analog, wide, open, tiles, 3, 0, 0));
    REQUIRE(e_open > e_verify);
    REQUIRE(e_wide > e_open);
    // The per-layer diagnostic sees the error.
    Tensor out;
    mc::StaticMvm mvm(f.model, a, f.card, verify, true);
    f.model.forward(f.images.data(), 16, out, nullptr, &mvm);
    for (double e : mvm.rms_relative_error()) {
        REQUIRE(e > 0.0);
        REQUIRE(e < 0.2);
    }
    // Codes beyond the card's levels are an error naming the layer.
    device::Card two_bit = f.card;
    two_bit.levels.weight_bits = 2;
    REQUIRE_THROWS_WITH(mc::sample_chip(f.model, analog, two_bit, verify, tiles, 3, 0, 0), Catch::Contains("leave this layer digital"));
}

namespace {
// Each analog node's accumulator under `mvm`, for the digital model's own inputs to that node.
std::vector<Tensor> node_products(const nn::QuantModel& model, const std::vector<int>& analog, const std::uint8_t* images,
                                  int n, const nn::MvmOverride& mvm) {
    Tensor logits;
    std::vector<Tensor> trace, out;
    model.forward(images, n, logits, &trace);
    for (int node : analog) {
        const auto& q = model.nodes[static_cast<std::size_t>(node)];
        out.emplace_back();
        REQUIRE(mvm.accumulate(node, q, trace[static_cast<std::size_t>(q.inputs[0])], out.back()));
    }
    return out;
}
double max_rel_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.size() == b.size());
    double d = 0, m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        d = std::max(d, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
        m = std::max(m, std::abs(static_cast<double>(b.data[i])));
    }
    return d / m;
}
}  // namespace

TEST_CASE("ideal array settings compute what the static path computes", "[mc][chip][array]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings open;
    open.program = mc::ProgramMode::open_loop;  // visible per-cell errors
    // Small tiles, so that layers span several row and column tiles; both mappings, both encodings.
    for (const char* mapping : {"differential", "offset"})
        for (const char* encoding : {"pulse_width", "bit_serial"}) {
            CAPTURE(mapping, encoding);
            mc::ArraySettings arr;
            arr.analog.mapping.tile_rows = 16;
            arr.analog.mapping.tile_cols = 10;
            arr.analog.mapping.mapping = array::parse_weight_mapping(mapping);
            arr.analog.encoding = array::parse_input_encoding(encoding);
            REQUIRE(arr.is_static());
            const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, open, arr.analog.mapping, 5, 1, 2);
            REQUIRE(chip.layers[0].mapping.tiles.size() > 1);
            mc::StaticMvm stat(f.model, chip, f.card, open, false);
            mc::ArrayMvm arrm(f.model, chip, f.card, open, arr, nullptr, false);
            const auto a = node_products(f.model, analog, f.images.data(), 16, stat);
            const auto b = node_products(f.model, analog, f.images.data(), 16, arrm);
            for (std::size_t l = 0; l < a.size(); ++l) REQUIRE(max_rel_diff(b[l], a[l]) < 1e-5);
            // and so the same predictions, end to end
            Tensor la, lb;
            f.model.forward(f.images.data(), 16, la, nullptr, &stat);
            f.model.forward(f.images.data(), 16, lb, nullptr, &arrm);
            for (int i = 0; i < 16; ++i) {
                const float* x = la.image(i);
                const float* y = lb.image(i);
                REQUIRE(std::max_element(x, x + la.c()) - x == std::max_element(y, y + lb.c()) - y);
            }
        }
}

TEST_CASE("array path: IR drop, ADC resolution and per-read noise each change the products", "[mc][chip][array]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    const mc::ChipSettings verify;
    mc::ArraySettings ideal;
    ideal.analog.mapping.tile_rows = 32;
    const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, verify, ideal.analog.mapping, 5, 0, 0);
    const auto ref = node_products(f.model, analog, f.images.data(), 4, mc::ArrayMvm(f.model, chip, f.card, verify, ideal, nullptr, false));
    auto error = [&](const mc::ArraySettings& s) {
        mc::ArrayMvm m(f.model, chip, f.card, verify, s, nullptr, false);
        m.begin_batch(0);
        const auto p = node_products(f.model, analog, f.images.data(), 4, m);
        double e = 0;
        for (std::size_t l = 0; l < p.size(); ++l) e = std::max(e, max_rel_diff(p[l], ref[l]));
        return e;
    };
    // IR drop: the error grows with the wire resistance.
    mc::ArraySettings ir = ideal;
    ir.analog.ir = array::IrModel::fast;
    ir.analog.wires = {5.0, 5.0};
    REQUIRE_FALSE(ir.is_static());
    const double e_ir5 = error(ir);
    ir.analog.wires = {50.0, 50.0};
    const double e_ir50 = error(ir);
    // (nA subthreshold currents: the drop is small, and first order in r)
    REQUIRE(e_ir5 > 1e-6);
    REQUIRE(e_ir50 > 5 * e_ir5);
    // ADC: coarser conversions, larger errors.
    mc::ArraySettings adc = ideal;
    adc.analog.adc.bits = 10;
    const double e10 = error(adc);
    adc.analog.adc.bits = 5;
    const double e5 = error(adc);
    REQUIRE(e10 > 0);
    REQUIRE(e5 > 4 * e10);
    // Read noise: a fresh read per batch; the same batch key reads the same.
    mc::ArraySettings noisy = ideal;
    noisy.read_noise = mc::ReadNoise::per_batch;
    mc::ArrayMvm m(f.model, chip, f.card, verify, noisy, nullptr, false);
    m.begin_batch(0);
    const auto r0 = node_products(f.model, analog, f.images.data(), 4, m);
    m.begin_batch(250);
    const auto r1 = node_products(f.model, analog, f.images.data(), 4, m);
    m.begin_batch(0);
    const auto r0b = node_products(f.model, analog, f.images.data(), 4, m);
    REQUIRE(r0[0].data == r0b[0].data);
    REQUIRE(r0[0].data != r1[0].data);
    REQUIRE(max_rel_diff(r0[0], ref[0]) > 0);
    REQUIRE(max_rel_diff(r0[0], ref[0]) < 0.05);  // 0.5 % current noise, ~1 mV RTN
}
