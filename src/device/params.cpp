// validate() of the parameter structs whose checks are their ranges alone.
#include "flashmc/device/cycling.hpp"
#include "flashmc/device/params.hpp"
#include "flashmc/device/read_noise.hpp"
#include "flashmc/device/retention.hpp"
#include "flashmc/device/variation.hpp"

#include <cmath>

namespace flashmc::device {

void VariationParams::validate() const { validate_fields(*this); }
void CyclingParams::validate() const { validate_fields(*this); }
void RetentionParams::validate() const { validate_fields(*this); }
void ReadNoiseParams::validate() const { validate_fields(*this); }

// σ × (1 + g r^p), ΔV = s r^p, λ × (1 + g r^p), β × (1 + g r^p) with r = N / N_ref.
Wear wear_after(const CyclingParams& p, double cycles) {
    Wear w;
    if (cycles <= 0.0) return w;
    const double r = cycles / p.reference_cycles;
    w.sigma_factor = 1.0 + p.sigma_growth * std::pow(r, p.sigma_exponent);
    w.window_shift_v = p.window_shift_v * std::pow(r, p.window_exponent);
    w.rtn_factor = 1.0 + p.rtn_growth * std::pow(r, p.rtn_exponent);
    w.beta_factor = 1.0 + p.retention_growth * std::pow(r, p.retention_exponent);
    return w;
}

}  // namespace flashmc::device
