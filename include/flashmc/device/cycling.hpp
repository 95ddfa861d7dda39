#pragma once
// Program/erase cycling wear (docs/physics.md §4.4): after N cycles, with r = N / N_ref,
//   σ_E, σ_η  × (1 + g_σ r^{p_σ})       (distributions widen)
//   μ_E       + s_w r^{p_w}             (window shift: charge trapped in the tunnel oxide)
//   λ_RTN     × (1 + g_rtn r^{p_rtn})   (cycling creates oxide traps)
//   β         × (1 + g_ret r^{p_ret})   (faster charge loss)
// Power laws in N with exponent < 1 are the usual empirical form of cycling-induced trap
// generation; the amplitudes and exponents of each card say where they come from.
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [cycling].
struct CyclingParams {
    static constexpr const char* section = "cycling";
    double reference_cycles = 1000;     // N_ref
    double sigma_growth = 0.1;          // g_σ
    double sigma_exponent = 0.5;        // p_σ
    double window_shift_v = 0.05;       // s_w (V at N_ref)
    double window_exponent = 0.4;       // p_w
    double rtn_growth = 0.5;            // g_rtn
    double rtn_exponent = 0.5;          // p_rtn
    double retention_growth = 0.02;     // g_ret
    double retention_exponent = 0.5;    // p_ret

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("reference_cycles", p.reference_cycles, Range{1, 1e7});
        f("sigma_growth", p.sigma_growth, Range{0, 100});
        f("sigma_exponent", p.sigma_exponent, Range{0, 2});
        f("window_shift_v", p.window_shift_v, Range{-2, 2});
        f("window_exponent", p.window_exponent, Range{0, 2});
        f("rtn_growth", p.rtn_growth, Range{0, 100});
        f("rtn_exponent", p.rtn_exponent, Range{0, 2});
        f("retention_growth", p.retention_growth, Range{0, 100});
        f("retention_exponent", p.retention_exponent, Range{0, 2});
    }
    void validate() const;
};

struct Wear {
    double sigma_factor = 1.0;
    double window_shift_v = 0.0;
    double rtn_factor = 1.0;
    double beta_factor = 1.0;
};

// The wear factors after `cycles` P/E cycles (0 cycles: no wear).
Wear wear_after(const CyclingParams& p, double cycles);

}  // namespace flashmc::device
