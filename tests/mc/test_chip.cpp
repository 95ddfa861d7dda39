#include <catch2/catch.hpp>

#include <cmath>
#include <set>

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
    REQUIRE_THROWS_WITH(mc::analog_nodes(f.model, {"fc", "fc"}), Catch::Contains("'fc' is listed twice"));
}

TEST_CASE("sampled chips: effective weights near the codes, deterministic, keyed by trial", "[mc][chip]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings verify;  // program-verify at and read at 25 °C
    set_threads(1);
    const array::MappingParams tiles;  // 256 × 256, differential
    const mc::Chip a = mc::sample_chip(f.model, analog, f.card, verify, tiles, 3, 0, 0);
    set_threads(2);
    mc::ChipStageTimes times;  // timing the stages changes nothing
    const mc::Chip b = mc::sample_chip(f.model, analog, f.card, verify, tiles, 3, 0, 0, &times);
    set_threads(0);
    REQUIRE(f.weights(a) == f.weights(b));  // any thread count
    REQUIRE(times.sample_s > 0);
    REQUIRE(times.program_s > 0);
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

TEST_CASE("read temperature: a tracking reference removes the common gain, the subthreshold compression remains", "[mc][chip]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    const array::MappingParams tiles;
    mc::ChipSettings at25;  // verify and read at 25 °C
    mc::ChipSettings hot = at25, hot_fixed = at25;
    hot.read_temperature_c = hot_fixed.read_temperature_c = 85.0;
    hot_fixed.read_reference = mc::ReadReference::fixed;
    const double tv = units::kelvin(25.0), t = units::kelvin(85.0);
    // I_k(85 °C)/I_k(25 °C) of an ideal cell at level k's verify target, from the I–V itself.
    auto heating = [&](const device::Card& card, int k) {
        const device::LevelTargets lt = device::level_targets(card.iv, card.levels, 25.0);
        const auto r25 = device::read_conditions(card, 25.0), r85 = device::read_conditions(card, 85.0);
        const double v = lt.vth_v(k, card.iv.slope_n), n = card.iv.slope_n;
        return device::drain_current_a(card.iv, r85.vgs_v, r85.vds_v, v, n, 85.0) /
               device::drain_current_a(card.iv, r25.vgs_v, r25.vds_v, v, n, 25.0);
    };
    // Mean over the cells of code ±k of w(85 °C)/w(25 °C), per-cell ratios (placement errors cancel).
    auto mean_ratio = [&](const mc::Chip& chip, const std::vector<FloatVec>& hot_w, const std::vector<FloatVec>& w25, int k) {
        double sum = 0;
        int n = 0;
        for (std::size_t s = 0; s < chip.layers.size(); ++s) {
            const auto& q = f.model.nodes[static_cast<std::size_t>(chip.layers[s].node)];
            for (std::size_t i = 0; i < q.codes.size(); ++i)
                if (std::abs(q.codes[i]) == k) sum += hot_w[s][i] / w25[s][i], ++n;
        }
        REQUIRE(n >= 20);
        return sum / n;
    };
    // Per-cell slope factors spread a ratio by a few % (σ_n/n ≈ 3 % of a shift of about 2 n·V_T);
    // the mean over n ≥ 20 cells lies well within 3 % of the ideal cell's value.
    SECTION("deep subthreshold (no V_th temperature shift): levels compress as (k/L)^(T_v/T)") {
        device::Card card = f.card;
        card.iv.vth_temp_coeff_v_per_k = 0;
        const mc::Chip chip = mc::sample_chip(f.model, analog, card, at25, tiles, 5, 0, 0);
        REQUIRE(mc::read_unit_current_a(card, at25, chip.layers[0].mapping.params) == Approx(card.levels.unit_current_a).epsilon(1e-12));
        REQUIRE(mc::read_unit_current_a(card, hot_fixed, chip.layers[0].mapping.params) == card.levels.unit_current_a);
        auto weights = [&](const mc::ChipSettings& st) { return mc::StaticMvm(f.model, chip, card, st, false).weights(); };
        const auto w25 = weights(at25), w85 = weights(hot);
        // I_k ∝ exp(u_k), u_k − u_L = ln(k/L) at T_v, scaled by T_v/T at T; the reference at
        // L = 7 takes out I_0(T) and the V_DS factor: w_k(T)/w_k(T_v) = (k/7)^(T_v/T − 1).
        for (int k : {1, 3, 7}) REQUIRE(mean_ratio(chip, w85, w25, k) == Approx(std::pow(k / 7.0, tv / t - 1.0)).epsilon(0.03));
    }
    SECTION("the card's V_th(T): gain without tracking, cells near moderate inversion compress further") {
        const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, at25, tiles, 5, 0, 0);
        const auto w25 = f.weights(chip, at25), w85 = f.weights(chip, hot), w85_fixed = f.weights(chip, hot_fixed);
        const double common = heating(f.card, 7);
        REQUIRE(common > 1.5);  // a gain error no 4-bit network survives
        for (int k : {1, 3, 7}) {
            const double expected = heating(f.card, k) / common;
            CAPTURE(k, expected);
            REQUIRE(mean_ratio(chip, w85, w25, k) == Approx(expected).epsilon(0.03));
            REQUIRE(mean_ratio(chip, w85_fixed, w25, k) == Approx(expected * common).epsilon(0.03));
        }
        REQUIRE(heating(f.card, 1) / common > std::pow(1.0 / 7.0, tv / t - 1.0));  // more than the deep-subthreshold law
    }
}

TEST_CASE("a tracking reference ages with the median charge loss", "[mc][chip]") {
    Fixture f;
    device::Card card = f.card;
    card.retention.beta_sigma_ln = 0;  // every cell loses the median fraction
    card.retention.tail_fraction = 0;
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings fresh, baked;
    baked.retention_time_s = 10 * 3.156e7;  // 10 years at 85 °C
    baked.retention_temperature_c = 85;
    mc::ChipSettings baked_fixed = baked;
    baked_fixed.read_reference = mc::ReadReference::fixed;
    const array::MappingParams tiles;
    const mc::Chip c0 = mc::sample_chip(f.model, analog, card, fresh, tiles, 9, 0, 0);
    const mc::Chip c1 = mc::sample_chip(f.model, analog, card, baked, tiles, 9, 0, 0);
    auto w = [&](const mc::Chip& c, const mc::ChipSettings& st) { return mc::StaticMvm(f.model, c, card, st, false).weights(); };
    const auto w0 = w(c0, fresh), w1 = w(c1, baked), w1f = w(c1, baked_fixed);
    // Top-level cells (±7) lose as much charge as the reference: their weights stay, up to the
    // slope-factor spread; untracked, they read the full drift, I ∝ exp(ΔV/(n V_T)).
    const double vth7 = device::level_targets(card.iv, card.levels, 25.0).vth_v(7, card.iv.slope_n);
    const double t_eq = device::acceleration_factor(card.retention, 85.0) * baked.retention_time_s;
    const double dv = -device::retention_shift_v(vth7, card.retention.neutral_vth_v, card.retention.beta_median, t_eq,
                                                card.retention.tau0_s);
    REQUIRE(dv > 0.01);  // > 10 mV of charge loss
    double tracked = 0, fixed = 0;
    int n = 0;
    for (std::size_t s = 0; s < c0.layers.size(); ++s) {
        const auto& q = f.model.nodes[static_cast<std::size_t>(c0.layers[s].node)];
        for (std::size_t i = 0; i < q.codes.size(); ++i)
            if (std::abs(q.codes[i]) == 7) tracked += w1[s][i] / w0[s][i], fixed += w1f[s][i] / w0[s][i], ++n;
    }
    REQUIRE(n >= 5);
    REQUIRE(tracked / n == Approx(1.0).epsilon(0.02));
    REQUIRE(fixed / n == Approx(std::exp(dv / (card.iv.slope_n * units::thermal_voltage_v(25.0)))).epsilon(0.03));
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
// Ideal array settings on 16 × 10 tiles, so that layers span several row and column tiles.
mc::ArraySettings small_tiles(const char* mapping, const char* encoding) {
    mc::ArraySettings arr;
    arr.analog.mapping.tile_rows = 16;
    arr.analog.mapping.tile_cols = 10;
    arr.analog.mapping.mapping = array::parse_weight_mapping(mapping);
    arr.analog.encoding = array::parse_input_encoding(encoding);
    return arr;
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
            mc::ArraySettings arr = small_tiles(mapping, encoding);
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

TEST_CASE("array path: conversion noise is the same on the panel and the per-vector paths, keyed by image", "[mc][chip][array][noise]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    const mc::ChipSettings verify;
    for (const char* mapping : {"differential", "offset"})
        for (const char* encoding : {"pulse_width", "bit_serial"}) {
            CAPTURE(mapping, encoding);
            mc::ArraySettings ideal = small_tiles(mapping, encoding);
            const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, verify, ideal.analog.mapping, 5, 0, 0);
            const auto ref = node_products(f.model, analog, f.images.data(), 4, mc::ArrayMvm(f.model, chip, f.card, verify, ideal, nullptr, false));
            mc::ArraySettings panel = ideal;  // conv layers on the panel GEMM
            panel.analog.read_window_s = 1e-8;
            REQUIRE_FALSE(panel.is_static());
            mc::ArraySettings vectors = panel;  // every layer per input vector (fast IR path, ideal wires)
            vectors.analog.ir = array::IrModel::fast;
            vectors.analog.wires = {0.0, 0.0};
            mc::ArrayMvm a(f.model, chip, f.card, verify, panel, nullptr, false), b(f.model, chip, f.card, verify, vectors, nullptr, false);
            b.set_panel_ir(false);
            a.begin_batch(100), b.begin_batch(100);
            const auto pa = node_products(f.model, analog, f.images.data(), 4, a);
            const auto pb = node_products(f.model, analog, f.images.data(), 4, b);
            a.begin_batch(104);
            const auto pc = node_products(f.model, analog, f.images.data(), 4, a);
            a.begin_batch(100);
            const auto pa2 = node_products(f.model, analog, f.images.data(), 4, a);
            for (std::size_t l = 0; l < pa.size(); ++l) {
                CAPTURE(l);
                REQUIRE(max_rel_diff(pb[l], pa[l]) < 1e-4);  // the same draws; only the GEMMs' rounding differs
                REQUIRE(pa2[l].data == pa[l].data);           // the same images, the same noise
                REQUIRE(pc[l].data != pa[l].data);            // other images, other noise
                // A 10 ns window at nanoamperes: a few hundred electrons per cell, percent-level noise.
                REQUIRE(max_rel_diff(pa[l], ref[l]) > 1e-3);
                REQUIRE(max_rel_diff(pa[l], ref[l]) < 0.3);
            }
        }
}

TEST_CASE("array path: IR drop on the conv panel gives the per-vector path's products", "[mc][chip][array][ir]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    const mc::ChipSettings verify;
    for (const char* mapping : {"differential", "offset"})
        for (const char* encoding : {"pulse_width", "bit_serial"}) {
            CAPTURE(mapping, encoding);
            mc::ArraySettings s = small_tiles(mapping, encoding);
            s.analog.ir = array::IrModel::fast;
            s.analog.wires = {200.0, 200.0};
            s.analog.read_window_s = 1e-8;  // conversion noise: the column sums and the keys too
            s.read_noise = mc::ReadNoise::per_batch;
            const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, verify, s.analog.mapping, 5, 0, 0);
            const auto ideal = [&] {  // the same read without wires
                mc::ArraySettings none = s;
                none.analog.ir = array::IrModel::none, none.analog.wires = {};
                mc::ArrayMvm m(f.model, chip, f.card, verify, none, nullptr, false);
                m.begin_batch(7);
                return node_products(f.model, analog, f.images.data(), 3, m);
            }();
            int identical = 0;
            for (auto model : {array::FastIrModel::linear, array::FastIrModel::automatic}) {
                CAPTURE(array::to_string(model));
                s.analog.fast.model = model;
                mc::ArrayMvm panel(f.model, chip, f.card, verify, s, nullptr, false), vectors(f.model, chip, f.card, verify, s, nullptr, false);
                vectors.set_panel_ir(false);
                panel.begin_batch(7), vectors.begin_batch(7);
                const auto pa = node_products(f.model, analog, f.images.data(), 3, panel);
                const auto pb = node_products(f.model, analog, f.images.data(), 3, vectors);
                for (std::size_t l = 0; l < pa.size(); ++l) {
                    CAPTURE(l);
                    REQUIRE(max_rel_diff(pa[l], ideal[l]) > 1e-5);  // the drop is there
                    // Pulse width, unsigned inputs: the same bits. Bit-serial inputs and signed ones
                    // (two reads, x⁺ and x⁻) on several row tiles: the panel sums the conversions cycle
                    // by cycle and read by read, the per-vector path tile by tile (rounding only).
                    const auto& q = f.model.nodes[static_cast<std::size_t>(analog[l])];
                    if (std::string(encoding) == "pulse_width" && !f.model.output_signed(q.inputs[0])) {
                        REQUIRE(pa[l].data == pb[l].data);
                        ++identical;
                    } else {
                        REQUIRE(max_rel_diff(pa[l], pb[l]) < 1e-6);
                    }
                }
            }
            if (std::string(encoding) == "pulse_width") REQUIRE(identical >= 2);
        }
    // Beyond the linear model's range the panel hands the image to the per-vector path, which stops
    // the run naming the layer once and the tile.
    mc::ArraySettings heavy = small_tiles("differential", "pulse_width");
    heavy.analog.ir = array::IrModel::fast;
    heavy.analog.wires = {15000.0, 15000.0};
    const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, verify, heavy.analog.mapping, 5, 0, 0);
    Tensor logits, out;
    std::vector<Tensor> trace;
    f.model.forward(f.images.data(), 2, logits, &trace);
    const auto& q = f.model.nodes[static_cast<std::size_t>(analog[1])];
    const mc::ArrayMvm linear(f.model, chip, f.card, verify, heavy, nullptr, false);
    std::string message;
    try {
        linear.accumulate(analog[1], q, trace[static_cast<std::size_t>(q.inputs[0])], out);
    } catch (const Error& e) {
        message = e.what();
    }
    INFO(message);
    REQUIRE(message.find("of its current to IR drop") != std::string::npos);
    REQUIRE(message.rfind("layer ", 0) == 0);
    REQUIRE(message.find(": tile ") != std::string::npos);
    REQUIRE(message.find("layer ", 1) == std::string::npos);
}

TEST_CASE("array path: the exact ladder solver runs in the engine and the fast model tracks it", "[mc][chip][array][ir]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    const mc::ChipSettings verify;
    mc::ArraySettings s;
    s.analog.mapping.tile_rows = 32;
    s.analog.wires = {50.0, 50.0};
    const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, verify, s.analog.mapping, 5, 0, 0);
    // Bit-serial planes are 0/1 inputs, where the fast model's only error is its O(a²) truncation;
    // pulse widths add the mean-field overlap of the pulses (docs/array.md §4: a few % to ~15 % of the drop).
    for (auto enc : {array::InputEncoding::bit_serial, array::InputEncoding::pulse_width}) {
        s.analog.encoding = enc;
        mc::ArraySettings ideal = s;
        ideal.analog.wires = {};
        ideal.analog.ir = array::IrModel::none;
        const auto ref = node_products(f.model, analog, f.images.data(), 2, mc::ArrayMvm(f.model, chip, f.card, verify, ideal, nullptr, false));
        s.analog.ir = array::IrModel::exact;
        const auto exact = node_products(f.model, analog, f.images.data(), 2, mc::ArrayMvm(f.model, chip, f.card, verify, s, nullptr, false));
        s.analog.ir = array::IrModel::fast;
        s.analog.fast.model = array::FastIrModel::feedback;
        const auto fast = node_products(f.model, analog, f.images.data(), 2, mc::ArrayMvm(f.model, chip, f.card, verify, s, nullptr, false));
        const double bound = enc == array::InputEncoding::bit_serial ? 0.02 : 0.25;
        for (std::size_t l = 0; l < ref.size(); ++l) {
            const double drop = max_rel_diff(exact[l], ref[l]), model = max_rel_diff(fast[l], exact[l]);
            INFO(array::to_string(enc) << ", layer " << l << ": IR drop effect " << drop << ", fast vs exact " << model);
            REQUIRE(drop > 1e-6);             // the drop is there
            REQUIRE(model < bound * drop);    // and the fast model accounts for it
        }
    }
    const auto exact = [&] {
        s.analog.ir = array::IrModel::exact;
        return node_products(f.model, analog, f.images.data(), 2, mc::ArrayMvm(f.model, chip, f.card, verify, s, nullptr, false));
    }();
    // Wires so resistive that the feedback model refuses: auto takes the exact solver there (and
    // feedback inside its range), so it stays within 1 % of the exact products everywhere.
    {
        mc::ArraySettings heavy = s;
        heavy.analog.encoding = array::InputEncoding::bit_serial;
        heavy.analog.wires = {15000.0, 15000.0};  // conv1's first-order drop ~21 %
        heavy.analog.ir = array::IrModel::exact;
        const auto ex = node_products(f.model, analog, f.images.data(), 2, mc::ArrayMvm(f.model, chip, f.card, verify, heavy, nullptr, false));
        heavy.analog.ir = array::IrModel::fast;
        heavy.analog.fast.model = array::FastIrModel::feedback;
        {
            Tensor logits, out;
            std::vector<Tensor> trace;
            f.model.forward(f.images.data(), 2, logits, &trace);
            const auto& q = f.model.nodes[static_cast<std::size_t>(analog[0])];
            const mc::ArrayMvm feedback(f.model, chip, f.card, verify, heavy, nullptr, false);
            REQUIRE_THROWS_WITH(feedback.accumulate(analog[0], q, trace[static_cast<std::size_t>(q.inputs[0])], out),
                                Catch::Contains("IR drop"));
        }
        heavy.analog.fast.model = array::FastIrModel::automatic;
        const auto au = node_products(f.model, analog, f.images.data(), 2, mc::ArrayMvm(f.model, chip, f.card, verify, heavy, nullptr, false));
        for (std::size_t l = 0; l < ex.size(); ++l) {
            CAPTURE(l);
            REQUIRE(max_rel_diff(au[l], ex[l]) < 0.01);
        }
    }
    // A fresh noisy read per batch reaches the solver too.
    s.analog.ir = array::IrModel::exact;
    s.read_noise = mc::ReadNoise::per_batch;
    mc::ArrayMvm m(f.model, chip, f.card, verify, s, nullptr, false);
    m.begin_batch(0);
    const auto noisy = node_products(f.model, analog, f.images.data(), 2, m);
    REQUIRE(max_rel_diff(noisy[0], exact[0]) > 0);
    REQUIRE(max_rel_diff(noisy[0], exact[0]) < 0.05);
    {
        // Without wires the exact solver reads the same noisy cells as the ideal path does: each
        // conducts f·I_D at V_th + its RTN shift (not an approximation of the current factor).
        mc::ArraySettings z = s;
        z.analog.wires = {};
        mc::ArraySettings none = z;
        none.analog.ir = array::IrModel::none;
        mc::ArrayMvm a(f.model, chip, f.card, verify, z, nullptr, false), b(f.model, chip, f.card, verify, none, nullptr, false);
        a.begin_batch(4), b.begin_batch(4);
        const auto pa = node_products(f.model, analog, f.images.data(), 2, a), pb = node_products(f.model, analog, f.images.data(), 2, b);
        for (std::size_t l = 0; l < pa.size(); ++l) {
            CAPTURE(l);
            REQUIRE(max_rel_diff(pa[l], pb[l]) < 1e-5);
        }
    }
    std::size_t tiles = 0;
    for (const auto& l : chip.layers) tiles += l.tiles.size();
    REQUIRE(m.cells_built() == static_cast<int>(tiles));
    // Auto with a noisy read: inside the fast models' range no tile's cells are built; beyond it the
    // tiles that need the exact solver get the same noisy read as it (within 1 % of ir = exact).
    mc::ArraySettings au = s;
    au.analog.ir = array::IrModel::fast;
    au.analog.fast.model = array::FastIrModel::automatic;
    {
        mc::ArrayMvm light(f.model, chip, f.card, verify, au, nullptr, false);
        light.begin_batch(0);
        node_products(f.model, analog, f.images.data(), 2, light);
        REQUIRE(light.cells_built() == 0);
    }
    au.analog.wires = s.analog.wires = {15000.0, 15000.0};
    au.analog.encoding = s.analog.encoding = array::InputEncoding::bit_serial;
    mc::ArrayMvm hx(f.model, chip, f.card, verify, s, nullptr, false), ha(f.model, chip, f.card, verify, au, nullptr, false);
    std::vector<Tensor> first;
    for (std::uint64_t batch : {0, 2}) {
        hx.begin_batch(batch), ha.begin_batch(batch);
        const auto ex = node_products(f.model, analog, f.images.data(), 2, hx);
        const auto a = node_products(f.model, analog, f.images.data(), 2, ha);
        CAPTURE(batch, ha.cells_built());
        REQUIRE(ha.cells_built() > 0);
        REQUIRE(ha.cells_built() < hx.cells_built());
        for (std::size_t l = 0; l < ex.size(); ++l) {
            CAPTURE(l);
            REQUIRE(max_rel_diff(a[l], ex[l]) < 0.01);
        }
        // Each read's cells are that read's: after batch 0, batch 2's products are those of an
        // engine that only ever read batch 2.
        if (batch == 0) first = ex;
        if (batch == 2) {
            mc::ArrayMvm only2(f.model, chip, f.card, verify, s, nullptr, false);
            only2.begin_batch(2);
            const auto o = node_products(f.model, analog, f.images.data(), 2, only2);
            for (std::size_t l = 0; l < ex.size(); ++l) REQUIRE(max_rel_diff(o[l], ex[l]) == 0.0);
            REQUIRE(max_rel_diff(first[0], ex[0]) > 0.0);  // and it is another read than batch 0's
        }
    }
}

namespace {
// Every error source of the card off: no variation, exact open-loop placement, no read noise.
device::Card zero_error_card(device::Card c) {
    c.variation.sigma_vth_v = c.variation.sigma_slope_n = c.variation.sigma_vth_tile_v = c.variation.sigma_vth_column_v = 0;
    c.program.efficiency_sigma = 0;
    c.program.injection_fano = 0;
    c.read_noise.rtn_traps_mean = 0;
    c.read_noise.current_sigma_rel = 0;
    return c;
}
}  // namespace

TEST_CASE("zero-error chips: effective weights are the codes to float precision, or carry the off current when it is ignored", "[mc][chip]") {
    Fixture f;
    const device::Card card = zero_error_card(f.card);
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings ideal;
    ideal.program = mc::ProgramMode::open_loop;
    for (const char* mapping : {"differential", "offset"})
        for (auto reference : {mc::ReadReference::tracking, mc::ReadReference::fixed}) {
            CAPTURE(mapping, reference == mc::ReadReference::fixed);
            array::MappingParams tiles;
            tiles.tile_rows = 16;
            tiles.tile_cols = 10;
            tiles.mapping = array::parse_weight_mapping(mapping);
            for (auto off : {device::OffCurrent::compensated, device::OffCurrent::ignored}) {
                mc::ChipSettings s = ideal;
                s.read_reference = reference;
                s.off_current = off;
                const mc::Chip chip = mc::sample_chip(f.model, analog, card, s, tiles, 4, 0, 0);
                const auto w = f.weights(chip, s);
                // Ignored: a (k, 0) pair reads k − I_off/I_unit, −0.6 % of a unit on nor40_cim.
                const double i_off = device::level_targets(card.iv, card.levels, 25.0).current_a[0];
                const double offset = off == device::OffCurrent::ignored ? i_off / card.levels.unit_current_a : 0.0;
                REQUIRE(i_off / card.levels.unit_current_a == Approx(0.006).epsilon(0.1));
                // Cells store V_th as float: half an ulp at 1–2 V is 6e-8 V, a relative current error
                // of 6e-8/(n·V_T) = 1.6e-6 per cell, so a difference of levels a and b is exact to
                // (a + b)·1.6e-6 units; the off current's 6e-3 is 400× above that at the largest level.
                const double per_level = 0.5 * 0x1p-23 / (card.iv.slope_n * units::thermal_voltage_v(25.0));
                double worst = 0;
                for (std::size_t l = 0; l < chip.layers.size(); ++l) {
                    const auto& q = f.model.nodes[static_cast<std::size_t>(chip.layers[l].node)];
                    for (std::size_t i = 0; i < q.codes.size(); ++i) {
                        const int c = q.codes[i];
                        // Differential: w − I_off·sign(w); offset mapping: every cell but level 0 carries I_off,
                        // as does the reference at w_max, so only w = −w_max (level 0) reads w + I_off.
                        const int wmax = (1 << (card.levels.weight_bits - 1)) - 1;
                        const bool diff = tiles.mapping == array::WeightMapping::differential;
                        const double expect = diff ? c - offset * (c > 0) + offset * (c < 0) : c + offset * (c == -wmax);
                        const double levels = diff ? std::abs(c) : (c + wmax) + wmax;
                        worst = std::max(worst, std::abs(w[l][i] - expect) / (levels * per_level + 1e-7));
                    }
                }
                INFO(worst);
                REQUIRE(worst <= 1.0);
            }
        }
}

TEST_CASE("a zero-error chip reproduces the digital model exactly, on the static and the array path", "[mc][chip][array]") {
    Fixture f;
    const device::Card card = zero_error_card(f.card);
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings ideal;
    ideal.program = mc::ProgramMode::open_loop;
    for (const char* mapping : {"differential", "offset"})
        for (const char* encoding : {"pulse_width", "bit_serial"}) {
            CAPTURE(mapping, encoding);
            mc::ArraySettings arr = small_tiles(mapping, encoding);
            arr.read_noise = mc::ReadNoise::per_batch;  // a fresh read per batch, with zero noise
            const mc::Chip chip = mc::sample_chip(f.model, analog, card, ideal, arr.analog.mapping, 5, 0, 0);
            mc::StaticMvm stat(f.model, chip, card, ideal, true);
            mc::ArrayMvm arrm(f.model, chip, card, ideal, arr, nullptr, false);
            arrm.begin_batch(0);
            // Accumulators within rounding of the integers, so every requantized code (and residual sum)
            // is exact, and the logits (the last layer's unrounded accumulators) agree to float rounding.
            Tensor ld, ls, la;
            std::vector<Tensor> td, ts, ta;
            f.model.forward(f.images.data(), 16, ld, &td);
            f.model.forward(f.images.data(), 16, ls, &ts, &stat);
            f.model.forward(f.images.data(), 16, la, &ta, &arrm);
            for (std::size_t i = 0; i < f.model.nodes.size(); ++i) {
                const auto op = f.model.nodes[i].op;
                if (op != nn::QNode::Op::Requant && op != nn::QNode::Op::Add) continue;
                CAPTURE(f.model.nodes[i].name);
                REQUIRE(ts[i].data == td[i].data);
                REQUIRE(ta[i].data == td[i].data);
            }
            for (int b = 0; b < 16; ++b) {
                auto argmax = [](const Tensor& t, int i) { return std::max_element(t.image(i), t.image(i) + t.c()) - t.image(i); };
                REQUIRE(argmax(ls, b) == argmax(ld, b));
                REQUIRE(argmax(la, b) == argmax(ld, b));
            }
            REQUIRE(max_rel_diff(ls, ld) < 1e-5);
            REQUIRE(max_rel_diff(la, ld) < 1e-5);
        }
}

TEST_CASE("column calibration: a bit line's common gain and offset go exactly, per-cell errors remain", "[mc][chip]") {
    // m_r = γ·k_r + δ (a gain and offset common to the bit line): the two calibration sums recover k.
    Stream r = Streams(41).at({1});
    std::vector<std::uint8_t> k(128);
    for (auto& v : k) v = static_cast<std::uint8_t>(r.below(8));
    std::vector<double> m(k.size());
    for (std::size_t i = 0; i < k.size(); ++i) m[i] = 0.83 * k[i] + 0.37;
    const auto calibrate = [](std::vector<double>& v, const std::vector<std::uint8_t>& levels) {
        const mc::BitLineTrim t = mc::fit_bit_line(v, levels);
        for (double& x : v) x = t.trim(x);
    };
    calibrate(m, k);
    for (std::size_t i = 0; i < k.size(); ++i) REQUIRE(m[i] == Approx(k[i]).margin(1e-12));
    // With per-cell errors on top, the fit takes out the common part: the calibrated error is the
    // per-cell error (σ 0.05), not the gain's (up to 0.17·7).
    double raw2 = 0, cal2 = 0;
    for (std::size_t i = 0; i < k.size(); ++i) m[i] = 0.83 * k[i] + 0.37 + 0.05 * r.normal(), raw2 += std::pow(m[i] - k[i], 2);
    calibrate(m, k);
    for (std::size_t i = 0; i < k.size(); ++i) cal2 += std::pow(m[i] - k[i], 2);
    REQUIRE(std::sqrt(cal2 / k.size()) < 0.08);
    REQUIRE(std::sqrt(raw2 / k.size()) > 0.4);
    // All levels equal: gain and offset cannot be told apart; the bit line stays as read.
    std::vector<std::uint8_t> flat(16, 3);
    std::vector<double> fm(16, 2.0), before = fm;
    REQUIRE_FALSE(mc::fit_bit_line(fm, flat).fitted);
    calibrate(fm, flat);
    REQUIRE(fm == before);
}

TEST_CASE("guarded column calibration: a bit line whose fit an outlier cell pulls takes the tile's median trim", "[mc][chip]") {
    // 16 bit lines of 64 cells, m = 1.05·k + 0.02 (a common gain and offset) plus per-cell noise;
    // bit line 5 holds one cell of the retention tail reading 40 weight units at level 1.
    constexpr int rows = 64, cols = 16;
    Stream r = Streams(42).at({1});
    std::vector<std::uint8_t> k(rows * cols);
    std::vector<double> m(k.size());
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(r.below(8)), m[i] = 1.05 * k[i] + 0.02 + 0.01 * r.normal();
    const std::size_t bad = 5 * rows + 7;
    k[bad] = 1, m[bad] = 40.0;
    const auto own = mc::fit_tile_trims(m, k, rows, cols, mc::ColumnCalibration::gain_offset);
    const auto guarded = mc::fit_tile_trims(m, k, rows, cols, mc::ColumnCalibration::gain_offset_guarded);
    REQUIRE(mc::fit_tile_trims(m, k, rows, cols, mc::ColumnCalibration::none).empty());
    REQUIRE(own.size() == cols);
    INFO("bit line 5's own fit: gain " << own[5].gain << ", offset " << own[5].offset);
    REQUIRE(own[5].fitted);
    REQUIRE(own[5].gain < 1.05 / mc::kGuardGainRatio);  // pulled far off: the trim would scale every cell of the line
    for (int c = 0; c < cols; ++c) {
        REQUIRE(guarded[c].fitted);
        if (c == 5) continue;
        REQUIRE(own[c].gain == Approx(1.05).margin(0.01));
        REQUIRE(guarded[c].gain == own[c].gain);  // plausible fits are kept as they are
        REQUIRE(guarded[c].offset == own[c].offset);
    }
    // A fit pulled above the median (an outlier cell at a high level, in both sums) is kept: it
    // shrinks the outlier with the rest of the line.
    std::vector<double> m2 = m;
    std::vector<std::uint8_t> k2 = k;
    const std::size_t high = 9 * rows + 3;
    k2[bad] = 1, m2[bad] = 1.05 + 0.02;
    k2[high] = 7, m2[high] = 200.0;
    const auto own_high = mc::fit_tile_trims(m2, k2, rows, cols, mc::ColumnCalibration::gain_offset);
    const auto guarded_high = mc::fit_tile_trims(m2, k2, rows, cols, mc::ColumnCalibration::gain_offset_guarded);
    REQUIRE(own_high[9].gain > 1.05 * mc::kGuardGainRatio);
    REQUIRE(guarded_high[9].gain == own_high[9].gain);
    // Bit line 5 takes the median of the others' fits: its other cells come out at their levels.
    REQUIRE(guarded[5].gain == Approx(1.05).margin(0.01));
    REQUIRE(std::abs(guarded[5].offset - 0.02) < 0.02);
    double own2 = 0, guarded2 = 0;
    for (int i = 0; i < rows; ++i) {
        const std::size_t at = 5 * rows + static_cast<std::size_t>(i);
        if (at == bad) continue;
        REQUIRE(std::abs((m[at] - guarded[5].offset) / guarded[5].gain - k[at]) < 0.1);
        own2 += std::pow((m[at] - own[5].offset) / own[5].gain - k[at], 2);
        guarded2 += std::pow((m[at] - guarded[5].offset) / guarded[5].gain - k[at], 2);
    }
    INFO("RMS level error of bit line 5's other cells: own fit " << std::sqrt(own2 / (rows - 1)) << ", guarded " << std::sqrt(guarded2 / (rows - 1)));
    REQUIRE(std::sqrt(own2 / (rows - 1)) > 0.5);  // what the line's own fit does to them
    REQUIRE(std::sqrt(guarded2 / (rows - 1)) < 0.05);
}

TEST_CASE("column calibration on a chip: read at 85 °C against a fixed reference, the calibrated weights are closer to the codes", "[mc][chip]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    const array::MappingParams tiles;
    mc::ChipSettings hot;
    hot.read_temperature_c = 85.0;
    hot.read_reference = mc::ReadReference::fixed;  // the periphery does not follow the common gain
    const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, hot, tiles, 3, 0, 0);
    mc::ChipSettings calibrated = hot;
    calibrated.column_calibration = mc::ColumnCalibration::gain_offset;
    auto rms_error = [&](const mc::ChipSettings& s) {
        double e2 = 0;
        long n = 0;
        for (const auto& l : chip.layers) {
            const FloatVec w = mc::effective_weights(l, f.card, s);
            const auto& codes = f.model.nodes[static_cast<std::size_t>(l.node)].codes;
            for (std::size_t i = 0; i < w.size(); ++i) e2 += std::pow(w[i] - codes[i], 2), ++n;
        }
        return std::sqrt(e2 / static_cast<double>(n));
    };
    const double raw = rms_error(hot), cal = rms_error(calibrated);
    INFO("RMS weight error, raw " << raw << ", calibrated " << cal);
    REQUIRE(cal < 0.5 * raw);
    // The array path trims its bit lines only where it reads their sums exactly, and says so.
    mc::ArraySettings arr;
    arr.analog.adc.bits = 8;
    REQUIRE_THROWS_WITH(mc::ArrayMvm(f.model, chip, f.card, calibrated, arr, nullptr, false),
                        Catch::Contains("column_calibration = \"gain-offset\" needs bit-line sums read exactly"));
    arr.analog.adc.bits = 0;
    arr.analog.ir = array::IrModel::fast;
    arr.analog.wires = {1.0, 1.0};
    REQUIRE_THROWS_WITH(mc::ArrayMvm(f.model, chip, f.card, calibrated, arr, nullptr, false),
                        Catch::Contains("no IR drop"));
}

TEST_CASE("column calibration on the array path: the static path's trims without read noise, a calibration read's with it", "[mc][chip][array]") {
    Fixture f;
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings hot;
    hot.read_temperature_c = 85.0;
    hot.read_reference = mc::ReadReference::fixed;  // a common gain per bit line for the trims to take out
    mc::ChipSettings calibrated = hot;
    calibrated.column_calibration = mc::ColumnCalibration::gain_offset;
    // Without read noise: the same trims and products as the static path (several row and column tiles).
    for (const char* mapping : {"differential", "offset"}) {
        CAPTURE(mapping);
        const mc::ArraySettings arr = small_tiles(mapping, "pulse_width");
        const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, hot, arr.analog.mapping, 3, 0, 0);
        const auto a = node_products(f.model, analog, f.images.data(), 8, mc::StaticMvm(f.model, chip, f.card, calibrated, false));
        const auto b = node_products(f.model, analog, f.images.data(), 8, mc::ArrayMvm(f.model, chip, f.card, calibrated, arr, nullptr, false));
        const auto raw = node_products(f.model, analog, f.images.data(), 8, mc::ArrayMvm(f.model, chip, f.card, hot, arr, nullptr, false));
        for (std::size_t l = 0; l < a.size(); ++l) {
            REQUIRE(max_rel_diff(b[l], a[l]) < 1e-5);
            REQUIRE(max_rel_diff(raw[l], a[l]) > 1e-3);  // the trims did something
        }
    }
    // With per-batch read noise: every read keeps the trims of one calibration read, so the hot
    // read's common gain goes and the read-to-read noise stays; the same batch reads the same.
    mc::ArraySettings noisy;
    noisy.analog.mapping.tile_rows = 32;
    noisy.read_noise = mc::ReadNoise::per_batch;
    const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, hot, noisy.analog.mapping, 3, 0, 0);
    std::vector<FloatVec> codes;
    for (int node : analog) {
        const auto& c = f.model.nodes[static_cast<std::size_t>(node)].codes;
        codes.emplace_back(c.begin(), c.end());
    }
    const auto digital = node_products(f.model, analog, f.images.data(), 8, mc::StaticMvm(f.model, analog, codes, false));
    auto rms_error = [&](const std::vector<Tensor>& p) {
        double e2 = 0, d2 = 0;
        for (std::size_t l = 0; l < p.size(); ++l)
            for (std::size_t i = 0; i < p[l].size(); ++i)
                e2 += std::pow(p[l].data[i] - digital[l].data[i], 2), d2 += std::pow(digital[l].data[i], 2);
        return std::sqrt(e2 / d2);
    };
    mc::ArrayMvm raw(f.model, chip, f.card, hot, noisy, nullptr, false), cal(f.model, chip, f.card, calibrated, noisy, nullptr, false);
    raw.begin_batch(50), cal.begin_batch(50);
    const auto pr = node_products(f.model, analog, f.images.data(), 8, raw);
    const auto pc = node_products(f.model, analog, f.images.data(), 8, cal);
    INFO("RMS product error, raw " << rms_error(pr) << ", calibrated " << rms_error(pc));
    REQUIRE(rms_error(pc) < 0.5 * rms_error(pr));
    cal.begin_batch(100);
    const auto pc1 = node_products(f.model, analog, f.images.data(), 8, cal);
    cal.begin_batch(50);
    const auto pc0 = node_products(f.model, analog, f.images.data(), 8, cal);
    REQUIRE(pc0[0].data == pc[0].data);
    REQUIRE(pc1[0].data != pc[0].data);
    // The static path's noisy effective weights (the device-aware training tables) trim a read
    // the same way: the batch at image 50 is the read keyed 51.
    std::vector<FloatVec> noisy_weights;
    for (const auto& l : chip.layers) noisy_weights.push_back(mc::effective_weights(l, f.card, calibrated, device::Noise::on, 51));
    const auto ps = node_products(f.model, analog, f.images.data(), 8, mc::StaticMvm(f.model, analog, noisy_weights, false));
    for (std::size_t l = 0; l < ps.size(); ++l) REQUIRE(max_rel_diff(ps[l], pc[l]) < 1e-5);
}

TEST_CASE("column calibration over K noisy calibration reads: the fit of their mean, its noise variance down by K", "[mc][chip][array]") {
    Fixture f;
    f.card.read_noise.rtn_amplitude_mean_v = 0.01;  // RTN as experiments/device_aware/rtn10.toml
    const auto analog = mc::analog_nodes(f.model, {});
    mc::ChipSettings calibrated;
    calibrated.read_temperature_c = 85.0;
    calibrated.read_reference = mc::ReadReference::fixed;
    calibrated.column_calibration = mc::ColumnCalibration::gain_offset;
    mc::ChipSettings averaged = calibrated;
    averaged.calibration_reads = 4;
    mc::ArraySettings noisy;
    noisy.analog.mapping.tile_rows = 32;
    noisy.read_noise = mc::ReadNoise::per_batch;
    const mc::Chip chip = mc::sample_chip(f.model, analog, f.card, calibrated, noisy.analog.mapping, 3, 0, 0);
    // Both paths average the same reads: the array path's batch at image 50 is the static path's
    // read keyed 51; one calibration read trims differently from four.
    mc::ArrayMvm arr(f.model, chip, f.card, averaged, noisy, nullptr, false);
    arr.begin_batch(50);
    const auto pa = node_products(f.model, analog, f.images.data(), 8, arr);
    std::vector<FloatVec> w4, w1;
    for (const auto& l : chip.layers) {
        w4.push_back(mc::effective_weights(l, f.card, averaged, device::Noise::on, 51));
        w1.push_back(mc::effective_weights(l, f.card, calibrated, device::Noise::on, 51));
    }
    const auto ps = node_products(f.model, analog, f.images.data(), 8, mc::StaticMvm(f.model, analog, w4, false));
    for (std::size_t l = 0; l < ps.size(); ++l) REQUIRE(max_rel_diff(ps[l], pa[l]) < 1e-5);
    REQUIRE(w4 != w1);
    // The keys: the first is the single read's, the others distinct and far from every batch's
    // (first image + 1).
    REQUIRE(mc::calibration_read_key(0) == mc::kCalibrationReadKey);
    std::set<std::uint64_t> keys;
    for (int k = 0; k < 64; ++k) keys.insert(mc::calibration_read_key(k));
    REQUIRE(keys.size() == 64);
    for (int k = 1; k < 64; ++k) REQUIRE(mc::calibration_read_key(k) > (std::uint64_t{1} << 62));
    // effective_weights' averaging rebuilt from its definition for every layer (differential
    // pairs): the four reads keyed calibration_read_key(0..3) summed in double, their mean in weight
    // units fitted per bit line, the read keyed 51 trimmed with it: the same bits.
    const device::ReadConditions hot_read = device::read_conditions(f.card, 85.0);
    for (std::size_t l = 0; l < chip.layers.size(); ++l) {
        const mc::LayerCells& layer = chip.layers[l];
        const array::LayerMapping& m = layer.mapping;
        REQUIRE(m.params.mapping == array::WeightMapping::differential);
        const double inv_unit = 1.0 / mc::read_unit_current_a(f.card, averaged, m.params);
        FloatVec w(w4[l].size());
        std::vector<float> current;
        for (std::size_t t = 0; t < m.tiles.size(); ++t) {
            const array::TilePlacement& p = m.tiles[t];
            const Streams streams = layer.tile_streams(static_cast<int>(t));
            std::vector<double> cal(layer.tiles[t].size(), 0.0), units;
            for (int k = 0; k < 4; ++k) {
                device::read_currents_a(f.card, layer.tiles[t], hot_read, device::Noise::on, streams, mc::calibration_read_key(k), current);
                for (std::size_t i = 0; i < cal.size(); ++i) cal[i] += current[i];
            }
            for (double& v : cal) v = v / 4 * inv_unit;
            const auto trims = mc::fit_tile_trims(cal, layer.levels[t], p.rows, p.cols, mc::ColumnCalibration::gain_offset);
            device::read_currents_a(f.card, layer.tiles[t], hot_read, device::Noise::on, streams, 51, current);
            for (float v : current) units.push_back(v * inv_unit);
            auto cell = [&](int c, int r) { return trims[static_cast<std::size_t>(c)].trim(units[static_cast<std::size_t>(c) * p.rows + r]); };
            for (int a = 0; a < p.outputs; ++a)
                for (int r = 0; r < p.rows; ++r)
                    w[static_cast<std::size_t>(p.out_begin + a) * m.inputs + p.row_begin + r] = static_cast<float>(cell(2 * a, r) - cell(2 * a + 1, r));
        }
        REQUIRE(w == w4[l]);
    }
    // A count that is not a whole number from 1 to 64 is refused, on both paths.
    for (double bad : {0.0, 2.5, 65.0}) {
        mc::ChipSettings b = averaged;
        b.calibration_reads = bad;
        REQUIRE_THROWS_WITH(mc::effective_weights(chip.layers[0], f.card, b, device::Noise::on, 51), Catch::Contains("chip.calibration_reads"));
        REQUIRE_THROWS_WITH(mc::ArrayMvm(f.model, chip, f.card, b, noisy, nullptr, false), Catch::Contains("chip.calibration_reads"));
    }
    // The fit is linear in the two calibration sums, so averaging K independent reads divides the
    // variance of each bit line's fitted gain by K: pooled over a tile's bit lines, sets of 16 reads
    // against single reads. Degrees of freedom ≥ 15·255 and 15·1023: the ratio's relative standard
    // error is ≈ 0.025 for equal bit lines, about twice that for this tile's unequal ones (the
    // pooled sum weighs the noisiest most); the bounds are ±5 of the latter.
    const mc::LayerCells& layer = chip.layers[0];
    const array::TilePlacement& p = layer.mapping.tiles[0];
    const device::ReadConditions read = device::read_conditions(f.card, 85.0);
    std::vector<float> current;
    auto gain_variance = [&](int k_reads, int sets) {
        std::vector<double> sum(static_cast<std::size_t>(p.cols), 0.0), sum2(sum.size(), 0.0);
        std::vector<int> fits(sum.size(), 0);
        std::vector<double> m;
        for (int j = 0; j < sets; ++j) {
            m.assign(layer.tiles[0].size(), 0.0);
            for (int k = 0; k < k_reads; ++k) {
                device::read_currents_a(f.card, layer.tiles[0], read, device::Noise::on, layer.tile_streams(0),
                                        1000 + static_cast<std::uint64_t>(j * k_reads + k), current);
                for (std::size_t i = 0; i < m.size(); ++i) m[i] += current[i] * 1e6 / k_reads;  // µA
            }
            const auto trims = mc::fit_tile_trims(m, layer.levels[0], p.rows, p.cols, mc::ColumnCalibration::gain_offset);
            for (std::size_t c = 0; c < trims.size(); ++c)
                if (trims[c].fitted) sum[c] += trims[c].gain, sum2[c] += trims[c].gain * trims[c].gain, ++fits[c];
        }
        double ss = 0;
        long df = 0;
        for (std::size_t c = 0; c < sum.size(); ++c) {
            if (fits[c] != sets) continue;  // a bit line fitted in every set only
            ss += sum2[c] - sum[c] * sum[c] / sets;
            df += sets - 1;
        }
        REQUIRE(df >= 15 * (sets - 1));
        return ss / static_cast<double>(df);
    };
    const double v1 = gain_variance(1, 1024), v16 = gain_variance(16, 256);
    INFO("gain variance: 1 read " << v1 << ", 16 reads " << v16);
    REQUIRE(v1 > 0);
    REQUIRE(16 * v16 / v1 > 0.75);
    REQUIRE(16 * v16 / v1 < 1.33);
}

TEST_CASE("read disturb on a chip: cells and the tracking reference move together, composed with the bake", "[mc][chip]") {
    Fixture f;
    f.card.read_disturb.reference_shift_v = 0.1;  // a strong intrinsic disturb, so that every cell moves
    f.card.read_disturb.reference_stress_s = 1e5;  // (the top level gains ≈ 70 mV over 10^12 reads)
    f.card.read_disturb.rate_sigma_ln = 0;
    const auto analog = mc::analog_nodes(f.model, {});
    const array::MappingParams tiles;
    mc::ChipSettings fresh, read = fresh;
    read.reads = 1e12;
    // The reference cell (top level) loses current as its V_th rises.
    REQUIRE(mc::read_unit_current_a(f.card, read, tiles) < 0.8 * mc::read_unit_current_a(f.card, fresh, tiles));
    // Every cell's V_th rose; the top levels most (lowest V_th).
    const mc::Chip a = mc::sample_chip(f.model, analog, f.card, fresh, tiles, 3, 0, 0);
    const mc::Chip b = mc::sample_chip(f.model, analog, f.card, read, tiles, 3, 0, 0);
    double top = 0, low = 0;
    long n_top = 0, n_low = 0;
    for (std::size_t l = 0; l < a.layers.size(); ++l)
        for (std::size_t t = 0; t < a.layers[l].tiles.size(); ++t)
            for (std::size_t i = 0; i < a.layers[l].tiles[t].size(); ++i) {
                const double dv = b.layers[l].tiles[t].vth_v[i] - a.layers[l].tiles[t].vth_v[i];
                REQUIRE(dv > 0);
                const int level = a.layers[l].levels[t][i];
                if (level == 7) top += dv, ++n_top;
                if (level == 1) low += dv, ++n_low;
            }
    REQUIRE(n_top > 0);
    REQUIRE(n_low > 0);
    REQUIRE(top / n_top > low / n_low);
    // The tracking reference is a top-level cell on the same word lines: weights of code ±7 stay
    // near 7 with it, and shrink with a fixed reference. (Lower levels move less than the reference,
    // so tracking over-corrects them: the level dependence is what a reference cannot remove.)
    auto mean_top_weight = [&](const mc::Chip& c, const mc::ChipSettings& s) {
        double sum = 0;
        long n = 0;
        for (const auto& l : c.layers) {
            const FloatVec w = mc::effective_weights(l, f.card, s);
            const auto& codes = f.model.nodes[static_cast<std::size_t>(l.node)].codes;
            for (std::size_t i = 0; i < w.size(); ++i)
                if (std::abs(codes[i]) == 7) sum += std::abs(w[i]), ++n;
        }
        REQUIRE(n > 0);
        return sum / n;
    };
    mc::ChipSettings read_fixed = read;
    read_fixed.read_reference = mc::ReadReference::fixed;
    const double top_fresh = mean_top_weight(a, fresh), top_tracking = mean_top_weight(b, read), top_fixed = mean_top_weight(b, read_fixed);
    INFO(top_fresh << " " << top_tracking << " " << top_fixed);
    REQUIRE(top_fixed < 0.5 * top_fresh);
    REQUIRE(top_tracking == Approx(top_fresh).epsilon(0.1));
    // Reads spread over a bake: the bake still ages the cells (the two compose).
    mc::ChipSettings both = read;
    both.retention_time_s = 3.15e7;
    const mc::Chip c = mc::sample_chip(f.model, analog, f.card, both, tiles, 3, 0, 0);
    REQUIRE(c.layers[0].tiles[0].retention_equivalent_s == Approx(3.15e7));
    REQUIRE(c.layers[0].tiles[0].vth_v != b.layers[0].tiles[0].vth_v);
}
