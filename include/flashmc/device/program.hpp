#pragma once
// Erase and program (docs/physics.md §4).
// Erase: Fowler–Nordheim with erase verify, modelled by its result: a Gaussian erased V_th
// distribution (μ_E, σ_E) cut above at the erase-verify level, plus an over-erase tail (a fraction
// of cells pushed lower by an exponentially distributed extra shift).
// Program: incremental step pulse programming (ISPP) with verify. Each pulse raises V_th by η·ΔV_pp
// (η: per-cell efficiency, Gaussian around 1) plus electron-injection shot noise; a verify read
// (with read noise) after each pulse stops the ladder once I ≤ I_target. Optionally two ladders
// (double verify): coarse steps to a pre-verify level below the target, then fine steps.
#include <cmath>

#include "flashmc/core/rng.hpp"
#include "flashmc/core/units.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [erase]. V_th values at the card's reference temperature.
struct EraseParams {
    static constexpr const char* section = "erase";
    double mean_vth_v = 1.1;            // μ_E
    double sigma_vth_v = 0.1;           // σ_E
    double verify_vth_v = 1.3;          // erase-verify level: no erased cell is left above it
    double over_erase_fraction = 1e-3;  // fraction of cells in the over-erase tail
    double over_erase_mean_v = 0.3;     // mean extra (exponential) downward shift of a tail cell

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("mean_vth_v", p.mean_vth_v, Range{-10, 10});
        f("sigma_vth_v", p.sigma_vth_v, Range{0, 2});
        f("verify_vth_v", p.verify_vth_v, Range{-10, 10});
        f("over_erase_fraction", p.over_erase_fraction, Range{0, 1});
        f("over_erase_mean_v", p.over_erase_mean_v, Range{0, 5});
    }
    void validate() const;  // also: verify_vth_v >= mean_vth_v
};

// Card section [program].
struct ProgramParams {
    static constexpr const char* section = "program";
    double step_v = 0.002;            // ΔV_pp: ISPP gate step = steady-state V_th shift per pulse
    double efficiency_sigma = 0.1;    // σ of the per-cell efficiency η (mean 1)
    double cpp_f = 0.8e-15;           // C_pp: control-gate–floating-gate capacitance
    double injection_fano = 1.0;      // F: 1 = Poisson injection, < 1 sub-Poissonian, 0 = no shot noise
    int max_pulses = 600;             // the ladder gives up here (both phases): a program failure
    // Double-verify ISPP (Miccoli et al., IRPS 2011): a coarse ladder of coarse_step_v until a
    // pre-verify at the gate voltage lowered by coarse_margin_v passes (V_th ≳ target − margin),
    // then the fine ladder of step_v to the target. coarse_step_v = 0: one ladder of step_v.
    double coarse_step_v = 0.0;
    double coarse_margin_v = 0.0;

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("step_v", p.step_v, Range{1e-5, 1});
        f("efficiency_sigma", p.efficiency_sigma, Range{0, 0.3});
        f("cpp_f", p.cpp_f, Range{1e-18, 1e-12});
        f("injection_fano", p.injection_fano, Range{0, 1});
        f("max_pulses", p.max_pulses, Range{1, 65535});
        f("coarse_step_v", p.coarse_step_v, Range{0, 1});
        f("coarse_margin_v", p.coarse_margin_v, Range{0, 2});
    }
    bool double_verify() const { return coarse_step_v > 0.0; }
    void validate() const;  // also: with a coarse step, coarse_margin_v >= coarse_step_v
};

// Per-cell efficiencies are clamped here so that a pulse never lowers V_th.
inline constexpr double kMinEfficiency = 0.1;

// Shot noise of one program pulse. The injected electron count is Poisson with mean C_pp·ΔV/q, so
// σ²_ΔVth = F·q·ΔV/C_pp. Source: Monzio Compagnoni et al., "Ultimate accuracy for the NAND Flash
// program algorithm due to the electron injection statistics", IEEE TED 55(10), 2008 (FN, NAND);
// channel-hot-electron NOR, 180–45 nm: IRPS 2009, doi 10.1109/IRPS.2009.5173263. F < 1 models the
// sub-Poissonian injection both report for large charge packets.
inline double injection_sigma_v(double shift_v, double cpp_f, double fano) {
    return std::sqrt(fano * units::elementary_charge_c * std::abs(shift_v) / cpp_f);
}

// The ISPP-verify overshoot V_final − V_target of a noiseless verify when each pulse adds an
// independent increment X ~ N(step, σ²), X > 0. Renewal theory: once the ladder's phase relative to
// the target is random (erased spread ≫ step), the overshoot has the equilibrium ("excess life")
// density P(X > x)/E[X], sampled exactly as U·X̃ with U ~ U(0,1) and X̃ size-biased (density
// x·f(x)/E[X]). For σ = 0 this is U(0, step). X̃ is drawn by rejection from N(step + σ²/step, σ²),
// accepted with probability (x/step)·e^{1 − x/step}.
// Draws: counter-based from key hash h: U at `slot`; round m of the rejection at slot + 1 + 2m and
// slot + 2 + 2m (proposal, acceptance).

// Round m of the rejection for X̃: the accepted value, or 0 when the round rejects (σ > 0). Branch-free.
inline double size_biased_round_v(double step_v, double sigma_v, std::uint64_t h, std::uint64_t slot, std::uint64_t m) {
    const double x = step_v + sigma_v * sigma_v / step_v + sigma_v * draw_normal(h, slot + 1 + 2 * m);
    const double r = x / step_v;
    const bool accept = (x > 0.0) & (draw_uniform(h, slot + 2 + 2 * m) < r * exp_fast(1.0 - r));  // & : no branch
    return accept ? x : 0.0;
}
// X̃ from round `first_round` on (σ > 0).
inline double size_biased_v(double step_v, double sigma_v, std::uint64_t h, std::uint64_t slot, std::uint64_t first_round) {
    double x = 0.0;
    for (std::uint64_t m = first_round; x == 0.0; ++m) x = size_biased_round_v(step_v, sigma_v, h, slot, m);
    return x;
}
inline double ispp_overshoot_v(double step_v, double sigma_v, std::uint64_t h, std::uint64_t slot) {
    const double u = draw_uniform(h, slot);
    return sigma_v > 0.0 ? u * size_biased_v(step_v, sigma_v, h, slot, 0) : u * step_v;
}

}  // namespace flashmc::device
