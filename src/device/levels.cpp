#include "flashmc/device/levels.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/device/params.hpp"

namespace flashmc::device {

void LevelParams::validate() const { validate_fields(*this); }

OffCurrent parse_off_current(const std::string& s) {
    if (s == "compensated") return OffCurrent::compensated;
    if (s == "ignored") return OffCurrent::ignored;
    fail("off current '", s, "' is not one of: compensated, ignored");
}

const char* off_current_name(OffCurrent o) { return o == OffCurrent::compensated ? "compensated" : "ignored"; }

LevelTargets level_targets(const IvParams& iv, const LevelParams& levels, double verify_temperature_c, OffCurrent off) {
    LevelTargets t;
    t.verify_temperature_c = verify_temperature_c;
    t.thermal_voltage_v = units::thermal_voltage_v(verify_temperature_c);
    t.read_vgs_v = levels.read_vgs_v;
    t.vth_shift_v = iv.vth_temp_coeff_v_per_k * (verify_temperature_c - iv.reference_temperature_c);
    const double i0 = specific_current_at_a(iv, verify_temperature_c);
    const double d = levels.read_vds_v / t.thermal_voltage_v;
    // Level 0: V_th = V_GS + m·n·V_T, i.e. u* = −m; level k: I_k = I_off + k·I_unit (compensated)
    // or k·I_unit (ignored).
    const double i_off = i0 * normalized_current(-levels.off_margin_nvt, d);
    if (levels.unit_current_a <= i_off)
        fail("levels.unit_current_a = ", levels.unit_current_a, " A lies at or below the off level (", i_off, " A at ",
             verify_temperature_c, " °C, levels.off_margin_nvt = ", levels.off_margin_nvt,
             "): a unit step must read more than the off current");
    const double base = off == OffCurrent::compensated ? i_off : 0.0;
    for (int k = 0; k <= levels.max_level(); ++k) {
        const double u = k == 0 ? -levels.off_margin_nvt : overdrive_for_current((base + k * levels.unit_current_a) / i0, d);
        t.overdrive_u.push_back(u);
        t.current_a.push_back(i0 * normalized_current(u, d));
        t.log_slope.push_back(normalized_current_log_slope(u, d));
    }
    return t;
}

}  // namespace flashmc::device
