#include "flashmc/device/levels.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/device/params.hpp"

namespace flashmc::device {

void LevelParams::validate() const { validate_fields(*this); }

LevelTargets level_targets(const IvParams& iv, const LevelParams& levels, double verify_temperature_c) {
    LevelTargets t;
    t.verify_temperature_c = verify_temperature_c;
    t.thermal_voltage_v = units::thermal_voltage_v(verify_temperature_c);
    t.read_vgs_v = levels.read_vgs_v;
    t.vth_shift_v = iv.vth_temp_coeff_v_per_k * (verify_temperature_c - iv.reference_temperature_c);
    const double i0 = specific_current_at_a(iv, verify_temperature_c);
    const double d = levels.read_vds_v / t.thermal_voltage_v;
    for (int k = 0; k <= levels.max_level(); ++k) {
        // Level 0: V_th = V_GS + m·n·V_T, i.e. u* = −m; level k: I_k = k·I_unit.
        const double u = k == 0 ? -levels.off_margin_nvt : overdrive_for_current(k * levels.unit_current_a / i0, d);
        t.overdrive_u.push_back(u);
        t.current_a.push_back(i0 * normalized_current(u, d));
        t.log_slope.push_back(normalized_current_log_slope(u, d));
    }
    if (t.overdrive_u[1] <= t.overdrive_u[0])
        fail("levels.unit_current_a = ", levels.unit_current_a, " A lies at or below the off level (",
             t.current_a[0], " A at ", verify_temperature_c, " °C, levels.off_margin_nvt = ", levels.off_margin_nvt,
             "): level 1 must read more than level 0");
    return t;
}

}  // namespace flashmc::device
