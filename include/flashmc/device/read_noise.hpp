#pragma once
// Read noise (docs/physics.md §6): random telegraph noise (RTN) from oxide traps plus Gaussian
// current noise. Each cell has a Poisson number of traps (mean λ); each trap has an exponentially
// distributed V_th amplitude (mean A) and an occupancy probability p; a read sees every trap
// occupied with probability p, independently of earlier reads (reads far apart compared with the
// capture/emission times), and its current multiplied by (1 + σ_I·z), z ~ N(0, 1). Those are slow
// noises, drawn once per read of the array. The white channel noise of the current is drawn per
// conversion instead, on a bit line's integrated charge (shot_noise_sigma_a).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [read_noise].
struct ReadNoiseParams {
    static constexpr const char* section = "read_noise";
    double rtn_traps_mean = 1.0;          // λ: mean number of traps per cell
    double rtn_amplitude_mean_v = 0.003;  // A: mean V_th step of one trap
    double current_sigma_rel = 0.005;     // σ_I: relative Gaussian current noise per read
    double shot_noise_factor = 1.0;       // F: charge variance F·q·Q per conversion (1: full shot noise)

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("rtn_traps_mean", p.rtn_traps_mean, Range{0, 50});
        f("rtn_amplitude_mean_v", p.rtn_amplitude_mean_v, Range{0, 0.5});
        f("current_sigma_rel", p.current_sigma_rel, Range{0, 0.5});
        f("shot_noise_factor", p.shot_noise_factor, Range{0, 4});
    }
    void validate() const;
};

// The CDF F(0), F(1), … of Poisson(mean), until F rounds to 1 (or its terms vanish past the mean).
// A Poisson draw by inversion of one uniform u (Devroye 1986, §X.3.3) is the number of k with
// F(k) <= u: sample_cells counts it over this table for a block of cells at once.
std::vector<double> poisson_cdf(double mean);

// The RTN V_th shift of one read: Σ_j A_j·[trap j occupied], occupied with probability p_j.
inline double rtn_shift_v(const float* amplitude_v, const float* occupancy, std::uint32_t count, CellStream& rng) {
    double dv = 0.0;
    for (std::uint32_t j = 0; j < count; ++j) dv += rng.uniform() < occupancy[j] ? amplitude_v[j] : 0.0f;  // no branch on the draw
    return dv;
}

// The multiplicative current noise of one read, 1 + σ_I·z, floored at 0 (a current is never negative).
inline double current_noise_factor(double sigma_rel, double z) {
    const double f = 1.0 + sigma_rel * z;
    return f > 0.0 ? f : 0.0;
}
inline double current_noise_factor(double sigma_rel, CellStream& rng) {
    return sigma_rel == 0.0 ? 1.0 : current_noise_factor(sigma_rel, rng.normal());
}

// The white channel noise of one conversion (docs/physics.md §6): a bit line integrates the charge
// Q = Σ_i I_i·t_i of independent electron transits, Var(Q) = F·q·Q (Schottky). A subthreshold
// channel current has full shot noise, 2qI, so F = 1 (Sarpeshkar, Delbrück & Mead, IEEE Circuits
// and Devices 9(6):23, 1993); a triode channel at V_DS ≲ kT/q tends to thermal noise 4kT·g_ds,
// F = 2kT/(q·V_DS) (ibid.). In the period-averaged current Ī = Q/T of a read window T:
//   σ_Ī = sqrt(F·q·Ī / T),   Ī ≥ 0 (the sum of the bit line's currents, each weighted by its duty).
inline double shot_noise_sigma_a(double factor, double mean_current_a, double window_s) {
    constexpr double q = 1.602176634e-19;  // elementary charge (C)
    return std::sqrt(factor * q * std::max(mean_current_a, 0.0) / window_s);
}

}  // namespace flashmc::device
