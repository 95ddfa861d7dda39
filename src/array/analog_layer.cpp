#include "flashmc/array/analog_layer.hpp"

#include <algorithm>
#include <cmath>

#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::array {

void AnalogParams::validate() const {
    mapping.validate();
    check_range("input_bits", input_bits, Range{1, 12});
    wires.validate();
    adc.validate();
}

namespace {
// ΔI of ADC a from the bit-line currents of one vector.
inline float difference(const float* bl, const TilePlacement& p, WeightMapping m, int a) {
    return m == WeightMapping::differential ? bl[2 * a] - bl[2 * a + 1] : bl[a] - bl[p.cols - 1];
}
}  // namespace

AnalogLayer::AnalogLayer(LayerMapping mapping, std::vector<TileOperatingPoint> ops, double unit_current_a,
                         const AnalogParams& params, const Streams& adc_streams)
    : mapping_(std::move(mapping)), ops_(std::move(ops)), unit_current_a_(unit_current_a), params_(params) {
    params_.validate();
    if (!(unit_current_a_ > 0)) fail("AnalogLayer: unit current must be positive, got ", unit_current_a_);
    if (ops_.size() != mapping_.tiles.size())
        fail("AnalogLayer: ", ops_.size(), " tile operating points for ", mapping_.tiles.size(), " tiles");
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        const TilePlacement& p = mapping_.tiles[t];
        if (ops_[t].rows != p.rows || ops_[t].cols != p.cols)
            fail("AnalogLayer: tile ", t, " has ", ops_[t].rows, " x ", ops_[t].cols, " cells, the mapping places ", p.rows,
                 " x ", p.cols);
        adc_.push_back(sample_adc_errors(params_.adc, p.outputs, adc_streams, t));
        // Full scale from the largest |Σ_i x_i ΔI_i| over x ∈ [0, 1]^rows: max(Σ ΔI⁺, Σ ΔI⁻).
        double fs = 0;
        for (int a = 0; a < p.outputs; ++a) {
            double pos = 0, neg = 0;
            for (int r = 0; r < p.rows; ++r) {
                const double d = difference(ops_[t].current_a.data() + ops_[t].index(r, 0), p, params_.mapping.mapping, a);
                (d > 0 ? pos : neg) += std::abs(d);
            }
            fs = std::max({fs, pos, neg});
        }
        full_scale_a_.push_back(fs > 0 ? fs : unit_current_a_);
    }
}

void AnalogLayer::set_operating_points(std::vector<TileOperatingPoint> ops) {
    if (ops.size() != ops_.size()) fail("AnalogLayer: ", ops.size(), " tile operating points for ", ops_.size(), " tiles");
    for (std::size_t t = 0; t < ops.size(); ++t)
        if (ops[t].rows != ops_[t].rows || ops[t].cols != ops_[t].cols)
            fail("AnalogLayer: tile ", t, " operating point is ", ops[t].rows, " x ", ops[t].cols, ", expected ", ops_[t].rows,
                 " x ", ops_[t].cols);
    ops_ = std::move(ops);
}

void AnalogLayer::tile_difference_currents(int t, const float* codes, int n, int plane, std::vector<float>& delta) const {
    const TilePlacement& p = mapping_.tiles[t];
    const TileOperatingPoint& op = ops_[t];
    const int top = (1 << params_.input_bits) - 1;
    std::vector<float> x(static_cast<std::size_t>(n) * p.rows), y, bl(static_cast<std::size_t>(n) * p.cols);
    const bool pulse = params_.encoding == InputEncoding::pulse_width;
    if (pulse && params_.ir == IrModel::fast) y.resize(x.size());
    for (int v = 0; v < n; ++v)
        for (int r = 0; r < p.rows; ++r) {
            const float c = codes[static_cast<std::size_t>(v) * mapping_.inputs + p.row_begin + r];
            if (!(c >= 0.0f && c <= static_cast<float>(top)))
                fail("AnalogLayer: input code ", c, " (vector ", v, ", input ", p.row_begin + r, ") is out of range [0, ",
                     top, "]");
            const std::size_t k = static_cast<std::size_t>(v) * p.rows + r;
            if (pulse) {
                x[k] = c / static_cast<float>(top);
            } else {
                x[k] = static_cast<float>((static_cast<int>(c) >> plane) & 1);
            }
        }
    if (!y.empty())
        for (int v = 0; v < n; ++v)
            pulse_drop_factors_codes(codes + static_cast<std::size_t>(v) * mapping_.inputs + p.row_begin, p.rows, top,
                                     y.data() + static_cast<std::size_t>(v) * p.rows);
    if (params_.ir == IrModel::fast)
        fast_ir_mvm(op, x.data(), y.empty() ? nullptr : y.data(), n, bl.data(), params_.fast);
    else
        ideal_mvm(op, x.data(), n, bl.data());
    delta.resize(static_cast<std::size_t>(n) * p.outputs);
    for (int v = 0; v < n; ++v)
        for (int a = 0; a < p.outputs; ++a)
            delta[static_cast<std::size_t>(v) * p.outputs + a] =
                difference(bl.data() + static_cast<std::size_t>(v) * p.cols, p, params_.mapping.mapping, a);
}

void AnalogLayer::calibrate(const float* codes, int n) {
    const int planes = params_.encoding == InputEncoding::pulse_width ? 1 : params_.input_bits;
    std::vector<float> delta;
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        double worst = 0;
        for (int b = 0; b < planes; ++b) {
            tile_difference_currents(static_cast<int>(t), codes, n, b, delta);
            for (float d : delta) worst = std::max(worst, static_cast<double>(std::abs(d)));
        }
        if (worst > 0) full_scale_a_[t] = params_.adc.calibration_margin * worst;
    }
}

void AnalogLayer::forward(const float* codes, int n, float* out, AdcStats* stats) const {
    std::fill(out, out + static_cast<std::size_t>(n) * mapping_.outputs, 0.0f);
    const bool pulse = params_.encoding == InputEncoding::pulse_width;
    const int planes = pulse ? 1 : params_.input_bits;
    const int top = (1 << params_.input_bits) - 1;
    const int bits = params_.adc.bits;
    AdcStats st;
    std::vector<float> delta;
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        const TilePlacement& p = mapping_.tiles[t];
        const AdcErrors& e = adc_[t];
        const double lsb = bits == 0 ? full_scale_a_[t] : full_scale_a_[t] / double((1L << (bits - 1)) - 1);
        for (int b = 0; b < planes; ++b) {
            tile_difference_currents(static_cast<int>(t), codes, n, b, delta);
            // Digital side: code·LSB in weight units, times the activation scale of this conversion.
            const double scale = lsb / unit_current_a_ * (pulse ? top : double(1 << b));
            for (int v = 0; v < n; ++v)
                for (int a = 0; a < p.outputs; ++a) {
                    bool clipped = false;
                    const double code = adc_convert(delta[static_cast<std::size_t>(v) * p.outputs + a], lsb, bits,
                                                    e.gain[a], e.offset_lsb[a], e.sense_offset_a[a], clipped);
                    st.clipped += clipped;
                    out[static_cast<std::size_t>(v) * mapping_.outputs + p.out_begin + a] += static_cast<float>(code * scale);
                }
            st.conversions += static_cast<long>(n) * p.outputs;
        }
    }
    if (stats) *stats += st;
}

}  // namespace flashmc::array
