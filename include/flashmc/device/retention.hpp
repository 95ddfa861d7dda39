#pragma once
// Retention: charge loss from the floating gate (docs/physics.md §5),
//   ΔV_th(t, T) = −(V_th − V_th,neutral) · β · ln(1 + AF(T)·t/τ_0),
//   AF(T) = exp[(E_a/k)(1/T_ref − 1/T)],
// β per cell lognormal, with an extrinsic tail of cells with a larger β. Bakes at different
// temperatures compose through the equivalent time at T_ref, t_eq = Σ AF(T_i)·t_i.
#include <algorithm>
#include <cmath>

#include "flashmc/core/units.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [retention].
struct RetentionParams {
    static constexpr const char* section = "retention";
    double activation_energy_ev = 1.1;   // E_a
    double reference_temperature_c = 25; // T_ref of AF
    double tau0_s = 1.7e3;               // τ_0
    double neutral_vth_v = 1.0;          // V_th with no net floating-gate charge (before the cell's δ)
    double beta_median = 0.002;          // median β
    double beta_sigma_ln = 0.3;          // σ of ln β
    double tail_fraction = 1e-3;         // fraction of extrinsic (fast charge loss) cells
    double tail_beta_factor = 10;        // their β multiplier

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("activation_energy_ev", p.activation_energy_ev, Range{0, 3});
        f("reference_temperature_c", p.reference_temperature_c, Range{-60, 200});
        f("tau0_s", p.tau0_s, Range{1e-12, 1e12});
        f("neutral_vth_v", p.neutral_vth_v, Range{-10, 10});
        f("beta_median", p.beta_median, Range{0, 1});
        f("beta_sigma_ln", p.beta_sigma_ln, Range{0, 3});
        f("tail_fraction", p.tail_fraction, Range{0, 1});
        f("tail_beta_factor", p.tail_beta_factor, Range{1, 1e4});
    }
    void validate() const;
};

// Arrhenius acceleration factor AF(T) = exp[(E_a/k)(1/T_ref − 1/T)] (JEDEC JESD22-A117 usage).
inline double acceleration_factor(const RetentionParams& p, double temperature_c) {
    return std::exp(p.activation_energy_ev / units::boltzmann_ev_per_k *
                    (1.0 / units::kelvin(p.reference_temperature_c) - 1.0 / units::kelvin(temperature_c)));
}

// Fraction of the stored charge lost after an equivalent time t_eq at T_ref: β·ln(1 + t_eq/τ_0),
// capped at 1 (charge loss ends at the neutral V_th; the log law does not hold past it). The
// time factor ln(1 + t_eq/τ_0) is common to all cells of an array: loss_time_factor.
inline double loss_time_factor(double equivalent_time_s, double tau0_s) { return std::log1p(equivalent_time_s / tau0_s); }
inline double charge_loss_fraction(double beta, double time_factor) { return std::min(1.0, beta * time_factor); }
inline double charge_loss_fraction(double beta, double equivalent_time_s, double tau0_s) {
    return charge_loss_fraction(beta, loss_time_factor(equivalent_time_s, tau0_s));
}

// ΔV_th = −(V_th − V_th,neutral)·β·ln(1 + AF(T)·t/τ_0), for a cell programmed to vth0_v.
inline double retention_shift_v(double vth0_v, double neutral_vth_v, double beta, double equivalent_time_s,
                                double tau0_s) {
    return -(vth0_v - neutral_vth_v) * charge_loss_fraction(beta, equivalent_time_s, tau0_s);
}

}  // namespace flashmc::device
