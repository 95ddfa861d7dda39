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
#include <cstdint>
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
    void validate() const;
};

class AnalogLayer {
public:
    // ops[t]: tile t's operating point (rows × cols of mapping.tiles[t]). unit_current_a converts
    // currents to weight units (the level spacing I_unit). ADC errors of tile t, ADC a come from
    // adc_streams.at({kAdcStreamKey, t, a}).
    AnalogLayer(LayerMapping mapping, std::vector<TileOperatingPoint> ops, double unit_current_a,
                const AnalogParams& params, const Streams& adc_streams);

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
    // IrModel::exact: the cells of every tile (as mapped) and their read conditions, for the solver.
    void set_cells(const device::IvParams& iv, const device::ReadConditions& read, std::vector<TileCells> cells);

    // codes [n][K] (integer-valued activation codes) → out [n][outputs] in accumulator units
    // (weight code × activation code). stats (if given) receives the conversions and clips.
    // With IrModel::fast, a bit line whose drop (ideal − modelled)/ideal exceeds the fast model's
    // validated range (fast_model_max_drop) throws, naming the tile, the drop and the remedies:
    // no result is computed outside the range.
    void forward(const float* codes, int n, float* out, AdcStats* stats = nullptr) const;

    // The analog bit-line difference currents of one tile before the ADC, [n][adcs of tile t]
    // (pulse-width: period-averaged; bit-serial: cycle `plane`).
    void tile_difference_currents(int t, const float* codes, int n, int plane, std::vector<float>& delta_a) const;

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
    // ΔI of tile t for n ≤ kVectorChunk vectors (codes [n][K]) into delta [n][adcs of tile t].
    void chunk_differences(int t, const float* codes, int n, int plane, float* delta) const;
    LayerMapping mapping_;
    std::vector<TileOperatingPoint> ops_;
    std::vector<std::vector<float>> diff_;  // per tile: ΔI_i per row and ADC, [row][adc]
    device::IvParams iv_;                   // IrModel::exact: the cells and their read conditions
    device::ReadConditions read_;
    std::vector<TileCells> cells_;

    double unit_current_a_;
    AnalogParams params_;
    std::vector<AdcErrors> adc_;
    std::vector<double> full_scale_a_;
};

}  // namespace flashmc::array
