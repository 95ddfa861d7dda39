#pragma once
// Read noise (docs/physics.md §6): random telegraph noise (RTN) from oxide traps plus Gaussian
// current noise. Each cell has a Poisson number of traps (mean λ); each trap has an exponentially
// distributed V_th amplitude (mean A) and an occupancy probability p; a read sees every trap
// occupied with probability p, independently of earlier reads (reads far apart compared with the
// capture/emission times), and its current multiplied by (1 + σ_I·z), z ~ N(0, 1).
#include <cstdint>

#include "flashmc/core/rng.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [read_noise].
struct ReadNoiseParams {
    static constexpr const char* section = "read_noise";
    double rtn_traps_mean = 1.0;          // λ: mean number of traps per cell
    double rtn_amplitude_mean_v = 0.003;  // A: mean V_th step of one trap
    double current_sigma_rel = 0.005;     // σ_I: relative Gaussian current noise per read

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("rtn_traps_mean", p.rtn_traps_mean, Range{0, 50});
        f("rtn_amplitude_mean_v", p.rtn_amplitude_mean_v, Range{0, 0.5});
        f("current_sigma_rel", p.current_sigma_rel, Range{0, 0.5});
    }
    void validate() const;
};

// Poisson(mean) by sequential inversion with one uniform (Devroye 1986, §X.3.3), given
// exp(−mean) precomputed: cheaper than constructing a distribution per cell for the small means
// of trap counts. Means above 30 use Stream::poisson.
inline std::uint32_t poisson_small(double mean, double exp_minus_mean, Stream& rng) {
    if (mean > 30.0) return static_cast<std::uint32_t>(rng.poisson(mean));
    const double u = rng.uniform();
    double p = exp_minus_mean, cdf = p;
    std::uint32_t k = 0;
    while (u >= cdf && p > 0.0) {
        ++k;
        p *= mean / k;
        cdf += p;
    }
    return k;
}

// The RTN V_th shift of one read: Σ_j A_j·[trap j occupied], occupied with probability p_j.
inline double rtn_shift_v(const float* amplitude_v, const float* occupancy, std::uint32_t count, Stream& rng) {
    double dv = 0.0;
    for (std::uint32_t j = 0; j < count; ++j)
        if (rng.uniform() < occupancy[j]) dv += amplitude_v[j];
    return dv;
}

// The multiplicative current noise of one read, 1 + σ_I·z, floored at 0 (a current is never negative).
inline double current_noise_factor(double sigma_rel, Stream& rng) {
    if (sigma_rel == 0.0) return 1.0;
    const double f = 1.0 + sigma_rel * rng.normal();
    return f > 0.0 ? f : 0.0;
}

}  // namespace flashmc::device
