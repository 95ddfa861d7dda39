#pragma once
// One analog layer on its tiles, for the Monte Carlo engine (docs/array.md §6):
//   DAC (pulse-width or bit-serial) → cell currents with IR drop → per-pair ADC → digital sum.
// Typical use, per (trial, layer):
//   LayerMapping m = map_layer(K, out_c, params.mapping);
//   for each tile t: levels = tile_levels(m, weights, t) → device::sample_cells / program / age
//                    (Grid{tile.rows, tile.cols}, own first_cell range) → TileCells{vth_v, slope_n}
//                    → ops[t] = operating_point(card.iv, cells, read, params.wires)
//   AnalogLayer layer(m, std::move(ops), card.levels.unit_current_a, params, adc_streams);
//   [layer.calibrate(calibration_codes, n) when params.adc.calibration == calibration]
//   layer.forward(codes, n, out, &stats);   // out ≈ Σ_j W[o][j]·code_j, the integer accumulator
// forward() is const and thread-safe: call it from many threads on different batches.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "flashmc/array/adc.hpp"
#include "flashmc/array/encoding.hpp"
#include "flashmc/array/ir_fast.hpp"
#include "flashmc/array/mapping.hpp"

namespace flashmc::array {

// none: no wire resistance; fast: ir_fast.hpp's models on the operating points; exact: the Newton
// ladder solver (ir_exact.hpp) per input vector, on the cells given by set_cells (small studies).
enum class IrModel { none, fast, exact };

struct AnalogParams {
    MappingParams mapping;
    InputEncoding encoding = InputEncoding::pulse_width;
    int input_bits = 4;             // activation codes 0 … 2^B − 1
    WireParams wires;               // used by operating_point(); IrModel::none ignores the drop
    IrModel ir = IrModel::fast;
    FastIrOptions fast;
    AdcParams adc;
    // T (s): the read window over which a bit line integrates its charge, the full-scale input pulse
    // (pulse width) or each cycle (bit-serial). > 0 adds the white channel noise of every
    // conversion (device::shot_noise_sigma_a); 0 leaves it out.
    double read_window_s = 0.0;
    void validate() const;
};
// Whether a layer with these parameters may run the exact solver and so needs its tiles' cells
// (AnalogLayer::set_cells): ir = exact, or the auto fast model beyond the fast models' range.
inline bool uses_exact_solver(const AnalogParams& p) {
    return p.ir == IrModel::exact || (p.ir == IrModel::fast && p.fast.model == FastIrModel::automatic);
}

// Names the conversions of a forward() call for their white noise: input vector v is position
// (first_vector + v) % per_image of image (first_vector + v) / per_image, whose draws come from
// hash_key(hash, image) (add_conversion_noise).
struct ConversionKey {
    std::uint64_t hash = 0;
    std::uint64_t first_vector = 0;
    int per_image = 1;
};
// Stream key of the conversion noise under a layer's key: hash_keys(layer_key, {kConversionNoiseKey, read}).
inline constexpr std::uint64_t kConversionNoiseKey = 0xC0A7;

class AnalogLayer {
public:
    // ops[t]: tile t's operating point (rows × cols of mapping.tiles[t]). unit_current_a converts
    // currents to weight units (the level spacing I_unit). ADC errors of tile t, ADC a come from
    // adc_streams.at({kAdcStreamKey, t, a}).
    // shot_noise_factor: the cells' F (device::ReadNoiseParams), used when params.read_window_s > 0.
    AnalogLayer(LayerMapping mapping, std::vector<TileOperatingPoint> ops, double unit_current_a,
                const AnalogParams& params, const Streams& adc_streams, double shot_noise_factor = 1.0);

    // Sets each tile's full scale from the largest |ΔI| over these inputs (codes [n][K]) times
    // adc.calibration_margin. Only meaningful with RangeCalibration::calibration.
    void calibrate(const float* codes, int n);

    // Replaces the tiles' operating points (e.g. a fresh noisy read of the same cells), keeping
    // the ADC errors and full scales.
    void set_operating_points(std::vector<TileOperatingPoint> ops);
    // Hands the operating points back (leaving none), so that a new read can refill their buffers
    // before set_operating_points.
    std::vector<TileOperatingPoint> release_operating_points() {
        std::vector<TileOperatingPoint> ops;
        ops.swap(ops_);
        return ops;
    }
    // The tiles' cells (as mapped) and their read conditions, for the exact solver: needed by
    // IrModel::exact; with the auto fast model, a chunk of input vectors whose drop is beyond the
    // fast models' range then runs the exact solver (without them auto stops there, as the others).
    // source(t) builds tile t's cells when the exact solver first reaches tile t (once per tile, also
    // under concurrent forward() calls), so a tile that never leaves the fast models' range costs
    // neither the time nor the memory. The source may be called concurrently for different tiles,
    // must return the same cells whenever it is called for a tile, and is called again for a tile
    // whose call threw. The vector form hands every tile's cells at once (checked here).
    using CellSource = std::function<TileCells(int tile)>;
    void set_cells(const device::IvParams& iv, const device::ReadConditions& read, CellSource source);
    void set_cells(const device::IvParams& iv, const device::ReadConditions& read, std::vector<TileCells> cells);
    // How many tiles' cells have been built (set_cells' source called) since the last set_cells.
    int cells_built() const;

    // codes [n][K] (integer-valued activation codes) → out [n][outputs] in accumulator units
    // (weight code × activation code). stats (if given) receives the conversions and clips.
    // With IrModel::fast, a bit line whose drop (ideal − modelled)/ideal exceeds the fast model's
    // validated range (fast_model_max_drop) throws, naming the tile, the drop and the remedies:
    // no result is computed outside the range. With params.read_window_s > 0 every conversion gets
    // its white noise, drawn as `key` names it (required then).
    void forward(const float* codes, int n, float* out, AdcStats* stats = nullptr, const ConversionKey* key = nullptr) const;

    // Whether conversions carry white noise (params.read_window_s > 0).
    bool conversion_noise() const { return params_.read_window_s > 0; }
    // Tile t's bit-line current sums per row, [row][sum_columns(t)], for the conversion noise:
    // column a < outputs is ADC a's I⁺ + I⁻ (differential) or its column's current (offset), and the
    // offset mapping's last column the reference column's. Empty unless conversion_noise().
    const std::vector<float>& tile_sums(int t) const { return sum_[t]; }
    int sum_columns(int t) const;
    // Adds the white noise of tile t's conversions in cycle `plane` (pulse width: 0) of one image,
    // at positions first_position … first_position + n − 1, to the ADC inputs delta(v, a) =
    // delta[v·dv + a·da], given the duty-weighted sums s(v, c) = sums[v·sv + c·sc] of the columns of
    // tile_sums (Σ_i x_i·sum_ic). Differential: ΔI_a += σ(s_a)·z_a; offset: ΔI_a += σ(s_a)·z_a −
    // σ(s_ref)·z_ref, the reference column's noise shared by the tile's ADCs; σ(s) =
    // device::shot_noise_sigma_a(F, s, T). Normals: draw_normal_pair(hash_key(hash_key(image_hash,
    // t), plane), position·⌈(sum columns)/2⌉ + c/2), first for even c, second for odd.
    void add_conversion_noise(int t, int plane, std::uint64_t image_hash, std::uint64_t first_position, int n,
                              const float* sums, std::ptrdiff_t sv, std::ptrdiff_t sc, float* delta, std::ptrdiff_t dv,
                              std::ptrdiff_t da) const;

    // The analog bit-line difference currents of one tile before the ADC, [n][adcs of tile t]
    // (pulse-width: period-averaged; bit-serial: cycle `plane`).
    void tile_difference_currents(int t, const float* codes, int n, int plane, std::vector<float>& delta_a) const;

    // The conv panel path with IR drop (ArrayMvm): whether this layer's model runs on input vectors
    // held as lanes: the fast model, linear or auto, on wiring inside the fast models' range.
    bool lanes_linear() const;
    // Tile t's ADC inputs for up to kLanes input vectors held as lanes: values[off[i] + j] is tile
    // row i's DAC input in vector j (pulse width: the code; bit-serial: the bit of the cycle; a conv
    // panel's rows), a valid input (e.g. 0) in lanes j ≥ n too. Writes delta[a·ld + j] and, with conversion noise, the column sums sums[c·ld + j]
    // for j < n, the same bits as forward()'s linear pass on those vectors, and returns the largest
    // first-order drop of a bit line. Whether the result stands is for linear_lanes_stand to say.
    float linear_lanes(int t, const float* values, const std::ptrdiff_t* off, int n, float* delta, float* sums,
                       std::size_t ld) const;
    // Whether forward() would keep the linear result at this first-order drop: linear inside its
    // range; auto below its switch to feedback. Otherwise run the vectors through forward().
    bool linear_lanes_stand(float drop) const;

    // Throws unless each of the `count` codes is an integer in [0, 2^input_bits − 1].
    void check_codes(const float* codes, std::size_t count) const;
    // Tile t's difference currents ΔI_i = I⁺_i − I⁻_i, [row][adc]: without IR drop an ADC reads
    // Σ_i x_i ΔI_i, which a caller may compute as a GEMM in its own layout and hand to convert().
    const std::vector<float>& tile_differences(int t) const { return diff_[t]; }
    // DAC input of code c: c/(2^B − 1) for pulse width, 1 for bit-serial (x = bit `plane` of c).
    float input_scale() const;
    // The ADCs of tile t on n vectors: delta(v, a) = delta[v·dv + a·da] (bit-serial: cycle `plane`)
    // to codes (adc_convert), whose digital value in accumulator units, times sign, is added to
    // out(v, o) = out[v·ov + o·oa] at o = out_begin + a.
    void convert(int t, int plane, const float* delta, int n, std::ptrdiff_t dv, std::ptrdiff_t da, float* out,
                 std::ptrdiff_t ov, std::ptrdiff_t oa, double sign, AdcStats& stats) const;

    const LayerMapping& mapping() const { return mapping_; }
    MappingReport report() const { return mapping_.report(); }
    double full_scale_a(int t) const { return full_scale_a_[t]; }
    const AdcErrors& adc_errors(int t) const { return adc_[t]; }

private:
    // ΔI of tile t for n ≤ kVectorChunk vectors (codes [n][K]) into delta [n][adcs of tile t]; with
    // sums, also the duty-weighted column sums [n][sum_columns(t)] (conversion noise).
    void chunk_differences(int t, const float* codes, int n, int plane, float* delta, float* sums = nullptr) const;
    LayerMapping mapping_;
    std::vector<TileOperatingPoint> ops_;
    std::vector<std::vector<float>> diff_;  // per tile: ΔI_i per row and ADC, [row][adc]
    std::vector<std::vector<float>> sum_;   // per tile, with conversion noise: tile_sums
    // Tile t's cells for the exact solver, built by cell_source_ on first use.
    const TileCells& tile_cells(int t) const;
    void check_cells(int t, const TileCells& c) const;  // valid, and shaped as tile t is placed
    struct LazyCells {
        std::once_flag once;
        std::atomic<bool> built{false};
        TileCells cells;
    };
    device::IvParams iv_;  // the exact solver's cells (lazily, per tile) and their read conditions
    device::ReadConditions read_;
    CellSource cell_source_;
    std::vector<std::unique_ptr<LazyCells>> cells_;

    double unit_current_a_;
    double shot_noise_factor_;
    AnalogParams params_;
    std::vector<AdcErrors> adc_;
    std::vector<double> full_scale_a_;
};

}  // namespace flashmc::array
