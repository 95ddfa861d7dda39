#pragma once
// The read current of one NOR-Flash cell: an EKV-interpolated MOSFET whose weak-inversion limit is
// the subthreshold law used by NOR-Flash compute-in-memory chips, with temperature dependence.
// V_th values in flashmc are given at the card's reference temperature T_0 (iv.reference_temperature_c)
// unless a name says otherwise. Equations and sources: docs/physics.md §1.
#include <cmath>

#include "flashmc/core/fast_math.hpp"

#include "flashmc/core/units.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [iv]. each_field lists every key with its allowed range: the card loader and
// validate() both use it, so names and ranges live in one place (the same pattern in every
// parameter struct of the device module).
struct IvParams {
    static constexpr const char* section = "iv";
    double reference_temperature_c = 25.0;   // T_0: temperature at which V_th and I_0 are given
    double specific_current_a = 1e-6;        // I_0 at T_0 (EKV specific current)
    double slope_n = 1.5;                    // mean subthreshold slope factor n
    double vth_temp_coeff_v_per_k = 1e-3;    // κ in V_th(T) = V_th(T_0) − κ (T − T_0)
    double current_temp_exponent = 0.5;      // x in I_0(T) = I_0(T_0) (T / T_0)^x

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("reference_temperature_c", p.reference_temperature_c, Range{-60, 200});
        f("specific_current_a", p.specific_current_a, Range{1e-12, 1e-2});
        f("slope_n", p.slope_n, Range{1, 3});
        f("vth_temp_coeff_v_per_k", p.vth_temp_coeff_v_per_k, Range{-0.01, 0.01});
        f("current_temp_exponent", p.current_temp_exponent, Range{-3, 3});
    }
    void validate() const;
};

// softplus(y) = ln(1 + e^y) = max(y, 0) + ln(1 + e^−|y|), without overflow or loss of precision;
// branch-free, so per-cell loops over the I–V vectorize.
inline double softplus(double y) {
    const double a = y < 0.0 ? -y : y;
    return (y > 0.0 ? y : 0.0) + log1p_fast(exp_fast(-a));
}

// EKV interpolation function F(x) = ln²(1 + e^{x/2}); F → e^x in weak inversion, (x/2)² in strong
// (Enz, Krummenacher & Vittoz, Analog Integr. Circ. Sig. Process. 8:83–114, 1995).
inline double ekv_f(double x) {
    const double s = softplus(0.5 * x);
    return s * s;
}

// Normalized drain current I_D / I_0 = F(u) − F(u − V_DS/V_T), u = (V_GS − V_th)/(n V_T), source at 0
// (EKV forward minus reverse current). For u ≪ 0 it is e^u (1 − e^{−V_DS/V_T}): the subthreshold law.
inline double normalized_current(double u, double vds_over_vt) { return ekv_f(u) - ekv_f(u - vds_over_vt); }

// d ln(I_D/I_0) / du: 1 in weak inversion, smaller above threshold. Converts current noise to V_th.
double normalized_current_log_slope(double u, double vds_over_vt);

// u such that normalized_current(u, vds_over_vt) = ratio (> 0); monotone, solved by bisection.
double overdrive_for_current(double ratio, double vds_over_vt);

// V_th(T) = V_th(T_0) − κ (T − T_0): linear threshold-voltage temperature coefficient (assumed form;
// the usual first-order MOSFET model, e.g. BSIM KT1 term).
inline double vth_at_temperature_v(const IvParams& p, double vth_ref_v, double temperature_c) {
    return vth_ref_v - p.vth_temp_coeff_v_per_k * (temperature_c - p.reference_temperature_c);
}

// I_0(T) = I_0(T_0) (T/T_0)^x; EKV I_0 = 2 n μ C_ox (W/L) V_T² with μ ∝ T^{−1.5} gives x ≈ 0.5.
inline double specific_current_at_a(const IvParams& p, double temperature_c) {
    return p.specific_current_a *
           std::pow(units::kelvin(temperature_c) / units::kelvin(p.reference_temperature_c), p.current_temp_exponent);
}

// I_D = I_0(T) [F(u) − F(u − V_DS/V_T)], u = (V_GS − V_th(T)) / (n V_T), V_T = kT/q.
inline double drain_current_a(const IvParams& p, double vgs_v, double vds_v, double vth_ref_v, double slope_n,
                              double temperature_c) {
    const double vt = units::thermal_voltage_v(temperature_c);
    const double u = (vgs_v - vth_at_temperature_v(p, vth_ref_v, temperature_c)) / (slope_n * vt);
    return specific_current_at_a(p, temperature_c) * normalized_current(u, vds_v / vt);
}

// The V_th (at T_0) at which a cell with slope factor n draws `current_a` at (V_GS, V_DS, T): the
// inverse of drain_current_a in V_th.
double vth_for_current_v(const IvParams& p, double current_a, double vgs_v, double vds_v, double slope_n,
                         double temperature_c);

}  // namespace flashmc::device
