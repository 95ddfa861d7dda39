#include "flashmc/array/circuit.hpp"

#include <cmath>

#include "flashmc/core/error.hpp"
#include "flashmc/core/units.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::array {

void WireParams::validate() const {
    check_range("r_bl_ohm", r_bl_ohm, Range{0, 1e6});
    check_range("r_sl_ohm", r_sl_ohm, Range{0, 1e6});
}

void TileCells::validate() const {
    if (rows < 1 || cols < 1) fail("tile cells: rows and cols must be positive, got ", rows, " x ", cols);
    const auto n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
    if (vth_v.size() != n || slope_n.size() != n)
        fail("tile cells: ", rows, " x ", cols, " tile needs ", n, " V_th and slope values, got ", vth_v.size(), " and ",
             slope_n.size());
    if (!current_factor.empty() && current_factor.size() != n)
        fail("tile cells: ", rows, " x ", cols, " tile needs ", n, " current factors (or none), got ", current_factor.size());
    for (std::size_t i = 0; i < current_factor.size(); ++i)
        if (!(current_factor[i] >= 0.0f && std::isfinite(current_factor[i])))
            fail("tile cells: current factor of row ", i % rows, ", column ", i / rows, " = ", current_factor[i],
                 " is not a finite value >= 0");
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(vth_v[i]))
            fail("tile cells: V_th of row ", i % rows, ", column ", i / rows, " is not finite");
        if (!(slope_n[i] >= 1.0f && slope_n[i] <= 10.0f))
            fail("tile cells: slope n of row ", i % rows, ", column ", i / rows, " = ", slope_n[i],
                 " is out of range [1, 10]");
    }
}

namespace {
double logistic(double z) { return 1.0 / (1.0 + std::exp(-z)); }
// dF/dx = ln(1 + e^{x/2}) · σ(x/2) for F(x) = ln²(1 + e^{x/2}).
double ekv_f_prime(double x) { return device::softplus(0.5 * x) * logistic(0.5 * x); }
}  // namespace

CellSmallSignal cell_small_signal(const device::IvParams& iv, double vgs_v, double vds_v, double vth_ref_v,
                                  double slope_n, double temperature_c) {
    const double vt = units::thermal_voltage_v(temperature_c);
    const double nvt = slope_n * vt;
    const double u = (vgs_v - device::vth_at_temperature_v(iv, vth_ref_v, temperature_c)) / nvt;
    const double w = u - vds_v / vt;
    const double i0 = device::specific_current_at_a(iv, temperature_c);
    const double fu = ekv_f_prime(u), fw = ekv_f_prime(w);
    return {device::drain_current_a(iv, vgs_v, vds_v, vth_ref_v, slope_n, temperature_c), i0 * (fu - fw) / nvt,
            i0 * fw / vt};
}

}  // namespace flashmc::array
