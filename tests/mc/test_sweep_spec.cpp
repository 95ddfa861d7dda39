#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "flashmc/core/error.hpp"
#include "flashmc/mc/sweep_spec.hpp"
#include "../test_util.hpp"

using namespace flashmc;

namespace {
std::string tiny_text() {
    std::ifstream in(test::source_dir() + "/experiments/test_tiny.toml");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
std::string card_set() { return "device.card=" + test::source_dir() + "/devices/nor40_cim.toml"; }
mc::SweepSpec parse(std::vector<std::string> overrides) {
    overrides.insert(overrides.begin(), card_set());
    return mc::parse_sweep_spec(tiny_text(), "tiny.toml", overrides);
}
std::string error_of(std::vector<std::string> overrides) {
    try {
        parse(std::move(overrides));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("a sweep file reads into a grid of points", "[mc][spec]") {
    const mc::SweepSpec s = parse({});
    REQUIRE(s.points() == 4);
    REQUIRE(s.trials == 3);
    REQUIRE(s.seed == 7);
    REQUIRE(s.chip.program == mc::ProgramMode::statistical);
    REQUIRE(s.chip.pe_cycles == 100);
    REQUIRE(s.chip.verify_temperature_c == 25);  // the card's reference temperature
    REQUIRE(s.chip.read_reference == mc::ReadReference::tracking);
    REQUIRE(parse({"chip.read_reference=\"fixed\""}).chip.read_reference == mc::ReadReference::fixed);
    REQUIRE_THAT(error_of({"chip.read_reference=\"trimmed\""}), Catch::Contains("not one of: tracking, fixed"));
    REQUIRE_THAT(error_of({"sweep.name=\"a\\nb\""}), Catch::Contains("sweep.name must not hold control characters"));
    REQUIRE(s.chip.column_calibration == mc::ColumnCalibration::none);
    REQUIRE(parse({"chip.column_calibration=\"gain-offset\""}).chip.column_calibration == mc::ColumnCalibration::gain_offset);
    REQUIRE(parse({"chip.column_calibration=\"gain-offset-guarded\""}).chip.column_calibration == mc::ColumnCalibration::gain_offset_guarded);
    REQUIRE_THAT(error_of({"chip.column_calibration=\"gain\""}), Catch::Contains("not one of: none, gain-offset, gain-offset-guarded"));
    REQUIRE(s.chip.calibration_reads == 1);
    REQUIRE(parse({"chip.column_calibration=\"gain-offset\"", "chip.calibration_reads=16"}).chip.calibration_reads == 16);
    REQUIRE_THAT(error_of({"chip.calibration_reads=16"}), Catch::Contains("chip.calibration_reads = 16 (point 0) needs chip.column_calibration"));
    for (const char* bad : {"chip.calibration_reads=0", "chip.calibration_reads=65", "chip.calibration_reads=2.5"})
        REQUIRE_THAT(error_of({"chip.column_calibration=\"gain-offset\"", bad}), Catch::Contains("calibration_reads"));
    REQUIRE(s.chip.program_order == device::ProgramOrder::cell);
    REQUIRE_FALSE(s.chip.reverify);
    REQUIRE(parse({"chip.program_order=\"row\"", "chip.reverify=true"}).chip.program_order == device::ProgramOrder::row);
    REQUIRE(parse({"chip.reverify=true"}).chip.reverify);
    REQUIRE_THAT(error_of({"chip.program_order=\"column\""}), Catch::Contains("not one of: cell, row"));
    REQUIRE_THAT(error_of({"chip.reverify=1"}), Catch::Contains("reverify"));
    REQUIRE_THAT(error_of({"chip.program=\"open-loop\"", "chip.reverify=true"}), Catch::Contains("needs a verify programming mode"));
    REQUIRE(s.axes.size() == 2);
    REQUIRE(s.axes[0].values == std::vector<double>{0.0, 0.04});
    // The last axis varies fastest.
    REQUIRE(s.point_values(1) == std::vector<double>{0.0, 35.0});
    REQUIRE(s.point_values(2) == std::vector<double>{0.04, 25.0});
    REQUIRE(s.point_chip(1).read_temperature_c == 35.0);
    REQUIRE(s.point_card(2).variation.sigma_vth_v == 0.04);
    REQUIRE(s.point_card(2).variation.sigma_slope_n == 0.02);  // device.set applies too
    REQUIRE(s.trial_capacity() == 3);
    // logspace
    std::string text = tiny_text();
    text.replace(text.find("values = [25.0, 35.0]"), 21, "logspace = [1e3, 1e7, 5]");
    const mc::SweepSpec l = mc::parse_sweep_spec(text, "log.toml", {card_set(), "axis.read_t.parameter=\"chip.retention_time_s\""});
    REQUIRE(l.points() == 10);
    REQUIRE(l.axes[1].values[2] == Approx(1e5));
    REQUIRE(l.axes[1].values[4] == 1e7);
    // adaptive stopping
    const mc::SweepSpec a = parse({"adaptive.ci_half_width=0.01", "adaptive.max_trials=12"});
    REQUIRE(a.adaptive.enabled);
    REQUIRE(a.trial_capacity() == 12);
    // [array]: ideal by default (the static path); keys and array.<key> axes
    REQUIRE(s.array.is_static());
    const mc::SweepSpec r = parse({"array.r_bl_ohm=2.5", "array.r_sl_ohm=2.5", "array.ir_model=\"curvature\"", "array.mapping=\"offset\"",
                                   "axis.read_t.parameter=\"array.adc_bits\"", "axis.read_t.values=[0, 6]"});
    REQUIRE_FALSE(r.array.is_static());
    REQUIRE(r.array.analog.wires.r_bl_ohm == 2.5);
    REQUIRE(r.array.analog.fast.model == array::FastIrModel::curvature);
    REQUIRE(r.array.analog.mapping.mapping == array::WeightMapping::offset);
    REQUIRE(r.point_array(0).analog.adc.bits == 0);
    REQUIRE(r.point_array(1).analog.adc.bits == 6);
    REQUIRE(r.point_array(1).analog.wires.r_bl_ohm == 2.5);
    // chip.calibration_reads on an axis: whole numbers, with a column calibration only
    const std::vector<std::string> k_axis = {"axis.read_t.parameter=\"chip.calibration_reads\"", "axis.read_t.values=[1, 16]"};
    std::vector<std::string> with_cal = k_axis;
    with_cal.push_back("chip.column_calibration=\"gain-offset\"");
    REQUIRE(parse(with_cal).point_chip(1).calibration_reads == 16);
    REQUIRE_THAT(error_of(k_axis), Catch::Contains("chip.calibration_reads = 16 (point 1) needs chip.column_calibration"));
    with_cal[1] = "axis.read_t.values=[1, 2.5]";
    REQUIRE_THAT(error_of(with_cal), Catch::Contains("chip.calibration_reads = 2.5 must be a whole number in [1, 64]"));
    with_cal[1] = "axis.read_t.values=[1, 65]";
    REQUIRE_THAT(error_of(with_cal), Catch::Contains("chip.calibration_reads = 65 is out of range [1, 64]"));
    // With no [chip] read_temperature_c, the read temperature follows a verify-temperature axis.
    const mc::SweepSpec v = parse({"axis.read_t.parameter=\"chip.verify_temperature_c\""});
    REQUIRE(v.point_chip(1).verify_temperature_c == 35.0);
    REQUIRE(v.point_chip(1).read_temperature_c == 35.0);
    const mc::SweepSpec vr = parse({"axis.read_t.parameter=\"chip.verify_temperature_c\"", "chip.read_temperature_c=50.0"});
    REQUIRE(vr.point_chip(1).verify_temperature_c == 35.0);
    REQUIRE(vr.point_chip(1).read_temperature_c == 50.0);
}

TEST_CASE("sweep files are validated strictly", "[mc][spec]") {
    // unknown key, with a suggestion
    REQUIRE_THAT(error_of({"sweep.trails=3"}), Catch::Contains("unknown key 'trails' in [sweep]; did you mean 'trials'?"));
    // wrong type
    REQUIRE_THAT(error_of({"sweep.trials=\"many\""}), Catch::Contains("'sweep.trials' must be an integer"));
    // out of range
    REQUIRE_THAT(error_of({"sweep.trials=0"}), Catch::Contains("'sweep.trials' = 0 is out of range [1, 1000000]"));
    REQUIRE_THAT(error_of({"chip.program=\"ispp\""}), Catch::Contains("not one of: verify, open-loop, statistical"));
    // unknown device parameter path: the card reader names the key and the closest valid one
    const std::string dev = error_of({"axis.sigma_vth.parameter=\"device.variation.sigma_vt_v\""});
    REQUIRE_THAT(dev, Catch::Contains("tiny.toml: axis point 0"));
    REQUIRE_THAT(dev, Catch::Contains("did you mean 'sigma_vth_v'?"));
    // out-of-range device value on an axis
    REQUIRE_THAT(error_of({"axis.sigma_vth.linspace=[0.0, 3.0, 2]"}), Catch::Contains("out of range [0, 1]"));
    // unknown run setting
    REQUIRE_THAT(error_of({"axis.read_t.parameter=\"chip.read_temp\""}),
                 Catch::Contains("is not a run setting; allowed: chip.pe_cycles"));
    REQUIRE_THAT(error_of({"axis.read_t.values=[25.0, 500.0]"}), Catch::Contains("chip.read_temperature_c = 500 is out of range"));
    // axis tables that no axis names, axes without a table, two spacings
    REQUIRE_THAT(error_of({"axis.extra.values=[1.0]"}), Catch::Contains("unknown section [axis.extra]"));
    REQUIRE_THAT(error_of({"sweep.axes=[\"nope\"]"}), Catch::Contains("no table [axis.nope]"));
    REQUIRE_THAT(error_of({"axis.read_t.linspace=[1.0, 2.0, 2]"}), Catch::Contains("exactly one of 'values', 'linspace' or 'logspace'"));
    REQUIRE_THAT(error_of({"axis.sigma_vth.linspace=[0.0, 0.04, 2.5]"}), Catch::Contains("must be an integer count"));
    REQUIRE_THAT(error_of({"adaptive.ci_half_width=0.01", "adaptive.max_trials=2"}), Catch::Contains("below sweep.trials"));
    REQUIRE_THAT(error_of({"device.set=[\"variation.bogus=1\"]"}), Catch::Contains("unknown key 'bogus' in [variation]"));
    REQUIRE_THAT(error_of({"array.r_bl=1.0"}), Catch::Contains("unknown key 'r_bl' in [array]; valid keys: adc_bits"));
    REQUIRE_THAT(error_of({"array.ir_model=\"spice\""}), Catch::Contains("not one of: none, linear, curvature, feedback, auto, exact"));
    REQUIRE_THAT(error_of({"array.adc_bits=4.5"}), Catch::Contains("array.adc_bits"));
    REQUIRE_THAT(error_of({"axis.read_t.parameter=\"array.adc_bits\"", "axis.read_t.values=[4.5, 6.0]"}),
                 Catch::Contains("array.adc_bits = 4.5 is out of range [0, 24] or not an integer"));
    REQUIRE_THAT(error_of({"axis.read_t.parameter=\"array.wires\""}), Catch::Contains("not a numeric array setting; allowed: array.tile_rows"));
    // settings that would silently do nothing
    REQUIRE_THAT(error_of({"array.r_bl_ohm=10.0", "array.ir_model=\"none\""}), Catch::Contains("need an IR-drop model: set array.ir_model"));
    REQUIRE_THAT(error_of({"axis.read_t.parameter=\"array.r_sl_ohm\"", "axis.read_t.values=[0.0, 5.0]", "array.ir_model=\"none\""}),
                 Catch::Contains("array.r_sl_ohm = 5 (at point 1) need an IR-drop model"));
    // Wires without an ir_model (in [array] or on an axis): auto; otherwise the model given.
    const auto ir_of = [&](const std::vector<std::string>& o) {
        const mc::SweepSpec r = parse(o);
        return r.array.analog.ir == array::IrModel::fast ? std::string(array::to_string(r.array.analog.fast.model))
                                                         : std::string(r.array.analog.ir == array::IrModel::none ? "none" : "exact");
    };
    REQUIRE(ir_of({}) == "none");
    REQUIRE(ir_of({"array.r_sl_ohm=2.0"}) == "auto");
    REQUIRE(ir_of({"axis.read_t.parameter=\"array.r_sl_ohm\"", "axis.read_t.values=[0.0, 5.0]"}) == "auto");
    REQUIRE(ir_of({"array.r_sl_ohm=2.0", "array.ir_model=\"linear\""}) == "linear");
    REQUIRE(error_of({"array.r_bl_ohm=10.0", "array.r_sl_ohm=10.0", "array.ir_model=\"linear\""}).empty());
    // Outside the fast models' validated wiring (bit-line dominated): refused at load; auto and exact
    // take it (auto with the exact solver).
    REQUIRE_THAT(error_of({"array.r_bl_ohm=10.0", "array.ir_model=\"feedback\""}),
                 Catch::Contains("validated for r_bl_ohm <= 3 x r_sl_ohm") && Catch::Contains("exact"));
    REQUIRE(error_of({"array.r_bl_ohm=10.0", "array.ir_model=\"auto\""}).empty());
    REQUIRE(error_of({"array.r_bl_ohm=10.0"}).empty());
    REQUIRE(error_of({"array.r_bl_ohm=10.0", "array.ir_model=\"exact\""}).empty());
    REQUIRE_THAT(error_of({"array.adc_bits=1"}), Catch::Contains("array.adc_bits = 1 (at point 0) is not allowed: 0 (ideal ADC) or 2 to 24"));
    REQUIRE_THAT(error_of({"axis.read_t.parameter=\"array.calibration_images\"", "axis.read_t.values=[10.0, 20.0]"}),
                 Catch::Contains("cannot be an axis: one ADC calibration set serves the whole sweep"));
}

TEST_CASE("every shipped sweep file in experiments/ is valid", "[mc][spec]") {
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(test::source_dir() + "/experiments")) {
        if (e.path().extension() != ".toml") continue;
        if (e.path().stem().string().ends_with("_requirements")) continue;  // flashmc check files (tests/mc/test_requirements.cpp)
        CAPTURE(e.path().string());
        const mc::SweepSpec s = mc::load_sweep_spec(e.path().string(), {card_set()});
        REQUIRE(s.points() >= 1);
        ++files;
    }
    REQUIRE(files >= 10);
}

TEST_CASE("sweep sizes and axis names are limited before any point is built", "[mc][spec]") {
    // 10,000 × 11 points: refused at once, before 110,000 cards are built.
    REQUIRE_THAT(error_of({"axis.sigma_vth.linspace=[0.0, 0.04, 10000]", "axis.read_t.values=[25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]"}),
                 Catch::Contains("tiny.toml: the axes make more than 100000 points"));
    REQUIRE_THAT(error_of({"sweep.trials=1000000", "axis.read_t.values=[25, 26, 27, 28, 29, 30]"}),
                 Catch::Contains("12 points x 1000000 trials exceed 10000000 chips"));
    REQUIRE_THAT(error_of({"sweep.trials=1000", "data.test_images=1000000"}), Catch::Contains("exceed 1073741824 predictions"));
    // An axis name becomes an HDF5 dataset name: a slash in it broke the result file.
    REQUIRE_THAT(error_of({"sweep.axes=[\"a/b\"]"}), Catch::Contains("names axis 'a/b': a name is 1 to 64 letters"));
}
