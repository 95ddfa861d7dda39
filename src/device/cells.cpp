#include "flashmc/device/cells.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "flashmc/core/error.hpp"

namespace flashmc::device {

namespace {

using i64 = std::int64_t;
using u64 = std::uint64_t;

// The key hashes of one stage: stage_streams(s, stage).hash(cell) keys the counter-based draws of
// s.at({stage, cell}).
StreamFamily stage_streams(const Streams& s, Stage stage) { return s.family({static_cast<u64>(stage)}); }

// N(μ, σ²) conditioned on x <= max_v, by inversion of one uniform u: x = μ + σ·Φ⁻¹(u·Φ(a)),
// a = (max_v − μ)/σ, with Φ(a) given (common to all cells of an array). Exact in both the body
// and the far tail; branch-free.
inline double normal_below(double mu, double sigma, double max_v, double phi_cut, double u) {
    const double x = sigma > 0.0 ? mu + sigma * normal_quantile(u * phi_cut) : mu;
    return x < max_v ? x : max_v;
}
double normal_cdf(double a) { return 0.5 * std::erfc(-a / std::sqrt(2.0)); }

void check_program_inputs(const LevelTargets& targets, std::span<const std::uint8_t> levels, const CellArray& cells,
                          const char* what) {
    if (levels.size() != cells.size())
        fail(what, ": ", levels.size(), " levels for ", cells.size(), " cells");
    if (cells.trap_begin.size() != cells.size() + 1 || cells.slope_n.size() != cells.size())
        fail(what, ": the cells have no static parameters (call sample_cells first)");
    const int top = targets.max_level();
    for (std::size_t i = 0; i < levels.size(); ++i)
        if (levels[i] > top) fail(what, ": cell ", cells.first_cell + i, " has level ", int(levels[i]), " > ", top);
}

// The per-cell program efficiency η from the normal draw of slot 0 of the cell's program stream,
// so that the pulse-level, statistical and open-loop models see the same η for the same cell.
inline double efficiency(double z, double sigma) {
    const double eta = 1.0 + sigma * z;
    return eta > kMinEfficiency ? eta : kMinEfficiency;
}

// Cells per block of the vectorized passes (the statistical program keeps ~40 KB per thread).
constexpr i64 kBlock = 128;

// Draw slots of a cell's program stream in the statistical model. Slot 0: η. Ladder L (0: coarse,
// 1: fine) from base (L + 1)·2^32: the current noise of its first and last verify (the pair at +0), the
// failure draw (+2), the overshoot (+3 on, see ispp_overshoot_v), and from +2^31 the trap
// occupancies of verify v: + v·traps + j.
constexpr u64 ladder_slot(int ladder) { return static_cast<u64>(ladder + 1) << 32; }
constexpr u64 kTrapSlots = u64{1} << 31;

}  // namespace

CellArray sample_cells(const Card& card, std::size_t count, double pe_cycles, const Streams& streams, Grid grid,
                       std::uint64_t first_cell) {
    if (grid.rows_per_column == 0 || grid.columns_per_tile == 0) fail("sample_cells: grid dimensions must be positive");
    if (!(pe_cycles >= 0.0)) fail("sample_cells: P/E cycles must be >= 0, got ", pe_cycles);
    const Wear wear = wear_after(card.cycling, pe_cycles);
    CellArray c;
    c.first_cell = first_cell;
    c.pe_cycles = pe_cycles;
    c.vth_offset_v.resize(count);
    c.slope_n.resize(count);
    c.beta.resize(count);
    c.vth_v.resize(count);
    c.pulses.assign(count, 0);
    c.program_failed.assign(count, 0);
    c.trap_begin.assign(count + 1, 0);

    const auto& var = card.variation;
    const auto& ret = card.retention;
    const double beta_median = ret.beta_median * wear.beta_factor;
    const std::vector<double> trap_cdf = poisson_cdf(card.read_noise.rtn_traps_mean * wear.rtn_factor);
    const i64 n = static_cast<i64>(count);

    const StreamFamily column_streams = stage_streams(streams, Stage::column_offset),
                       tile_streams = stage_streams(streams, Stage::tile_offset),
                       static_streams = stage_streams(streams, Stage::statics);
    // Pass 1: the column and tile offsets, one draw per column and per tile, cached while
    // consecutive cells share them.
#pragma omp parallel
    {
        std::uint64_t last_col = std::numeric_limits<std::uint64_t>::max(), last_tile = last_col;
        double col_off = 0.0, tile_off = 0.0;
        i64 next = -1;  // the cell after the previous one of this thread
        std::uint64_t col = 0, row = 0, tile = 0;
#pragma omp for schedule(static)
        for (i64 i = 0; i < n; ++i) {
            const std::uint64_t g = first_cell + static_cast<std::uint64_t>(i);
            // col = g / rows, tile = col / columns: divided once per thread, then counted.
            if (i != next) {
                col = g / grid.rows_per_column, row = g % grid.rows_per_column, tile = col / grid.columns_per_tile;
            } else if (++row == grid.rows_per_column) {
                row = 0, ++col;
                tile = col / grid.columns_per_tile;
            }
            next = i + 1;
            if (var.sigma_vth_column_v > 0.0 && col != last_col) {
                col_off = var.sigma_vth_column_v * draw_normal(column_streams.hash(col), 0);
                last_col = col;
            }
            if (var.sigma_vth_tile_v > 0.0 && tile != last_tile) {
                tile_off = var.sigma_vth_tile_v * draw_normal(tile_streams.hash(tile), 0);
                last_tile = tile;
            }
            c.vth_offset_v[i] = static_cast<float>(col_off + tile_off);
        }
    }
    // Pass 2, vectorized: the per-cell parameters and trap counts from the static stream: slot 0
    // the normals of δ and n, slot 2 that of β, slot 3 the tail membership, slot 4 the trap count.
    float* const offset_v = c.vth_offset_v.data();
    float* const slope_n = c.slope_n.data();
    float* const beta = c.beta.data();
    float* const vth_v = c.vth_v.data();
    std::uint32_t* const traps = c.trap_begin.data() + 1;
    const double sigma_vth = var.sigma_vth_v, n_mean = card.iv.slope_n, sigma_n = var.sigma_slope_n,
                 sigma_ln_beta = ret.beta_sigma_ln, tail_fraction = ret.tail_fraction,
                 tail_factor = ret.tail_beta_factor, neutral = ret.neutral_vth_v;
    const double* const cdf = trap_cdf.data();
    const std::size_t cdf_size = trap_cdf.size();
#pragma omp parallel for schedule(static)
    for (i64 b0 = 0; b0 < n; b0 += kBlock) {
        const i64 m = std::min(kBlock, n - b0);
        alignas(64) double u_traps[kBlock];
#pragma omp simd
        for (i64 j = 0; j < m; ++j) {
            const i64 i = b0 + j;
            const std::uint64_t h = static_streams.hash(first_cell + static_cast<std::uint64_t>(i));
            const NormalPair z = draw_normal_pair(h, 0);
            const double offset = sigma_vth * z.first + offset_v[i];
            const double slope = n_mean + sigma_n * z.second;
            offset_v[i] = static_cast<float>(offset);
            slope_n[i] = static_cast<float>(slope > kMinSlopeN ? slope : kMinSlopeN);
            beta[i] = static_cast<float>(beta_median * exp_fast(sigma_ln_beta * draw_normal(h, 2)) *
                                         (draw_uniform(h, 3) < tail_fraction ? tail_factor : 1.0));
            vth_v[i] = static_cast<float>(neutral + offset);
            u_traps[j] = draw_uniform(h, 4);
            traps[i] = 0;
        }
        // The trap count: Poisson by inversion of u (poisson_cdf), one table entry at a time.
        for (std::size_t k = 0; k < cdf_size; ++k) {
            const double f = cdf[k];
#pragma omp simd
            for (i64 j = 0; j < m; ++j) traps[b0 + j] += f <= u_traps[j];
        }
    }
    std::uint64_t total = 0;
    for (std::size_t i = 1; i <= count; ++i) {
        total += c.trap_begin[i];
        if (total > std::numeric_limits<std::uint32_t>::max()) fail("sample_cells: more than 2^32 RTN traps");
        c.trap_begin[i] = static_cast<std::uint32_t>(total);
    }
    // Pass 3: trap j of a cell has its amplitude and occupancy at slots 5 + 2j and 6 + 2j.
    c.trap_amplitude_v.resize(total);
    c.trap_occupancy.resize(total);
    const double amplitude = card.read_noise.rtn_amplitude_mean_v;
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint32_t b = c.trap_begin[i], k = c.trap_begin[i + 1] - b;
        if (k == 0) continue;
        const std::uint64_t h = static_streams.hash(first_cell + static_cast<std::uint64_t>(i));
        for (std::uint32_t j = 0; j < k; ++j) {
            c.trap_amplitude_v[b + j] = static_cast<float>(amplitude > 0.0 ? draw_exponential(h, 5 + 2 * j, amplitude) : 0.0);
            c.trap_occupancy[b + j] = static_cast<float>(draw_uniform(h, 6 + 2 * j));
        }
    }
    return c;
}

void erase_cells(const Card& card, const Streams& streams, CellArray& cells) {
    const Card worn = worn_card(card, cells.pe_cycles);
    const EraseParams& e = worn.erase;
    const double mean = e.mean_vth_v, sigma = e.sigma_vth_v, verify = e.verify_vth_v,
                 over_fraction = e.over_erase_mean_v > 0.0 ? e.over_erase_fraction : 0.0, over_mean = e.over_erase_mean_v;
    const double phi_cut = sigma > 0.0 ? normal_cdf((verify - mean) / sigma) : 1.0;
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily erase_streams = stage_streams(streams, Stage::erase);
    float* const vth_v = cells.vth_v.data();
    // Slot 0: the erased V_th; slots 1, 2: over-erase membership and depth.
#pragma omp parallel for simd schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t h = erase_streams.hash(cells.first_cell + static_cast<std::uint64_t>(i));
        const double v = normal_below(mean, sigma, verify, phi_cut, draw_uniform(h, 0));
        const double depth = draw_exponential(h, 2, over_mean);
        vth_v[i] = static_cast<float>(draw_uniform(h, 1) < over_fraction ? v - depth : v);
    }
    std::fill(cells.pulses.begin(), cells.pulses.end(), 0);
    std::fill(cells.program_failed.begin(), cells.program_failed.end(), 0);
    cells.retention_equivalent_s = 0.0;
}

void program_verify(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                    const Streams& streams, CellArray& cells) {
    check_program_inputs(targets, levels, cells, "program_verify");
    const Card worn = worn_card(card, cells.pe_cycles);
    const ProgramParams& p = worn.program;
    const double vt = targets.thermal_voltage_v;
    const double i0 = specific_current_at_a(card.iv, targets.verify_temperature_c);
    const double d = card.levels.read_vds_v / vt;
    const double sigma_i = card.read_noise.current_sigma_rel;
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily program_streams = stage_streams(streams, Stage::program);
#pragma omp parallel for schedule(dynamic, 256)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t g = cells.first_cell + static_cast<std::uint64_t>(i);
        const int k = levels[i];
        const double i_target = targets.current_a[k];
        CellStream rng(program_streams.hash(g));  // slot 0 (η), then the pulses' draws in sequence
        const double eta = efficiency(rng.normal(), p.efficiency_sigma);
        const double nvt = cells.slope_n[i] * vt;
        const float* amp = cells.trap_amplitude_v.data() + cells.trap_begin[i];
        const float* occ = cells.trap_occupancy.data() + cells.trap_begin[i];
        const std::uint32_t traps = cells.trap_count(i);
        // Verify read at the gate voltage lowered by `margin` (0: the verify proper; the
        // pre-verify of double verify passes at V_th ≳ target − margin): RTN states and current
        // noise drawn afresh; passes once I <= I_target.
        auto verify = [&](double vth_ref, double margin) {
            const double vth_eff = vth_ref - targets.vth_shift_v + rtn_shift_v(amp, occ, traps, rng);
            const double current = i0 * normalized_current((targets.read_vgs_v - margin - vth_eff) / nvt, d) *
                                   current_noise_factor(sigma_i, rng);
            return current <= i_target;
        };
        double v = cells.vth_v[i];
        int pulses = 0;
        std::uint8_t failed = 0;
        auto ladder = [&](double step_v, double margin) {
            const double step = step_v * eta;
            const double sigma_inj = injection_sigma_v(step, p.cpp_f, p.injection_fano);
            while (!verify(v, margin)) {
                if (pulses == p.max_pulses) {
                    failed = 1;
                    break;
                }
                v += step + (sigma_inj > 0.0 ? sigma_inj * rng.normal() : 0.0);
                ++pulses;
            }
        };
        if (p.double_verify()) ladder(p.coarse_step_v, p.coarse_margin_v);
        if (!failed) ladder(p.step_v, 0.0);
        cells.vth_v[i] = static_cast<float>(v);
        cells.pulses[i] = static_cast<std::uint16_t>(pulses);
        cells.program_failed[i] = failed;
    }
    cells.retention_equivalent_s = 0.0;
}

void program_open_loop(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                       const Streams& streams, CellArray& cells) {
    check_program_inputs(targets, levels, cells, "program_open_loop");
    const Card worn = worn_card(card, cells.pe_cycles);
    const ProgramParams& p = worn.program;
    const double shift = wear_after(card.cycling, cells.pe_cycles).window_shift_v;
    const double vn = card.retention.neutral_vth_v;
    const double slope_n = card.iv.slope_n;
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily program_streams = stage_streams(streams, Stage::program);
    const std::uint8_t* const level = levels.data();
    const float* const offset_v = cells.vth_offset_v.data();
    float* const vth_v = cells.vth_v.data();
    const double* const overdrive_u = targets.overdrive_u.data();
    const double nvt = slope_n * targets.thermal_voltage_v, vth_top = targets.read_vgs_v + targets.vth_shift_v;
    const double sigma_eta = p.efficiency_sigma, cpp_f = p.cpp_f, fano = p.injection_fano;
    // Slot 0: η; slot 1: the injection noise.
#pragma omp parallel for simd schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t h = program_streams.hash(cells.first_cell + static_cast<std::uint64_t>(i));
        const double charge = vth_top - nvt * overdrive_u[level[i]] - vn;  // nominal V_th shift to place (T_k − V_n)
        const double placed = efficiency(draw_normal(h, 0), sigma_eta) * charge;
        const double noise = injection_sigma_v(placed, cpp_f, fano) * draw_normal(h, 1);
        vth_v[i] = static_cast<float>(vn + offset_v[i] + shift + placed + noise);
    }
    std::fill(cells.pulses.begin(), cells.pulses.end(), 0);
    std::fill(cells.program_failed.begin(), cells.program_failed.end(), 0);
    cells.retention_equivalent_s = 0.0;
}

void program_statistical(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                         const Streams& streams, CellArray& cells) {
    check_program_inputs(targets, levels, cells, "program_statistical");
    const Card worn = worn_card(card, cells.pe_cycles);
    const ProgramParams& p = worn.program;
    const double vt = targets.thermal_voltage_v;
    const double sigma_i = card.read_noise.current_sigma_rel;
    // ln(1 − 8σ_I): the most negative ln of an 8σ current-noise draw, for the first-verify bound.
    const double ln_low_current = 8.0 * sigma_i < 1.0 ? std::log1p(-8.0 * sigma_i) : 0.0;
    const int first_ladder = p.double_verify() ? 0 : 1;
    const double step_of[2] = {p.coarse_step_v, p.step_v};
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily program_streams = stage_streams(streams, Stage::program);
    const double* const overdrive_u = targets.overdrive_u.data();
    const double* const log_slope = targets.log_slope.data();
    const double vth_top = targets.read_vgs_v + targets.vth_shift_v;
    const double sigma_eta = p.efficiency_sigma, cpp_f = p.cpp_f, fano = p.injection_fano;
    const std::int32_t max_pulses = p.max_pulses;
#pragma omp parallel for schedule(static)
    for (i64 b0 = 0; b0 < n; b0 += kBlock) {
        const i64 m = std::min(kBlock, n - b0);
        // First pass, vectorized: everything of a cell that does not depend on its traps or on
        // which branch its ladders take. Per ladder: the step η·ΔV, the injection σ, the current
        // noise of the first and last verify in V_th, the overshoot's U and its
        // first rejection round (0: rejected).
        alignas(64) std::uint64_t h[kBlock];
        alignas(64) double eta[kBlock], target[kBlock], vpl[kBlock], step[2][kBlock], sig[2][kBlock],
            noise0[2][kBlock], noise1[2][kBlock], u_over[2][kBlock], x_over[2][kBlock];
        const std::uint8_t* const level = levels.data() + b0;
        const float* const slope_n = cells.slope_n.data() + b0;
#pragma omp simd
        for (i64 i = 0; i < m; ++i) {
            h[i] = program_streams.hash(cells.first_cell + static_cast<std::uint64_t>(b0 + i));
            eta[i] = efficiency(draw_normal(h[i], 0), sigma_eta);
            const double nvt = slope_n[i] * vt;
            target[i] = vth_top - nvt * overdrive_u[level[i]];
            // Verify-read noise in V_th: the current noise through the local slope
            // d ln I / dV_th = −γ_k / (n V_T) (exact in subthreshold, where γ = 1).
            vpl[i] = nvt / log_slope[level[i]];
        }
        for (int l = first_ladder; l < 2; ++l) {
            const u64 base = ladder_slot(l);
            const double step_v = step_of[l];
            double *const step_l = step[l], *const sig_l = sig[l], *const noise0_l = noise0[l], *const noise1_l = noise1[l],
                          *const u_over_l = u_over[l], *const x_over_l = x_over[l];
#pragma omp simd
            for (i64 i = 0; i < m; ++i) {
                const double s = step_v * eta[i];
                const double sg = injection_sigma_v(s, cpp_f, fano);
                step_l[i] = s, sig_l[i] = sg;
                const NormalPair z = draw_normal_pair(h[i], base);
                const double f0 = 1.0 + sigma_i * z.first, f1 = 1.0 + sigma_i * z.second;
                noise0_l[i] = -vpl[i] * log_fast(f0 > 1e-3 ? f0 : 1e-3);
                noise1_l[i] = -vpl[i] * log_fast(f1 > 1e-3 ? f1 : 1e-3);
                u_over_l[i] = draw_uniform(h[i], base + 3);
                x_over_l[i] = sg > 0.0 ? size_biased_round_v(s, sg, h[i], base + 3, 0) : s;
            }
        }
        // Second pass, per cell: the RTN of each verify and the ladders.
        for (i64 i = 0; i < m; ++i) {
            const i64 c = b0 + i;
            const float* amp = cells.trap_amplitude_v.data() + cells.trap_begin[c];
            const float* occ = cells.trap_occupancy.data() + cells.trap_begin[c];
            const std::uint32_t traps = cells.trap_count(c);
            auto rtn = [&](int l, int verify) {
                CellStream r(h[i], ladder_slot(l) + kTrapSlots + static_cast<u64>(verify) * traps);
                return rtn_shift_v(amp, occ, traps, r);
            };
            double v = cells.vth_v[c];
            int pulses = 0;
            std::uint8_t failed = 0;
            // First verify: skipped (as failing) when even the largest noise cannot lift the cell
            // to the level: all traps occupied plus an 8σ current-noise draw (p < 1e-15).
            double noise_bound = 8.0 * sigma_i < 1.0 ? -vpl[i] * ln_low_current : std::numeric_limits<double>::infinity();
            for (std::uint32_t j = 0; j < traps; ++j) noise_bound += amp[j];
            // Ladder l from v to `level` (fine: the target; coarse: target − margin).
            auto ladder = [&](int l, double level) {
                if (!(v + noise_bound < level || v + rtn(l, 0) + noise0[l][i] < level)) return;
                const double s = step[l][i];
                const double needed = std::max(1.0, std::ceil((level - v) / s));
                if (pulses + needed > max_pulses) {
                    const int left = max_pulses - pulses;
                    pulses = max_pulses;
                    failed = 1;
                    v += left * s + std::sqrt(double(left)) * sig[l][i] * draw_normal(h[i], ladder_slot(l) + 2);
                } else {
                    pulses += static_cast<int>(needed);
                    const double x = x_over[l][i] != 0.0 ? x_over[l][i]
                                                         : size_biased_v(s, sig[l][i], h[i], ladder_slot(l) + 3, 1);
                    v = level + u_over[l][i] * x - (rtn(l, 1) + noise1[l][i]);
                }
            };
            if (first_ladder == 0) ladder(0, target[i] - p.coarse_margin_v);
            if (!failed) ladder(1, target[i]);
            cells.vth_v[c] = static_cast<float>(v);
            cells.pulses[c] = static_cast<std::uint16_t>(pulses);
            cells.program_failed[c] = failed;
        }
    }
    cells.retention_equivalent_s = 0.0;
}

void age_cells(const Card& card, double time_s, double temperature_c, CellArray& cells) {
    if (!(time_s >= 0.0)) fail("age_cells: time_s must be >= 0, got ", time_s);
    if (!(temperature_c >= -60.0 && temperature_c <= 300.0))
        fail("age_cells: temperature_c = ", temperature_c, " is out of range [-60, 300]");
    const RetentionParams& r = card.retention;
    const double t_old = cells.retention_equivalent_s;
    const double t_new = t_old + acceleration_factor(r, temperature_c) * time_s;
    const double f_old = loss_time_factor(t_old, r.tau0_s), f_new = loss_time_factor(t_new, r.tau0_s);
    const i64 n = static_cast<i64>(cells.size());
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const double neutral = r.neutral_vth_v + cells.vth_offset_v[i];
        const double lost_old = charge_loss_fraction(cells.beta[i], f_old);
        const double lost_new = charge_loss_fraction(cells.beta[i], f_new);
        // V(t) = V_n + (V_0 − V_n)(1 − L(t)): recover V_0 − V_n from the present V, then advance.
        const double v = lost_old >= 1.0 ? neutral
                                         : neutral + (cells.vth_v[i] - neutral) * (1.0 - lost_new) / (1.0 - lost_old);
        cells.vth_v[i] = static_cast<float>(v);
    }
    cells.retention_equivalent_s = t_new;
}

ReadConditions read_conditions(const Card& card, double temperature_c) {
    return ReadConditions{temperature_c, card.levels.read_vgs_v, card.levels.read_vds_v};
}

void read_currents_a(const Card& card, const CellArray& cells, const ReadConditions& read, Noise noise,
                     const Streams& streams, std::uint64_t read_key, std::vector<float>& current_a) {
    if (noise == Noise::on && cells.trap_begin.size() != cells.size() + 1)
        fail("read_currents_a: the cells have no RTN traps (call sample_cells first)");
    if (!(read.vds_v > 0.0)) fail("read_currents_a: V_DS must be > 0, got ", read.vds_v);
    const double vt = units::thermal_voltage_v(read.temperature_c);
    const double i0 = specific_current_at_a(card.iv, read.temperature_c);
    const double d = read.vds_v / vt;
    const double vth_shift = card.iv.vth_temp_coeff_v_per_k * (read.temperature_c - card.iv.reference_temperature_c);
    current_a.resize(cells.size());
    const i64 n = static_cast<i64>(cells.size());
    const double vgs = read.vgs_v;
    const float* const vth_v = cells.vth_v.data();
    const float* const slope_n = cells.slope_n.data();
    float* const out = current_a.data();
    // The I–V of cell i with an RTN shift and a current factor.
    auto current = [=](i64 i, double rtn_v, double factor) {
        const double vth = vth_v[i] - vth_shift + rtn_v;
        return static_cast<float>(i0 * normalized_current((vgs - vth) / (slope_n[i] * vt), d) * factor);
    };
    if (noise == Noise::off) {
#pragma omp parallel for simd schedule(static)
        for (i64 i = 0; i < n; ++i) out[i] = current(i, 0.0, 1.0);
        return;
    }
    std::vector<float> rtn, factor;
    sample_read_noise(card, cells, streams, read_key, rtn, factor);
    const float* const rtn_v = rtn.data();
    const float* const factor_v = factor.data();
#pragma omp parallel for simd schedule(static)
    for (i64 i = 0; i < n; ++i) out[i] = current(i, rtn_v[i], factor_v[i]);
}

void sample_read_noise(const Card& card, const CellArray& cells, const Streams& streams, std::uint64_t read_key,
                       std::vector<float>& rtn_shift, std::vector<float>& current_factor) {
    if (cells.trap_begin.size() != cells.size() + 1)
        fail("sample_read_noise: the cells have no RTN traps (call sample_cells first)");
    const double sigma_i = card.read_noise.current_sigma_rel;
    rtn_shift.resize(cells.size());
    current_factor.resize(cells.size());
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily read_streams = streams.family({static_cast<std::uint64_t>(Stage::read), read_key});
    // Slot 0: the current noise, vectorized; slots 1, 2, …: the occupancy of each trap.
    float* const factor = current_factor.data();
#pragma omp parallel for simd schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const double z = draw_normal(read_streams.hash(cells.first_cell + static_cast<std::uint64_t>(i)), 0);
        factor[i] = static_cast<float>(current_noise_factor(sigma_i, z));
    }
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint32_t traps = cells.trap_count(i);
        if (traps == 0) {
            rtn_shift[i] = 0.0f;
            continue;
        }
        CellStream rng(read_streams.hash(cells.first_cell + static_cast<std::uint64_t>(i)), 1);
        rtn_shift[i] = static_cast<float>(rtn_shift_v(cells.trap_amplitude_v.data() + cells.trap_begin[i],
                                                      cells.trap_occupancy.data() + cells.trap_begin[i], traps, rng));
    }
}

}  // namespace flashmc::device
