#pragma once
// One sampled chip: every analog layer's weights mapped onto tiles of NOR-Flash cells
// (array::map_layer), each tile's cells sampled, erased, programmed and aged (device module).
// Two ways to run the test images through it, both nn::MvmOverride:
//   StaticMvm  static per-cell errors only (no IR drop, ideal ADC, no per-read noise): the chip
//              collapses to effective weight matrices, read once, and plain GEMMs
//              (QuantModel::accumulate_with). The fast path.
//   ArrayMvm   the array module per layer (array::AnalogLayer): DAC encoding, cell currents with
//              the fast IR-drop model, per-pair ADC with its static errors, digital sum of the
//              tiles; optionally a fresh noisy read of every cell per batch of images.
// With ideal array settings both compute the same products (up to float summation order), which
// tests/mc/chip_test.cpp checks.
//
// Effective weight of a pair: w_eff = (I⁺ − I⁻)/I_unit,read (offset mapping: (I_o − I_ref)/I_unit,read),
// I at the read temperature after aging. I_unit,read (read_unit_current_a) depends on the chip's
// read_reference: "fixed" is the card's levels.unit_current_a, the level spacing at the verify
// temperature, as on silicon whose periphery was trimmed once at verify; "tracking" (default) is
// the current of a reference cell at the mapping's top level L, read with the array, less that of
// a level-0 reference cell when the levels count from the off current (chip.off_current), over L: the
// periphery's gain follows the common temperature scaling of all cells (I_0(T), dV_th/dT) and
// the median retention drift, which a real macro's reference columns provide. What remains at T ≠ T_verify is physics the reference
// cannot remove: in subthreshold ln(I_k/I_L) scales as T_verify/T, so lower levels drift against
// the top one (I_k/I_L → (k/L)^(T_v/T)).
//
// Streams: layer `node` of (point, trial) has key L = hash_keys(seed, {point, trial, node});
// tile t's cells draw from Streams(hash_keys(L, {t})) with cell index col·rows + row (its
// column and tile offsets included), and the layer's ADCs from Streams(L).at({kAdcStreamKey, t, a}).
// Reads with noise use the tile streams with read key = index of the batch's first image + 1.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "flashmc/array/analog_layer.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/device/card.hpp"
#include "flashmc/device/cells.hpp"
#include "flashmc/mc/sweep_spec.hpp"
#include "flashmc/nn/quant_model.hpp"

namespace flashmc::mc {

// The conv/FC node indices of `model` named in `names` (empty: all of them), in node order.
// Throws naming an unknown layer and listing the valid ones.
std::vector<int> analog_nodes(const nn::QuantModel& model, const std::vector<std::string>& names);

// The stream-key hash of one layer of one chip: hash_keys(seed, {point, trial, node}).
inline std::uint64_t layer_stream_key(std::uint64_t seed, long point, long trial, int node) {
    return hash_keys(seed, {static_cast<std::uint64_t>(point), static_cast<std::uint64_t>(trial),
                            static_cast<std::uint64_t>(node)});
}

// The cells of one analog layer, one CellArray per tile of `mapping` (column-major, as mapped).
struct LayerCells {
    int node = -1;
    std::uint64_t key = 0;
    array::LayerMapping mapping;
    std::vector<device::CellArray> tiles;
    std::vector<std::vector<std::uint8_t>> levels;  // per tile: each cell's programmed level (column-major)
    Streams tile_streams(int t) const { return Streams(hash_keys(key, {static_cast<std::uint64_t>(t)})); }
};

struct Chip {
    std::vector<LayerCells> layers;  // per analog node, in node order
    std::vector<std::uint64_t> keys() const;
};

// Seconds spent in each stage of sample_chip (added to), for benchmarks.
struct ChipStageTimes {
    double sample_s = 0, erase_s = 0, program_s = 0, age_s = 0;
};

// Maps, samples, erases, programs and ages every analog layer of one (point, trial).
Chip sample_chip(const nn::QuantModel& model, const std::vector<int>& analog, const device::Card& card,
                 const ChipSettings& chip, const array::MappingParams& mapping, std::uint64_t seed, long point, long trial,
                 ChipStageTimes* times = nullptr);

// The current of one weight unit at the chip's read conditions, as the periphery sees it (above).
// The tracking reference is a cell at the top level's verify target without variation, aged with
// the median charge loss β_median (times the chip's cycling wear) by the chip's retention bake.
double read_unit_current_a(const device::Card& card, const ChipSettings& chip, const array::MappingParams& mapping);

// The read key of the calibration read with read noise (chip.column_calibration): a macro
// calibrates once at a read condition and keeps the trims for every later read, whose keys are
// ≥ 1 (the array path: a batch's first image + 1).
inline constexpr std::uint64_t kCalibrationReadKey = 0;
// With chip.calibration_reads = K > 1 the controller averages K noisy calibration reads before the
// fit: read k = 0 is kCalibrationReadKey, read k ≥ 1 is keyed 2^64 − k, far from any batch's key.
inline std::uint64_t calibration_read_key(int k) { return k == 0 ? kCalibrationReadKey : ~std::uint64_t{0} - static_cast<std::uint64_t>(k - 1); }

// Effective weights [out_c][K] of one layer: one read of its cells, in units of
// read_unit_current_a(card, chip, layer.mapping.params); with chip.column_calibration, each bit
// line trimmed first (fit_tile_trims). The read is noise-free, or with Noise::on one read
// with fresh read noise keyed by read_key ≥ 1 (device::read_currents_a); the trims are then fitted
// on the mean of chip.calibration_reads calibration reads (calibration_read_key), as on the array path.
FloatVec effective_weights(const LayerCells& layer, const device::Card& card, const ChipSettings& chip,
                           device::Noise noise = device::Noise::off, std::uint64_t read_key = 0);

// Per-bit-line gain and offset calibration (chip.column_calibration = "gain-offset"), as a macro's
// periphery can run it at each read condition without extra cells: the controller knows the level
// k_r it programmed into each cell r of the bit line, applies two calibration inputs — A: every
// word line on; B: the word lines of the cells above the bit line's mean level — and reads the two
// bit-line sums S = Σ m_r (m: cell currents in weight units). Fitting m_r ≈ g·k_r + o to them,
//   g·T_A + o·n_A = S_A,  g·T_B + o·n_B = S_B   (T = Σ k_r, n = rows, over each input's rows),
// it trims the bit line digitally: m_r ← (m_r − o)/g. A gain and offset common to the bit line's
// cells (temperature, median drift, a column's mean offset) go exactly; per-cell errors remain.
// Where all of its levels are equal (B empty) or the fit is not a positive gain, the bit line is
// left as read. Assumes exact calibration reads (no ADC error on them).
// The fit m_r ≈ gain·k_r + offset; fitted = false where the bit line stays as read.
struct BitLineTrim {
    double gain = 1, offset = 0;
    bool fitted = false;
    double trim(double m) const { return fitted ? (m - offset) / gain : m; }  // m ← (m − o)/g
};
BitLineTrim fit_bit_line(std::span<const double> m, std::span<const std::uint8_t> levels);
// The trims of one tile's bit lines from their calibration currents m and levels (column-major,
// rows × cols, weight units). gain-offset: each bit line's own fit. gain-offset-guarded: the
// controller compares every fit with the tile's (lower) median gain and offset, and a bit line
// whose fit is missing or whose gain is below the median by more than kGuardGainRatio takes the
// tile's median trim: such a fit (a cell of the heavy retention tail at a low level pulling the
// two sums) would divide every cell of the line by a small gain, multiplying their errors. A fit
// pulled above the median is kept: it shrinks the outlier cell with the rest, limiting its harm.
inline constexpr double kGuardGainRatio = 1.5;
std::vector<BitLineTrim> fit_tile_trims(std::span<const double> m, std::span<const std::uint8_t> levels, int rows, int cols,
                                        ColumnCalibration mode);

// The MvmOverride part shared by both paths: which nodes are analog, and with track_error the
// per-layer Σ(a − d)² and Σ d² over every product, a = analog and d = digital accumulator (bias
// excluded) for the same input; the RMS relative error of the analog MVM is sqrt(Σ(a − d)²/Σ d²).
// One instance per thread (it is mutable).
class TrackedMvm : public nn::MvmOverride {
public:
    TrackedMvm(const nn::QuantModel& model, const std::vector<int>& nodes, bool track_error);
    bool accumulate(int node_index, const nn::QNode& node, const Tensor& x, Tensor& acc) const final;
    std::vector<double> rms_relative_error() const;  // per analog node, over the products tracked
    // With track_error: whether the next products count towards the error (each costs one extra
    // digital GEMM; the sweep tracks its first batch only).
    void set_tracking(bool on) { active_ = track_ && on; }

protected:
    virtual void analog(int slot, const nn::QNode& node, const Tensor& x, Tensor& acc) const = 0;

private:
    const nn::QuantModel& model_;
    bool track_, active_;
    std::vector<int> slot_;  // node index → analog slot, −1 if digital
    mutable std::vector<double> err2_, ref2_;
    mutable Tensor digital_;
};

// Static path: GEMMs on the effective weights.
class StaticMvm : public TrackedMvm {
public:
    StaticMvm(const nn::QuantModel& model, const Chip& chip, const device::Card& card, const ChipSettings& settings,
              bool track_error);
    // Given effective weights per node (e.g. the exact codes, for tests).
    StaticMvm(const nn::QuantModel& model, const std::vector<int>& nodes, std::vector<FloatVec> weights, bool track_error);
    const std::vector<FloatVec>& weights() const { return weights_; }

private:
    void analog(int slot, const nn::QNode& node, const Tensor& x, Tensor& acc) const override;
    std::vector<FloatVec> weights_;  // per analog node, [out_c][K]
};

// ADC calibration inputs: per analog node, input code vectors [n][K] of the ideal model on
// calibration images (array.adc_range = "calibration").
struct CalibrationInputs {
    std::vector<FloatVec> codes;  // per analog node
    std::vector<int> vectors;     // per analog node
};
// Runs the digital model on `n` images and keeps up to `max_vectors` input vectors per analog
// node (every patch of a conv, evenly strided when there are more).
CalibrationInputs calibration_inputs(const nn::QuantModel& model, const std::vector<int>& analog,
                                     const std::uint8_t* images, int n, int max_vectors = 8192);

// Array path. Layer inputs are integer codes: unsigned activations (0 … 2^b − 1) or the signed
// network input, applied as two reads (x⁺ then x⁻, each on the word lines as magnitudes) whose
// digital results are subtracted. Call begin_batch() before each batch: it names the batch's images
// for the conversion noise (array.read_window_s) and draws per-batch read noise. With
// chip.column_calibration (no IR drop, ideal ADC only) every read's bit lines are trimmed by the
// fit of a calibration read: the noise-free read, or with per-batch read noise the mean of
// chip.calibration_reads noisy reads of their own (calibration_read_key), as a macro calibrates once
// at a read condition and keeps the trims. The chip and the
// card must outlive the ArrayMvm unchanged: the exact solver reads their cells when it first needs
// a tile.
class ArrayMvm : public TrackedMvm {
public:
    ArrayMvm(const nn::QuantModel& model, const Chip& chip, const device::Card& card, const ChipSettings& settings,
             const ArraySettings& array, const CalibrationInputs* calibration, bool track_error);
    // The next batch starts at test image first_image (the key of its conversion noise); with per-
    // read noise, also a fresh read of every cell (RTN states, current noise).
    void begin_batch(std::uint64_t first_image);
    // Tiles whose cells the exact solver has built since the last read (ir = exact, or auto beyond
    // the fast models' range); the other tiles' cells are never copied.
    int cells_built() const;
    // Conv layers with the linear (or auto) IR model run on the image's conv panel, positions as
    // lanes (the default); false runs them per input vector through AnalogLayer::forward, the
    // reference path (tests compare the two).
    void set_panel_ir(bool on) { panel_ir_ = on; }

private:
    void analog(int slot, const nn::QNode& node, const Tensor& x, Tensor& acc) const override;
    // The tiles' operating points for one read (noisy: a fresh read keyed by read_key).
    void operating_points(std::size_t slot, bool noisy, std::uint64_t read_key, std::vector<array::TileOperatingPoint>& ops) const;
    void tile_operating_point(std::size_t slot, std::size_t tile, bool noisy, std::uint64_t read_key, array::TileOperatingPoint& op) const;
    // The same read's cells as the exact solver takes them, per tile on demand (AnalogLayer::set_cells).
    array::AnalogLayer::CellSource cell_source(std::size_t slot, bool noisy, std::uint64_t read_key) const;
    // Without IR drop a conv layer's ADC inputs are a convolution of its input codes with each
    // tile's difference currents: computed by nn::panel_gemm on the image's conv panel (no per-
    // vector patches), with the weights packed per tile by pack() after every new read.
    void pack(std::size_t slot);
    // chip.column_calibration: each bit line's fit (tiles in order, columns in order) on the
    // noise-free read `ops` or, with per-batch read noise, on the mean of chip.calibration_reads
    // noisy calibration reads; and its trim m ← (m − offset)/gain applied to a read's currents, in
    // weight units.
    std::vector<BitLineTrim> fit_trims(std::size_t slot, const std::vector<array::TileOperatingPoint>& ops) const;
    void apply_trims(std::size_t slot, std::vector<array::TileOperatingPoint>& ops) const;
    // analog() without naming the layer in its errors (analog does).
    void analog_layer(std::size_t slot, const nn::QNode& q, const Tensor& x, Tensor& acc) const;
    // Conv layers without IR drop (panel_gemm) or with the linear fast model (AnalogLayer::linear_lanes on
    // the panel's rows, kLanes positions at a time; an image whose drop the linear model cannot take
    // runs through analog_vectors).
    void analog_panel(std::size_t slot, const nn::QNode& q, const Tensor& x, Tensor& acc) const;
    // Images [i0, i0 + ni) through AnalogLayer::forward on their input vectors (patches), into acc.
    void analog_vectors(std::size_t slot, const nn::QNode& q, const Tensor& x, int i0, int ni, Tensor& acc) const;
    const Chip& chip_;
    const device::Card& card_;
    device::ReadConditions read_;
    ArraySettings array_;
    std::vector<array::AnalogLayer> layers_;  // per analog node
    std::vector<int> max_code_;               // per analog node: largest input code magnitude
    std::vector<bool> signed_input_;          // per analog node
    std::vector<std::string> names_;          // per analog node
    mutable std::vector<float> codes_, out_, part_, neg_;
    std::vector<std::vector<FloatVec>> packed_;  // IrModel::none: per analog node and tile, ΔI·(DAC scale) [adc][row] packed
    std::vector<std::vector<FloatVec>> packed_sums_;  // with conversion noise: the tiles' sums·(DAC scale), packed alike
    std::vector<std::uint64_t> noise_hash_;      // per analog node: hash_keys(layer key, {kConversionNoiseKey})
    std::vector<double> unit_a_;                 // per analog node: read_unit_current_a
    std::vector<std::vector<BitLineTrim>> trims_;  // per analog node: empty without chip.column_calibration
    ColumnCalibration calibration_ = ColumnCalibration::none;
    int calibration_reads_ = 1;
    std::uint64_t first_image_ = 0;
    mutable FloatVec image_, plane_, panel_, delta_, sums_, lanes_;
    mutable std::vector<std::ptrdiff_t> lane_rows_;  // row offsets of lanes_, [row][kLanes]
    bool panel_ir_ = true;
    mutable std::vector<float> rtn_, factor_;  // one tile's noisy read (sample_read_noise)
};

}  // namespace flashmc::mc
