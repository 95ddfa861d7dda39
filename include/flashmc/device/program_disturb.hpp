#pragma once
// Program disturb (docs/physics.md §4.6): while an array is programmed cell by cell, the cells
// already verified receive small V_th shifts from the pulses applied to later cells:
//  - gate disturb, same word line: an inhibited cell under the program gate pulse gains electrons
//    from its channel (Fowler–Nordheim), V_th rises, the faster the lower its V_th:
//      dV_th/dn = +r_g·exp((V_g,ref − V_th)/V_F);
//  - drain disturb, same bit line: a cell with its gate at 0 V and its drain at the program drain
//    voltage loses electrons from its floating gate to the drain, V_th falls, the faster the more
//    charge it holds:  dV_th/dn = −r_d·exp((V_th − V_d,ref)/V_F).
// n counts disturbing pulses. Both flows have the exact solutions (cf. read disturb)
//      ΔV_g = +V_F·ln(1 + r_g·n·e^{(V_g,ref − V_0)/V_F}/V_F),  ΔV_d = −V_F·ln(1 + r_d·n·e^{(V_0 − V_d,ref)/V_F}/V_F),
// with r = V_F·(e^{δ/V_F} − 1) from the shift δ of one pulse on a cell at the reference V_th, and
// a per-cell lognormal factor on each rate (σ_ln). A cell's gate pulses are applied, then its drain
// pulses (the order matters only to second order in ΔV/V_F).
// No measured per-pulse NOR disturb figure was found (docs/physics.md §4.6): the shipped cards set
// both shifts to 0 (off) and experiments/program_disturb.toml sweeps them.
#include <cmath>

#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [program_disturb].
struct ProgramDisturbParams {
    static constexpr const char* section = "program_disturb";
    double gate_shift_per_pulse_v = 0.0;   // δ_g: V_th rise of a same-word-line cell at gate_reference_vth_v per pulse
    double gate_reference_vth_v = 1.0;     // V_g,ref
    double drain_shift_per_pulse_v = 0.0;  // δ_d: V_th fall of a same-bit-line cell at drain_reference_vth_v per pulse
    double drain_reference_vth_v = 2.0;    // V_d,ref
    double field_v = 0.1;                  // V_F: the rates change e-fold per V_F of V_th
    double rate_sigma_ln = 0.3;            // σ of ln(rate) from cell to cell

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("gate_shift_per_pulse_v", p.gate_shift_per_pulse_v, Range{0, 0.1});
        f("gate_reference_vth_v", p.gate_reference_vth_v, Range{-10, 10});
        f("drain_shift_per_pulse_v", p.drain_shift_per_pulse_v, Range{0, 0.1});
        f("drain_reference_vth_v", p.drain_reference_vth_v, Range{-10, 10});
        f("field_v", p.field_v, Range{1e-3, 10});
        f("rate_sigma_ln", p.rate_sigma_ln, Range{0, 3});
    }
    void validate() const;
    bool active() const { return gate_shift_per_pulse_v > 0.0 || drain_shift_per_pulse_v > 0.0; }
};

// The rate per pulse (V) that moves a cell at the reference V_th by shift_v in one pulse.
inline double program_disturb_rate_v(double shift_v, double field_v) { return field_v * std::expm1(shift_v / field_v); }

// ΔV_g of a cell at vth0_v after `pulses` gate-disturbing pulses at rate r (V per pulse).
inline double gate_disturb_shift_v(const ProgramDisturbParams& p, double vth0_v, double rate_v, double pulses) {
    return p.field_v * std::log1p(rate_v * pulses * std::exp((p.gate_reference_vth_v - vth0_v) / p.field_v) / p.field_v);
}
// ΔV_d (negative) of a cell at vth0_v after `pulses` drain-disturbing pulses at rate r.
inline double drain_disturb_shift_v(const ProgramDisturbParams& p, double vth0_v, double rate_v, double pulses) {
    return -p.field_v * std::log1p(rate_v * pulses * std::exp((vth0_v - p.drain_reference_vth_v) / p.field_v) / p.field_v);
}

}  // namespace flashmc::device
