#include "flashmc/mc/sweep_spec.hpp"

#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <iomanip>

#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::mc {

const char* program_mode_name(ProgramMode m) {
    switch (m) {
        case ProgramMode::verify: return "verify";
        case ProgramMode::open_loop: return "open-loop";
        case ProgramMode::statistical: return "statistical";
    }
    return "?";
}

const std::vector<ChipKey>& chip_keys() {
    static const std::vector<ChipKey> keys = {
        {"pe_cycles", &ChipSettings::pe_cycles, 0, 1e7},
        {"verify_temperature_c", &ChipSettings::verify_temperature_c, -60, 200},
        {"retention_time_s", &ChipSettings::retention_time_s, 0, 1e12},
        {"retention_temperature_c", &ChipSettings::retention_temperature_c, -60, 300},
        {"read_temperature_c", &ChipSettings::read_temperature_c, -60, 200},
        {"reads", &ChipSettings::reads, 0, 1e16},
        {"calibration_reads", &ChipSettings::calibration_reads, 1, 64, true},
    };
    return keys;
}

ArraySettings::ArraySettings() {
    analog.ir = array::IrModel::none;
    analog.adc.bits = 0;
}

bool ArraySettings::is_static() const {
    const bool no_ir = analog.ir == array::IrModel::none || (analog.wires.r_bl_ohm == 0 && analog.wires.r_sl_ohm == 0);
    return no_ir && analog.adc.bits == 0 && read_noise == ReadNoise::off && analog.read_window_s == 0;
}

const std::vector<ArrayKey>& array_keys() {
    using A = ArraySettings;
    static const std::vector<ArrayKey> keys = {
        {"tile_rows", 1, 65536, true, [](const A& a) { return double(a.analog.mapping.tile_rows); },
         [](A& a, double v) { a.analog.mapping.tile_rows = static_cast<int>(v); }},
        {"tile_cols", 2, 65536, true, [](const A& a) { return double(a.analog.mapping.tile_cols); },
         [](A& a, double v) { a.analog.mapping.tile_cols = static_cast<int>(v); }},
        {"r_bl_ohm", 0, 1e6, false, [](const A& a) { return a.analog.wires.r_bl_ohm; },
         [](A& a, double v) { a.analog.wires.r_bl_ohm = v; }},
        {"r_sl_ohm", 0, 1e6, false, [](const A& a) { return a.analog.wires.r_sl_ohm; },
         [](A& a, double v) { a.analog.wires.r_sl_ohm = v; }},
        {"adc_bits", 0, 24, true, [](const A& a) { return double(a.analog.adc.bits); },
         [](A& a, double v) { a.analog.adc.bits = static_cast<int>(v); }},
        {"adc_margin", 0.1, 10, false, [](const A& a) { return a.analog.adc.calibration_margin; },
         [](A& a, double v) { a.analog.adc.calibration_margin = v; }},
        {"adc_gain_sigma_rel", 0, 0.5, false, [](const A& a) { return a.analog.adc.gain_sigma_rel; },
         [](A& a, double v) { a.analog.adc.gain_sigma_rel = v; }},
        {"adc_offset_sigma_lsb", 0, 100, false, [](const A& a) { return a.analog.adc.offset_sigma_lsb; },
         [](A& a, double v) { a.analog.adc.offset_sigma_lsb = v; }},
        {"adc_sense_offset_sigma_a", 0, 1e-3, false, [](const A& a) { return a.analog.adc.sense_offset_sigma_a; },
         [](A& a, double v) { a.analog.adc.sense_offset_sigma_a = v; }},
        {"read_window_s", 0, 1, false, [](const A& a) { return a.analog.read_window_s; },
         [](A& a, double v) { a.analog.read_window_s = v; }},
        {"calibration_images", 1, 10000, true, [](const A& a) { return double(a.calibration_images); },
         [](A& a, double v) { a.calibration_images = static_cast<int>(v); }},
    };
    return keys;
}

SweepSpec::SweepSpec() : spec_accuracy(std::numeric_limits<double>::quiet_NaN()) {}

long SweepSpec::points() const {
    long n = 1;
    for (const auto& a : axes) n *= static_cast<long>(a.values.size());
    return n;
}

std::vector<double> SweepSpec::point_values(long point) const {
    if (point < 0 || point >= points()) fail(source, ": point ", point, " out of range [0, ", points() - 1, "]");
    std::vector<double> v(axes.size());
    long rest = point;
    for (std::size_t i = axes.size(); i-- > 0;) {
        const long n = static_cast<long>(axes[i].values.size());
        v[i] = axes[i].values[static_cast<std::size_t>(rest % n)];
        rest /= n;
    }
    return v;
}

namespace {

// A value as text that reads back to the same double (17 significant digits).
std::string exact(double v) {
    std::ostringstream os;
    os << std::setprecision(17) << v;
    return os.str();
}

}  // namespace

std::vector<std::string> SweepSpec::point_card_overrides(long point) const {
    std::vector<std::string> o = card_overrides;
    const auto v = point_values(point);
    for (std::size_t i = 0; i < axes.size(); ++i)
        if (axes[i].is_device()) o.push_back(axes[i].parameter.substr(7) + "=" + exact(v[i]));
    return o;
}

device::Card SweepSpec::point_card(long point) const {
    return device::load_card(card_file, point_card_overrides(point));
}

ChipSettings SweepSpec::point_chip(long point) const {
    ChipSettings c = chip;
    const auto v = point_values(point);
    for (std::size_t i = 0; i < axes.size(); ++i) {
        if (!axes[i].parameter.starts_with("chip.")) continue;
        const std::string key = axes[i].parameter.substr(5);
        for (const auto& k : chip_keys())
            if (key == k.key) c.*(k.field) = v[i];
        // An unset read temperature is the verify temperature, also where an axis moves the latter.
        if (read_follows_verify && key == "verify_temperature_c") c.read_temperature_c = v[i];
    }
    return c;
}

ArraySettings SweepSpec::point_array(long point) const {
    ArraySettings a = array;
    const auto v = point_values(point);
    for (std::size_t i = 0; i < axes.size(); ++i) {
        if (!axes[i].parameter.starts_with("array.")) continue;
        for (const auto& k : array_keys())
            if (axes[i].parameter.substr(6) == k.key) k.set(a, v[i]);
    }
    return a;
}

namespace {

constexpr Range kAny{-1e300, 1e300};

const ArrayKey* find_array_key(const std::string& key) {
    for (const auto& k : array_keys())
        if (key == k.key) return &k;
    return nullptr;
}

// Reads [array] into a; returns whether it names an ir_model.
bool read_array(const TomlSection& t, const std::string& source, ArraySettings& a) {
    const bool ir_given = t.has("ir_model");
    for (const auto& k : array_keys()) {
        if (!t.has(k.key)) continue;
        double v = k.get(a);
        t.read(k.key, v, Range{k.lo, k.hi});
        if (k.integer && v != std::floor(v)) fail(source, ": key 'array.", k.key, "' = ", v, " must be an integer");
        k.set(a, v);
    }
    std::string s = array::to_string(a.analog.mapping.mapping);
    t.read("mapping", s, {"differential", "offset"});
    a.analog.mapping.mapping = array::parse_weight_mapping(s);
    s = array::to_string(a.analog.encoding);
    t.read("encoding", s, {"pulse_width", "bit_serial"});
    a.analog.encoding = array::parse_input_encoding(s);
    s = a.analog.ir == array::IrModel::none    ? "none"
        : a.analog.ir == array::IrModel::exact ? "exact"
                                               : array::to_string(a.analog.fast.model);
    t.read("ir_model", s, {"none", "linear", "curvature", "feedback", "auto", "exact"});
    a.analog.ir = s == "none" ? array::IrModel::none : s == "exact" ? array::IrModel::exact : array::IrModel::fast;
    if (a.analog.ir == array::IrModel::fast) a.analog.fast.model = array::parse_fast_ir_model(s);
    s = a.analog.adc.calibration == array::RangeCalibration::max_current ? "max_current" : "calibration";
    t.read("adc_range", s, {"max_current", "calibration"});
    a.analog.adc.calibration = s == "max_current" ? array::RangeCalibration::max_current : array::RangeCalibration::calibration;
    s = a.read_noise == ReadNoise::off ? "off" : "per_batch";
    t.read("read_noise", s, {"off", "per_batch"});
    a.read_noise = s == "off" ? ReadNoise::off : ReadNoise::per_batch;
    return ir_given;
}

SweepSpec read_spec(TomlDocument doc, const std::vector<std::string>& overrides) {
    doc.set_all(overrides);
    SweepSpec s;
    s.source = doc.source();
    s.text = doc.text();

    auto sw = doc.section("sweep");
    sw.read("name", s.name);
    for (unsigned char c : s.name)
        if (c < 0x20 || c == 0x7f) fail(s.source, ": sweep.name must not hold control characters (newline, NUL, ...), got code ", int(c));
    long seed = 1;
    sw.read("seed", seed, Range{0, 9007199254740992.0});
    s.seed = static_cast<std::uint64_t>(seed);
    sw.read("trials", s.trials, Range{1, 1e6});
    sw.require("output", s.output);
    sw.read("spec_accuracy", s.spec_accuracy, Range{0, 1});
    sw.read("layer_errors", s.layer_errors);
    std::vector<std::string> axis_names;
    sw.read("axes", axis_names);

    auto model = doc.section("model");
    model.require("file", s.model_file);
    model.read("analog_layers", s.analog_layers);

    auto data = doc.section("data");
    data.require("dir", s.data_dir);
    data.read("test_images", s.test_images, Range{1, 1e6});
    data.read("batch", s.batch, Range{1, 10000});

    auto dev = doc.section("device");
    dev.require("card", s.card_file);
    dev.read("set", s.card_overrides);

    auto chip = doc.section("chip");
    std::string mode = "verify";
    chip.read("program", mode, {"verify", "open-loop", "statistical"});
    s.chip.program = mode == "verify" ? ProgramMode::verify
                                      : mode == "open-loop" ? ProgramMode::open_loop : ProgramMode::statistical;
    // Temperatures default to the card's reference (set below once the card is read).
    const bool has_verify_t = chip.has("verify_temperature_c"), has_read_t = chip.has("read_temperature_c");
    for (const auto& k : chip_keys()) {
        chip.read(k.key, s.chip.*(k.field), Range{k.lo, k.hi});
        if (k.integer && s.chip.*(k.field) != std::floor(s.chip.*(k.field)))
            fail(s.source, ": key 'chip.", k.key, "' = ", s.chip.*(k.field), " must be a whole number in [", k.lo, ", ", k.hi, "]");
    }
    std::string reference = "tracking";
    chip.read("read_reference", reference, {"tracking", "fixed"});
    s.chip.read_reference = reference == "fixed" ? ReadReference::fixed : ReadReference::tracking;
    std::string calibration = "none";
    chip.read("column_calibration", calibration, {"none", "gain-offset", "gain-offset-guarded"});
    s.chip.column_calibration = calibration == "gain-offset"           ? ColumnCalibration::gain_offset
                                : calibration == "gain-offset-guarded" ? ColumnCalibration::gain_offset_guarded
                                                                       : ColumnCalibration::none;
    std::string off = "compensated";
    chip.read("off_current", off, {"compensated", "ignored"});
    s.chip.off_current = device::parse_off_current(off);
    std::string order = "cell";
    chip.read("program_order", order, {"cell", "row"});
    s.chip.program_order = device::parse_program_order(order);
    chip.read("reverify", s.chip.reverify);
    if (s.chip.reverify && s.chip.program == ProgramMode::open_loop)
        fail(s.source, ": [chip] reverify = true needs a verify programming mode (program = \"verify\" or \"statistical\"), not \"open-loop\"");

    const bool ir_given = read_array(doc.section("array"), s.source, s.array);

    auto axes = doc.section("axis");
    std::set<std::string> seen;
    for (const auto& name : axis_names) {
        // An axis name becomes a dataset name in the result file: a plain word.
        if (name.empty() || name.size() > 64 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
            fail(s.source, ": key 'sweep.axes' names axis '", abbreviate(name), "': a name is 1 to 64 letters, digits, '_' or '-'");
        if (!seen.insert(name).second) fail(s.source, ": key 'sweep.axes' names axis '", name, "' twice");
        if (!axes.has(name)) fail(s.source, ": key 'sweep.axes' names axis '", name, "' but there is no table [axis.", name, "]");
        auto t = axes.section(name);
        Axis a;
        a.name = name;
        t.require("parameter", a.parameter);
        int given = 0;
        for (const char* sp : {"values", "linspace", "logspace"}) {
            if (!t.has(sp)) continue;
            ++given;
            a.spacing = sp;
        }
        const std::string tname = "[axis." + name + "]";
        if (given != 1) fail(s.source, ": ", tname, " needs exactly one of 'values', 'linspace' or 'logspace', got ", given);
        std::vector<double> v;
        t.read(a.spacing, v, kAny);
        if (a.spacing == "values") {
            if (v.empty()) fail(s.source, ": key 'axis.", name, ".values' is empty");
            a.values = v;
        } else {
            if (v.size() != 3) fail(s.source, ": key 'axis.", name, ".", a.spacing, "' must be [start, stop, count], got ", v.size(), " numbers");
            const double n = v[2];
            if (!(n >= 1 && n <= 10000 && n == std::floor(n)))
                fail(s.source, ": key 'axis.", name, ".", a.spacing, "[2]' = ", n, " must be an integer count in [1, 10000]");
            if (a.spacing == "logspace" && !(v[0] > 0 && v[1] > 0))
                fail(s.source, ": key 'axis.", name, ".logspace' endpoints must be > 0, got ", v[0], " and ", v[1]);
            const int count = static_cast<int>(n);
            for (int i = 0; i < count; ++i) {
                const double f = count == 1 ? 0.0 : static_cast<double>(i) / (count - 1);
                a.values.push_back(a.spacing == "linspace" ? v[0] + f * (v[1] - v[0])
                                                           : std::exp(std::log(v[0]) + f * (std::log(v[1]) - std::log(v[0]))));
            }
            a.values.back() = v[1];  // exact endpoint
            a.values.front() = v[0];
        }
        s.axes.push_back(std::move(a));
    }

    auto ad = doc.root();
    if (ad.has("adaptive")) {
        auto t = doc.section("adaptive");
        s.adaptive.enabled = true;
        t.require("ci_half_width", s.adaptive.ci_half_width, Range{1e-6, 1});
        t.require("max_trials", s.adaptive.max_trials, Range{1, 1e6});
        if (s.adaptive.max_trials < s.trials)
            fail(s.source, ": key 'adaptive.max_trials' = ", s.adaptive.max_trials, " is below sweep.trials = ", s.trials);
    }
    doc.finish();
    // Sizes, before any point is built: the grid, the units and their predictions.
    long points = 1;
    for (const auto& a : s.axes) {
        points *= static_cast<long>(a.values.size());  // each axis has at most 10,000 values: no overflow
        if (points > kMaxPoints) fail(s.source, ": the axes make more than ", kMaxPoints, " points");
    }
    if (points * s.trial_capacity() > kMaxUnits)
        fail(s.source, ": ", points, " points x ", s.trial_capacity(), " trials exceed ", kMaxUnits, " chips");
    if (points * s.trial_capacity() * s.test_images > kMaxPredictions)
        fail(s.source, ": ", points, " points x ", s.trial_capacity(), " trials x ", s.test_images, " images exceed ",
             kMaxPredictions, " predictions");

    // Parameter paths: run settings by name, device parameters through the card reader itself.
    s.card = device::load_card(s.card_file, s.card_overrides);
    if (!has_verify_t) s.chip.verify_temperature_c = s.card.iv.reference_temperature_c;
    s.read_follows_verify = !has_read_t;
    if (!has_read_t) s.chip.read_temperature_c = s.chip.verify_temperature_c;
    for (const auto& a : s.axes) {
        const std::string key = "axis." + a.name + ".parameter";
        if (a.parameter.starts_with("chip.")) {
            const ChipKey* found = nullptr;
            for (const auto& k : chip_keys())
                if (a.parameter.substr(5) == k.key) found = &k;
            if (!found) {
                std::string allowed;
                for (const auto& k : chip_keys()) allowed += std::string(allowed.empty() ? "" : ", ") + "chip." + k.key;
                fail(s.source, ": key '", key, "' = \"", abbreviate(a.parameter), "\" is not a run setting; allowed: ", allowed,
                     ", or device.<section>.<key> of the card");
            }
            for (double v : a.values) {
                if (!(v >= found->lo && v <= found->hi))
                    fail(s.source, ": axis '", a.name, "': ", abbreviate(a.parameter), " = ", v, " is out of range [", found->lo, ", ",
                         found->hi, "]");
                if (found->integer && v != std::floor(v))
                    fail(s.source, ": axis '", a.name, "': ", abbreviate(a.parameter), " = ", v, " must be a whole number in [",
                         found->lo, ", ", found->hi, "]");
            }
        } else if (a.parameter.starts_with("array.")) {
            const ArrayKey* found = find_array_key(a.parameter.substr(6));
            if (!found) {
                std::string allowed;
                for (const auto& k : array_keys()) allowed += std::string(allowed.empty() ? "" : ", ") + "array." + k.key;
                fail(s.source, ": key '", key, "' = \"", abbreviate(a.parameter), "\" is not a numeric array setting; allowed: ", allowed);
            }
            if (found->key == std::string("calibration_images"))
                fail(s.source, ": key '", key, "' = \"", abbreviate(a.parameter),
                     "\" cannot be an axis: one ADC calibration set serves the whole sweep (set array.calibration_images)");
            for (double v : a.values)
                if (!(v >= found->lo && v <= found->hi) || (found->integer && v != std::floor(v)))
                    fail(s.source, ": axis '", a.name, "': ", abbreviate(a.parameter), " = ", v, " is out of range [", found->lo, ", ",
                         found->hi, "]", found->integer ? " or not an integer" : "");
        } else if (!a.is_device() || a.parameter.size() <= 7) {
            fail(s.source, ": key '", key, "' = \"", abbreviate(a.parameter),
                 "\" must be device.<section>.<key> (a card parameter), chip.<key> (a run setting) or array.<key>");
        }
    }
    // More than one calibration read, in [chip] or on an axis, needs a calibration to average for.
    for (long p = 0; p < s.points() && s.chip.column_calibration == ColumnCalibration::none; ++p)
        if (const double k = s.point_chip(p).calibration_reads; k > 1)
            fail(s.source, ": chip.calibration_reads = ", k, " (point ", p, ") needs chip.column_calibration = \"gain-offset\" or "
                 "\"gain-offset-guarded\" (the reads it averages are the calibration's)");
    // Wire resistance (in [array] or on an axis) without an ir_model: "auto", the IR-drop model that
    // is within 1 % of the exact solver at any drop and wiring (docs/array.md §4).
    bool wired = s.array.analog.wires.r_bl_ohm > 0 || s.array.analog.wires.r_sl_ohm > 0;
    for (const auto& a : s.axes) wired = wired || a.parameter == "array.r_bl_ohm" || a.parameter == "array.r_sl_ohm";
    if (wired && !ir_given) s.array.analog.ir = array::IrModel::fast, s.array.analog.fast.model = array::FastIrModel::automatic;
    for (long p = 0; p < s.points(); ++p) {
        const ArraySettings a = s.point_array(p);
        const auto& w = a.analog.wires;
        if (a.analog.ir == array::IrModel::none && (w.r_bl_ohm > 0 || w.r_sl_ohm > 0))
            fail(s.source, ": array.r_bl_ohm = ", w.r_bl_ohm, " and array.r_sl_ohm = ", w.r_sl_ohm, " (at point ", p,
                 ") need an IR-drop model: set array.ir_model to auto, linear, curvature, feedback or exact (it is \"none\")");
        if (a.analog.adc.bits == 1)
            fail(s.source, ": array.adc_bits = 1 (at point ", p, ") is not allowed: 0 (ideal ADC) or 2 to 24 bits");
        if (a.analog.ir == array::IrModel::fast && a.analog.fast.model != array::FastIrModel::automatic &&
            w.r_bl_ohm > array::kMaxBitlineToSourceRatio * w.r_sl_ohm)
            fail(s.source, ": array.r_bl_ohm = ", w.r_bl_ohm, " with array.r_sl_ohm = ", w.r_sl_ohm, " (at point ", p,
                 "): the fast IR-drop models are validated for r_bl_ohm <= ", array::kMaxBitlineToSourceRatio,
                 " x r_sl_ohm (docs/array.md §8); use array.ir_model = \"auto\" (the exact solver for such wiring) or \"exact\"");
        try {
            (void)s.point_card(p);
        } catch (const Error& e) {
            fail(s.source, ": axis point ", p, " (", [&] {
                     std::string d;
                     const auto v = s.point_values(p);
                     for (std::size_t i = 0; i < s.axes.size(); ++i)
                         d += (i ? ", " : "") + s.axes[i].parameter + " = " + exact(v[i]);
                     return d;
                 }(), "): ", e.what());
        }
    }
    return s;
}

}  // namespace

SweepSpec load_sweep_spec(const std::string& path, const std::vector<std::string>& overrides) {
    return read_spec(TomlDocument::from_file(path), overrides);
}

SweepSpec parse_sweep_spec(const std::string& text, const std::string& source_name, const std::vector<std::string>& overrides) {
    return read_spec(TomlDocument::from_string(text, source_name), overrides);
}

}  // namespace flashmc::mc
