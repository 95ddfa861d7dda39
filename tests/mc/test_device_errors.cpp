// Chip tables for device-aware fine-tuning (mc/device_errors.hpp).
#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/core/error.hpp"
#include "flashmc/mc/chip.hpp"
#include "flashmc/mc/device_errors.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"
#include "../test_util.hpp"

using namespace flashmc;

namespace {
nn::QuantModel tiny_w4a4() {
    Tensor calib(16, 3, 32, 32);
    Stream r = Streams(8).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::Model m = nn::build_model("tiny", 2);
    nn::prepare_qat(m, nn::parse_quant("w4a4"), calib);
    return nn::export_quantized(m);
}

mc::SweepSpec spec(const std::string& chip, const std::string& device_set, const std::string& array = "") {
    const std::string text = "[sweep]\nname = \"t\"\nseed = 5\ntrials = 1\noutput = \"t.h5\"\naxes = [\"s\"]\n"
                             "[model]\nfile = \"m.h5\"\n[data]\ndir = \"d\"\n[device]\ncard = \"" + test::source_dir() +
                             "/devices/nor40_cim.toml\"\nset = [" + device_set + "]\n[chip]\n" + chip + "\n[array]\n" + array +
                             "\n[axis.s]\nparameter = \"device.variation.sigma_vth_v\"\nvalues = [0.0, 0.01]\n";
    return mc::parse_sweep_spec(text, "t.toml");
}

const char* kOpenLoopOnly = "\"program.efficiency_sigma = 0.0\", \"program.injection_fano = 0.0\", \"variation.sigma_slope_n = 0.0\", "
                            "\"variation.sigma_vth_tile_v = 0.0\", \"variation.sigma_vth_column_v = 0.0\", "
                            "\"read_noise.rtn_traps_mean = 0.0\", \"read_noise.current_sigma_rel = 0.0\"";
}  // namespace

TEST_CASE("device tables: exact codes without errors; otherwise the effective weights of chips no sweep measures", "[mc][device-aware]") {
    const nn::QuantModel model = tiny_w4a4();
    const mc::SweepSpec s = spec("program = \"open-loop\"", kOpenLoopOnly);
    mc::DeviceErrorOptions o;
    o.chips = 2;
    o.max_samples = 1 << 20;  // no thinning: the pools in chip and weight order
    const nn::WeightErrors e = mc::device_error_tables(model, {s}, o);
    REQUIRE(e.conditions == std::vector<std::string>{"t: s=0", "t: s=0.01"});
    const auto analog = mc::analog_nodes(model, {});
    REQUIRE(e.tables[0].size() == analog.size());
    // σ_Vth = 0 with every other error off: each sample is its code (float V_th: ~1e-5 of a unit).
    for (const auto& [name, t] : e.tables[0]) {
        REQUIRE(t.qmax == 7);
        for (int k = -7; k <= 7; ++k)
            for (float v : t.samples[static_cast<std::size_t>(k + 7)]) REQUIRE(std::abs(v - k) < 1e-4);
    }
    // σ_Vth = 10 mV: the first samples of code k in layer l are chip 0's effective weights of the
    // weights with code k, chip 0 drawn with the training seed hash_keys(5, {kTrainingChipsKey}).
    const device::Card card = s.point_card(1);
    const mc::ChipSettings chip = s.point_chip(1);
    const mc::Chip training = mc::sample_chip(model, analog, card, chip, s.point_array(1).analog.mapping,
                                              hash_keys(5, {mc::kTrainingChipsKey}), 1, 0);
    const mc::Chip measured = mc::sample_chip(model, analog, card, chip, s.point_array(1).analog.mapping, 5, 1, 0);
    double rms = 0, n = 0, differ = 0;
    for (std::size_t l = 0; l < analog.size(); ++l) {
        const nn::QNode& node = model.nodes[static_cast<std::size_t>(analog[l])];
        const nn::CodeTable& t = e.tables[1].at(node.name);
        const FloatVec w = mc::effective_weights(training.layers[l], card, chip);
        const FloatVec m = mc::effective_weights(measured.layers[l], card, chip);
        std::vector<std::size_t> next(15, 0);
        for (std::size_t j = 0; j < w.size(); ++j) {
            const std::size_t k = static_cast<std::size_t>(node.codes[j] + 7);
            REQUIRE(t.samples[k][next[k]++] == w[j]);
            rms += (w[j] - node.codes[j]) * (w[j] - node.codes[j]), n += 1;
            differ += w[j] != m[j];
        }
        // Both chips' weights are in the pool (2 chips; plus top-ups for codes under kMinSamples).
        for (std::size_t k = 0; k < 15; ++k)
            if (next[k] > 0) REQUIRE(t.samples[k].size() >= std::max(2 * next[k], mc::kMinSamples));
    }
    REQUIRE(std::sqrt(rms / n) > 0.05);  // the variation shows
    REQUIRE(differ / n > 0.99);          // and the training chip is not the measured one
}

TEST_CASE("device tables: thinning, rare codes, read noise and what is refused", "[mc][device-aware]") {
    const nn::QuantModel model = tiny_w4a4();
    mc::DeviceErrorOptions o;
    o.chips = 1;
    o.max_samples = 100;
    const nn::WeightErrors e = mc::device_error_tables(model, {spec("program = \"statistical\"", "")}, o);
    for (const auto& tables : e.tables)
        for (const auto& [name, t] : tables)
            for (const auto& pool : t.samples) {
                REQUIRE(pool.size() <= 100);
                REQUIRE_FALSE(pool.empty());
                for (float v : pool) REQUIRE(std::isfinite(v));
            }
    // Read noise: each chip read `reads` times, each read fresh.
    const mc::SweepSpec noisy = spec("program = \"statistical\"", "", "read_noise = \"per_batch\"");
    o.max_samples = 1 << 20;
    o.reads = 1;
    const auto one = mc::device_error_tables(model, {noisy}, o);
    o.reads = 3;
    const auto three = mc::device_error_tables(model, {noisy}, o);
    const std::string layer = one.tables[0].begin()->first;
    const auto& a = one.tables[0].at(layer).samples[7 + 3];
    const auto& b = three.tables[0].at(layer).samples[7 + 3];
    if (a.size() >= mc::kMinSamples) {
        REQUIRE(b.size() == 3 * a.size());
        REQUIRE(std::vector<float>(b.begin(), b.begin() + static_cast<long>(a.size())) == a);
        REQUIRE(std::vector<float>(b.begin() + static_cast<long>(a.size()), b.begin() + 2 * static_cast<long>(a.size())) != a);
    }
    // IR drop and ADC errors are not per-weight errors.
    REQUIRE_THROWS_WITH(mc::device_error_tables(model, {spec("program = \"statistical\"", "", "r_bl_ohm = 5.0\nr_sl_ohm = 5.0\nir_model = \"linear\"")}, o),
                        Catch::Contains("not per-weight errors"));
    REQUIRE_THROWS_WITH(mc::device_error_tables(model, {spec("program = \"statistical\"", "", "adc_bits = 8")}, o),
                        Catch::Contains("not per-weight errors"));
    REQUIRE_THROWS(mc::device_error_tables(model, {}, o));
}
