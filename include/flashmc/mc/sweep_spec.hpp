#pragma once
// A sweep file (experiments/*.toml): what to run, over which device parameters and run settings.
// Read strictly through io/toml: unknown keys, wrong types, out-of-range values and unknown
// parameter paths stop the run with the file, the key, the value and what is allowed. The format,
// with every key, is documented in docs/results-format.md §"Sweep files"; in short:
//
//   [sweep]   name, seed, trials, output, spec_accuracy, axes = ["a", ...], layer_errors
//   [model]   file, analog_layers = [...] (default: every conv and FC node)
//   [data]    dir, test_images, batch
//   [device]  card, set = ["section.key=value", ...]
//   [chip]    program (verify | open-loop | statistical), pe_cycles, verify_temperature_c,
//             retention_time_s, retention_temperature_c, reads, read_temperature_c, read_reference,
//             column_calibration, calibration_reads, off_current, program_order (cell | row), reverify
//   [array]   tile_rows, tile_cols, mapping, encoding, r_bl_ohm, r_sl_ohm, ir_model, adc_bits,
//             adc_range, adc_margin, adc_gain_sigma_rel, adc_offset_sigma_lsb,
//             adc_sense_offset_sigma_a, read_noise, read_window_s, calibration_images
//   [axis.a]  parameter = "device.<section>.<key>" | "chip.<key>" | "array.<key>", and one of
//             values = [...], linspace = [start, stop, n], logspace = [start, stop, n]
//   [adaptive] ci_half_width, max_trials  (the table's presence turns adaptive stopping on)
//
// Several axes make a grid; points are numbered with the last axis varying fastest.
#include <cstdint>
#include <string>
#include <vector>

#include "flashmc/array/analog_layer.hpp"
#include "flashmc/device/card.hpp"
#include "flashmc/device/cells.hpp"

namespace flashmc::mc {

enum class ProgramMode { verify, open_loop, statistical };
const char* program_mode_name(ProgramMode m);

// How the periphery converts bit-line currents to weight units at the read temperature (mc/chip.hpp):
// fixed: I_unit trimmed at verify; tracking: I_unit follows a reference cell read with the array.
enum class ReadReference { tracking, fixed };

// Read-side compensation beyond the reference cell (mc/chip.hpp, fit_tile_trims): none, or a
// per-bit-line gain and offset calibrated from two calibration reads at the read conditions, each
// bit line's own fit (gain-offset) or with fits far below the tile's median gain replaced by
// the tile's median (gain-offset-guarded).
enum class ColumnCalibration { none, gain_offset, gain_offset_guarded };

// The run settings of one chip (the [chip] table, possibly changed by axes).
struct ChipSettings {
    ProgramMode program = ProgramMode::verify;
    double pe_cycles = 0;                 // P/E cycles before programming
    double verify_temperature_c = 25;     // program-verify (and level calibration) temperature
    double retention_time_s = 0;          // bake after programming (0: none)
    double retention_temperature_c = 25;
    double reads = 0;                     // inferences served over the same life (read disturb), at retention_temperature_c
    double read_temperature_c = 25;
    ReadReference read_reference = ReadReference::tracking;
    ColumnCalibration column_calibration = ColumnCalibration::none;
    double calibration_reads = 1;         // with read noise: noisy calibration reads averaged per fit (whole, 1–64)
    device::OffCurrent off_current = device::OffCurrent::compensated;  // level targets from I_off (device/levels.hpp)
    device::ProgramOrder program_order = device::ProgramOrder::cell;  // program disturb (device/cells.hpp)
    bool reverify = false;                // a final verify pass tops up cells lowered by program disturb
};

// The run settings an axis may vary ("chip.<key>"), with their ranges.
struct ChipKey {
    const char* key;
    double ChipSettings::*field;
    double lo, hi;
    bool integer = false;  // a whole number (a count)
};
const std::vector<ChipKey>& chip_keys();

// Per-read noise (RTN and current noise of the card's [read_noise]): off, or one fresh read of
// every cell per batch of [data] batch images (batch = 1: per image).
enum class ReadNoise { off, per_batch };

// The [array] table: tiles, input encoding, wires, ADC, read noise. The defaults are ideal
// (no wire resistance, ideal ADC, no read noise); a chip is then fully described by its static
// cell errors and runs as effective weights and GEMMs (the static path, docs/results-format.md).
struct ArraySettings {
    array::AnalogParams analog;        // mapping (tile size, differential | offset), encoding, wires, IR model, ADC
    ReadNoise read_noise = ReadNoise::off;
    int calibration_images = 64;       // adc_range = "calibration": training images that set the ADC range
    ArraySettings();                   // ideal: ir = none, adc.bits = 0
    // True when the array changes nothing but the cell layout: no IR drop, ideal ADC, no read noise.
    bool is_static() const;
};

// The numeric [array] keys, which an axis may vary ("array.<key>"), with their ranges.
struct ArrayKey {
    const char* key;
    double lo, hi;
    bool integer;
    double (*get)(const ArraySettings&);
    void (*set)(ArraySettings&, double);
};
const std::vector<ArrayKey>& array_keys();

struct Axis {
    std::string name;        // the [axis.NAME] table
    std::string parameter;   // "device.variation.sigma_vth_v", "chip.read_temperature_c" or "array.r_bl_ohm"
    std::string spacing;     // "values", "linspace" or "logspace"
    std::vector<double> values;
    bool is_device() const { return parameter.starts_with("device."); }
};

struct Adaptive {
    bool enabled = false;
    double ci_half_width = 0.005;  // target 95 % half-width of mean accuracy (fraction)
    long max_trials = 0;           // upper bound on trials per point
};

// Limits of a sweep (its file, and a result file read back), far above any experiment: checked
// before anything is allocated or any point is built.
inline constexpr long kMaxPoints = 100'000;            // grid points (product of the axes' lengths)
inline constexpr long kMaxTrials = 1'000'000;          // trials per point (sweep.trials, adaptive.max_trials)
inline constexpr long kMaxUnits = 10'000'000;          // points × trials per point
inline constexpr long kMaxImages = 1'000'000;          // test images
inline constexpr long kMaxPredictions = 1L << 30;      // units × images (one byte each)

struct SweepSpec {
    std::string source;  // file name
    std::string text;    // the full sweep file text plus overrides
    std::string name;
    std::uint64_t seed = 1;
    long trials = 8;
    std::string output;
    double spec_accuracy;  // NaN: no yield
    bool layer_errors = true;
    std::string model_file;
    std::vector<std::string> analog_layers;  // empty: all conv/FC
    std::string data_dir;
    long test_images = 1000;
    int batch = 250;
    std::string card_file;
    std::vector<std::string> card_overrides;
    device::Card card;      // the base card (with card_overrides)
    ChipSettings chip;
    bool read_follows_verify = true;  // no [chip] read_temperature_c: read at the (point's) verify temperature
    ArraySettings array;
    std::vector<Axis> axes;
    Adaptive adaptive;

    SweepSpec();
    long points() const;
    // Trials a point may hold at most: max_trials when adaptive, else trials.
    long trial_capacity() const { return adaptive.enabled ? adaptive.max_trials : trials; }
    std::vector<double> point_values(long point) const;  // one per axis
    // The device card and chip settings of one point (the base card with the axis overrides).
    device::Card point_card(long point) const;
    ChipSettings point_chip(long point) const;
    ArraySettings point_array(long point) const;
    std::vector<std::string> point_card_overrides(long point) const;
};

// Loads and fully validates a sweep file; `overrides` ("section.key=value") pass through the same
// checks. Every point's card is built once, so a bad axis value stops the run before it starts.
SweepSpec load_sweep_spec(const std::string& path, const std::vector<std::string>& overrides = {});
SweepSpec parse_sweep_spec(const std::string& text, const std::string& source_name,
                           const std::vector<std::string>& overrides = {});

}  // namespace flashmc::mc
