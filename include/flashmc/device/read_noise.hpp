#pragma once
// Read noise (docs/physics.md §6): random telegraph noise (RTN) from oxide traps plus Gaussian
// current noise. Each cell has a Poisson number of traps (mean λ); each trap has an exponentially
// distributed V_th amplitude (mean A) and an occupancy probability p; a read sees every trap
// occupied with probability p, independently of earlier reads (reads far apart compared with the
// capture/emission times), and its current multiplied by (1 + σ_I·z), z ~ N(0, 1).
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

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("rtn_traps_mean", p.rtn_traps_mean, Range{0, 50});
        f("rtn_amplitude_mean_v", p.rtn_amplitude_mean_v, Range{0, 0.5});
        f("current_sigma_rel", p.current_sigma_rel, Range{0, 0.5});
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

}  // namespace flashmc::device
