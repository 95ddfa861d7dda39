#include "flashmc/device/iv.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/device/params.hpp"

namespace flashmc::device {

void IvParams::validate() const { validate_fields(*this); }

namespace {
// dF/dx = ln(1 + e^{x/2}) · σ(x/2), σ the logistic function.
double ekv_f_prime(double x) { return softplus(0.5 * x) / (1.0 + std::exp(-0.5 * x)); }
}  // namespace

double normalized_current_log_slope(double u, double vds_over_vt) {
    const double g = normalized_current(u, vds_over_vt);
    if (!(g > 0.0)) return 1.0;  // underflow: deep weak inversion, where the slope is 1
    return (ekv_f_prime(u) - ekv_f_prime(u - vds_over_vt)) / g;
}

double overdrive_for_current(double ratio, double vds_over_vt) {
    if (!(ratio > 0.0) || !(vds_over_vt > 0.0))
        fail("overdrive_for_current: needs a positive current ratio and V_DS, got ", ratio, " and ", vds_over_vt);
    // F(x) <= e^x, so normalized_current(u) <= e^u: the root lies above ln(ratio).
    double lo = std::log(ratio) - 1.0;
    double hi = std::max(lo, 0.0) + 10.0;
    while (normalized_current(hi, vds_over_vt) < ratio) hi = 2.0 * hi + 10.0;
    for (int it = 0; it < 200 && hi - lo > 1e-14 * std::max(1.0, std::abs(hi)); ++it) {
        const double mid = 0.5 * (lo + hi);
        (normalized_current(mid, vds_over_vt) < ratio ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

double vth_for_current_v(const IvParams& p, double current_a, double vgs_v, double vds_v, double slope_n,
                         double temperature_c) {
    const double vt = units::thermal_voltage_v(temperature_c);
    const double u = overdrive_for_current(current_a / specific_current_at_a(p, temperature_c), vds_v / vt);
    const double vth_t = vgs_v - slope_n * vt * u;
    return vth_t + p.vth_temp_coeff_v_per_k * (temperature_c - p.reference_temperature_c);
}

}  // namespace flashmc::device
