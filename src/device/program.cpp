#include "flashmc/device/program.hpp"

#include <algorithm>
#include <cmath>

#include "flashmc/core/error.hpp"
#include "flashmc/device/params.hpp"

namespace flashmc::device {

void EraseParams::validate() const {
    validate_fields(*this);
    if (verify_vth_v < mean_vth_v)
        fail("erase.verify_vth_v = ", verify_vth_v, " must not lie below erase.mean_vth_v = ", mean_vth_v,
             " (the erase verify would reject most of the erased distribution)");
}

void ProgramParams::validate() const {
    validate_fields(*this);
    if (double_verify() && coarse_margin_v < coarse_step_v)
        fail("program.coarse_margin_v = ", coarse_margin_v, " must be at least program.coarse_step_v = ", coarse_step_v,
             " (the coarse ladder must stop below the target)");
}

double ispp_overshoot_v(double step_v, double sigma_v, Stream& rng) {
    const double u = rng.uniform();
    if (sigma_v <= 0.0) return u * step_v;
    const double m = step_v + sigma_v * sigma_v / step_v;
    double x;
    for (;;) {
        x = m + sigma_v * rng.normal();
        if (x <= 0.0) continue;
        const double r = x / step_v, u_accept = rng.uniform();
        // Squeeze (saves the exp in most draws, same decisions): with d = r − 1,
        // r·e^{1−r} = e^{ln(1+d) − d} ≥ 1 − d²/(2·min(1, 1+d)) for r > 0; 1e-12 covers rounding.
        const double d = r - 1.0;
        if (u_accept < 1.0 - d * d / (2.0 * std::min(1.0, r)) - 1e-12 || u_accept < r * std::exp(1.0 - r)) break;
    }
    return u * x;
}

}  // namespace flashmc::device
