#pragma once
// Read disturb (docs/physics.md §9): a compute-in-memory array drives every word line on every
// inference, so every cell spends a little time under the read gate bias, and electrons tunnel into
// its floating gate. The injection limits itself: each electron lowers the floating gate's potential
// and so the oxide field that drives the next one, so the rate falls exponentially as the cell's
// V_th rises (the exponential field dependence of Fowler–Nordheim injection, linearized about the
// read bias):
//   dV_th/dt = r · exp((V_ref − V_th)/V_F),
// whose exact solution for a cell at V_th0 after a stress time t is
//   ΔV_th(t) = V_F · ln(1 + r·t·exp((V_ref − V_th0)/V_F)/V_F),
// logarithmic in time and largest for the lowest-V_th (highest-current) cells. The stress time is
// t = reads × stress_per_read_s. r is set by one reference point — ΔV_ref after t_ref of stress of a
// cell at V_ref at T_ref: r = V_F·(e^{ΔV_ref/V_F} − 1)/t_ref — times an Arrhenius factor
// exp[(E_a/k)(1/T_ref − 1/T)] at the temperature the chip serves its reads, times a per-cell
// lognormal factor (σ_ln), times tail_rate_factor in the cells of the retention tail: intrinsic
// Fowler–Nordheim injection is negligible at a CIM read's oxide field (≈ 2–3 MV/cm; docs/physics.md
// §9), and what disturbs is stress-induced leakage in weak or cycled cells (the extrinsic cells that
// also lose charge fast, retention.tail_fraction). The solution is a flow (two stresses compose exactly into one of their
// summed time), so reads spread over a chip's life compose with its bakes (mc/chip.cpp).
#include <cmath>

#include "flashmc/core/units.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [read_disturb].
struct ReadDisturbParams {
    static constexpr const char* section = "read_disturb";
    double stress_per_read_s = 5e-8;      // gate-stress time per inference (word-line pulse × mean input duty)
    double reference_shift_v = 0.05;      // ΔV_ref: V_th shift after reference_stress_s …
    double reference_stress_s = 1e4;      // t_ref: … of read-bias stress …
    double reference_vth_v = 0.5;         // V_ref: … of a cell at this V_th (at T_0) …
    double reference_temperature_c = 25;  // T_ref: … at this temperature
    double field_v = 0.1;                 // V_F: the rate falls e-fold per V_F of V_th gained
    double activation_energy_ev = 0.0;    // E_a of the injection rate
    double rate_sigma_ln = 0.3;           // σ of ln(rate) from cell to cell
    double tail_rate_factor = 1.0;        // rate × this in the retention tail cells (stress-induced leakage paths)

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("stress_per_read_s", p.stress_per_read_s, Range{0, 1});
        f("reference_shift_v", p.reference_shift_v, Range{0, 2});
        f("reference_stress_s", p.reference_stress_s, Range{1e-9, 1e12});
        f("reference_vth_v", p.reference_vth_v, Range{-10, 10});
        f("reference_temperature_c", p.reference_temperature_c, Range{-60, 200});
        f("field_v", p.field_v, Range{1e-3, 10});
        f("activation_energy_ev", p.activation_energy_ev, Range{-1, 3});
        f("rate_sigma_ln", p.rate_sigma_ln, Range{0, 3});
        f("tail_rate_factor", p.tail_rate_factor, Range{1, 1e12});
    }
    void validate() const;
};

// r at V_th = V_ref and T_ref, from the reference point: V_F·(e^{ΔV_ref/V_F} − 1)/t_ref (V/s).
inline double read_disturb_rate_v_per_s(const ReadDisturbParams& p) {
    return p.field_v * std::expm1(p.reference_shift_v / p.field_v) / p.reference_stress_s;
}

// Arrhenius factor of the rate at `temperature_c` against T_ref.
inline double read_disturb_acceleration(const ReadDisturbParams& p, double temperature_c) {
    return std::exp(p.activation_energy_ev / units::boltzmann_ev_per_k *
                    (1.0 / units::kelvin(p.reference_temperature_c) - 1.0 / units::kelvin(temperature_c)));
}

// ΔV_th = V_F·ln(1 + r·t·e^{(V_ref − V_th0)/V_F}/V_F) of a cell at vth0_v after stress_s of stress,
// r = rate_v_per_s (the reference rate times the cell's and the temperature's factors).
inline double read_disturb_shift_v(const ReadDisturbParams& p, double vth0_v, double rate_v_per_s, double stress_s) {
    return p.field_v * std::log1p(rate_v_per_s * stress_s * std::exp((p.reference_vth_v - vth0_v) / p.field_v) / p.field_v);
}

}  // namespace flashmc::device
