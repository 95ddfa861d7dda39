// validate() of the parameter structs whose checks are their ranges alone.
#include "flashmc/device/cycling.hpp"
#include "flashmc/device/params.hpp"
#include "flashmc/device/program_disturb.hpp"
#include "flashmc/device/read_disturb.hpp"
#include "flashmc/device/read_noise.hpp"
#include "flashmc/device/retention.hpp"
#include "flashmc/device/variation.hpp"

#include <algorithm>
#include <cmath>

#include "flashmc/core/error.hpp"

namespace flashmc::device {

void VariationParams::validate() const { validate_fields(*this); }
void CyclingParams::validate() const { validate_fields(*this); }
void RetentionParams::validate() const { validate_fields(*this); }
void ReadNoiseParams::validate() const { validate_fields(*this); }
void ReadDisturbParams::validate() const { validate_fields(*this); }
void ProgramDisturbParams::validate() const { validate_fields(*this); }

std::vector<double> poisson_cdf(double mean) {
    if (!(mean >= 0.0 && mean <= 1e4)) fail("poisson_cdf: mean ", mean, " is out of range [0, 1e4]");
    std::vector<double> table;
    // Terms p_k = p_{k−1}·mean/k in log space, so that e^−mean may underflow for large means.
    double cdf = 0.0, log_p = -mean;
    for (int k = 0;; ++k) {
        if (k > 0) log_p += std::log(mean / k);
        cdf += std::exp(log_p);
        table.push_back(std::min(cdf, 1.0));
        if (cdf >= 1.0 || (k > mean && log_p < -40.0)) break;
    }
    return table;
}

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
