#pragma once
// Column ADCs (docs/array.md §5): one per differential pair (or per column against the reference
// column), converting the signed difference current ΔI with a symmetric range ±FS into codes
// −(2^(B−1) − 1) … 2^(B−1) − 1, LSB = FS / (2^(B−1) − 1). Static, per-chip errors of ADC a:
// gain (1 + g_a), offset o_a (LSB) and a sense-amplifier input offset s_a (A), all Gaussian:
//   code = clamp(round(((1 + g_a)·ΔI + s_a) / LSB + o_a)).
// A conversion that had to be clamped is counted as clipped. FS is calibrated per tile: from the
// largest |ΔI| any input can produce, or from the largest |ΔI| over calibration inputs.
#include <cmath>
#include <cstdint>
#include <vector>

#include "flashmc/core/rng.hpp"

namespace flashmc::array {

enum class RangeCalibration { max_current, calibration };

struct AdcParams {
    int bits = 8;                       // B; 0: ideal (no quantization, no clipping, no errors)
    RangeCalibration calibration = RangeCalibration::max_current;
    double calibration_margin = 1.0;    // FS = margin · max |ΔI| over the calibration inputs
    double gain_sigma_rel = 0.0;        // σ of g_a
    double offset_sigma_lsb = 0.0;      // σ of o_a
    double sense_offset_sigma_a = 0.0;  // σ of s_a
    void validate() const;
};

// Per-ADC static errors of one tile.
struct AdcErrors {
    std::vector<float> gain;          // g_a
    std::vector<float> offset_lsb;    // o_a
    std::vector<float> sense_offset_a;  // s_a
};

// Stream key of ADC a of tile t: streams.at({kAdcStreamKey, t, a}).
inline constexpr std::uint64_t kAdcStreamKey = 0xADC;
AdcErrors sample_adc_errors(const AdcParams& params, int adcs, const Streams& streams, std::uint64_t tile);

struct AdcStats {
    long conversions = 0;
    long clipped = 0;
    AdcStats& operator+=(const AdcStats& o) {
        conversions += o.conversions, clipped += o.clipped;
        return *this;
    }
};

// One conversion; returns the code as a real (an integer unless bits = 0) in LSB units.
inline double adc_convert(double delta_i_a, double lsb_a, int bits, double gain, double offset_lsb,
                          double sense_offset_a, bool& clipped) {
    clipped = false;
    if (bits == 0) return delta_i_a / lsb_a;
    const double top = static_cast<double>((1L << (bits - 1)) - 1);
    const double code = std::nearbyint(((1.0 + gain) * delta_i_a + sense_offset_a) / lsb_a + offset_lsb);
    if (code > top) return clipped = true, top;
    if (code < -top) return clipped = true, -top;
    return code;
}

}  // namespace flashmc::array
