#include "flashmc/device/cells.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <omp.h>

#include "flashmc/core/error.hpp"

namespace flashmc::device {

namespace {

using i64 = std::int64_t;

// The streams of one stage: stage_streams(s, stage).at(cell) is s.at({stage, cell}).
StreamFamily stage_streams(const Streams& s, Stage stage) { return s.family({static_cast<std::uint64_t>(stage)}); }

// N(μ, σ²) conditioned on x <= max_v. Rejection from the untruncated normal while the acceptance
// is >= 16 % (cut at or above μ − σ); beyond, Robert's exponential proposal for the far tail
// (C. P. Robert, Statistics and Computing 5:121, 1995).
double normal_below(double mu, double sigma, double max_v, Stream& rng) {
    if (sigma <= 0.0) return std::min(mu, max_v);
    const double a = (max_v - mu) / sigma;  // cut in standard units
    if (a >= -1.0) {
        for (;;) {
            const double z = rng.normal();
            if (z <= a) return mu + sigma * z;
        }
    }
    const double b = -a;  // sample z' = −z >= b
    const double alpha = 0.5 * (b + std::sqrt(b * b + 4.0));
    for (;;) {
        const double z = b + rng.exponential(1.0 / alpha);
        if (rng.uniform() <= std::exp(-0.5 * (z - alpha) * (z - alpha))) return mu - sigma * z;
    }
}

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

// The per-cell program efficiency η: the first draw of the cell's program stream, so that the
// pulse-level, statistical and open-loop models see the same η for the same cell.
double efficiency(Stream& program_rng, double sigma) {
    return std::max(kMinEfficiency, 1.0 + sigma * program_rng.normal());
}

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
    const double traps_mean = card.read_noise.rtn_traps_mean * wear.rtn_factor;
    const double exp_minus_traps = std::exp(-traps_mean);
    const i64 n = static_cast<i64>(count);

    const StreamFamily column_streams = stage_streams(streams, Stage::column_offset),
                       tile_streams = stage_streams(streams, Stage::tile_offset),
                       static_streams = stage_streams(streams, Stage::statics),
                       trap_streams = stage_streams(streams, Stage::traps);
    const double amplitude = card.read_noise.rtn_amplitude_mean_v;
    // One pass: each thread keeps the traps of its cells (a static schedule gives it one
    // contiguous range) and they are concatenated in cell order afterwards.
    std::vector<std::vector<float>> thread_amplitude(static_cast<std::size_t>(omp_get_max_threads())),
        thread_occupancy(thread_amplitude.size());
#pragma omp parallel
    {
        // Column and tile offsets, cached while consecutive cells share them.
        std::uint64_t last_col = std::numeric_limits<std::uint64_t>::max(), last_tile = last_col;
        double col_off = 0.0, tile_off = 0.0;
        std::vector<float>& amp = thread_amplitude[static_cast<std::size_t>(omp_get_thread_num())];
        std::vector<float>& occ = thread_occupancy[static_cast<std::size_t>(omp_get_thread_num())];
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
                col_off = var.sigma_vth_column_v * column_streams.at(col).normal();
                last_col = col;
            }
            if (var.sigma_vth_tile_v > 0.0 && tile != last_tile) {
                tile_off = var.sigma_vth_tile_v * tile_streams.at(tile).normal();
                last_tile = tile;
            }
            Stream rng = static_streams.at(g);
            const double z_vth = rng.normal(), z_n = rng.normal(), z_beta = rng.normal(), u_tail = rng.uniform();
            const double offset = var.sigma_vth_v * z_vth + col_off + tile_off;
            c.vth_offset_v[i] = static_cast<float>(offset);
            c.slope_n[i] = static_cast<float>(std::max(kMinSlopeN, card.iv.slope_n + var.sigma_slope_n * z_n));
            c.beta[i] = static_cast<float>(beta_median * std::exp(ret.beta_sigma_ln * z_beta) *
                                           (u_tail < ret.tail_fraction ? ret.tail_beta_factor : 1.0));
            c.vth_v[i] = static_cast<float>(ret.neutral_vth_v + offset);
            Stream traps = trap_streams.at(g);
            const std::uint32_t k = poisson_small(traps_mean, exp_minus_traps, traps);
            c.trap_begin[i + 1] = k;
            for (std::uint32_t j = 0; j < k; ++j) {
                amp.push_back(static_cast<float>(amplitude > 0.0 ? traps.exponential(amplitude) : 0.0));
                occ.push_back(static_cast<float>(traps.uniform()));
            }
        }
    }
    std::uint64_t total = 0;
    for (std::size_t i = 1; i <= count; ++i) {
        total += c.trap_begin[i];
        if (total > std::numeric_limits<std::uint32_t>::max()) fail("sample_cells: more than 2^32 RTN traps");
        c.trap_begin[i] = static_cast<std::uint32_t>(total);
    }
    c.trap_amplitude_v.reserve(total);
    c.trap_occupancy.reserve(total);
    for (std::size_t t = 0; t < thread_amplitude.size(); ++t) {
        c.trap_amplitude_v.insert(c.trap_amplitude_v.end(), thread_amplitude[t].begin(), thread_amplitude[t].end());
        c.trap_occupancy.insert(c.trap_occupancy.end(), thread_occupancy[t].begin(), thread_occupancy[t].end());
    }
    return c;
}

void erase_cells(const Card& card, const Streams& streams, CellArray& cells) {
    const Card worn = worn_card(card, cells.pe_cycles);
    const EraseParams& e = worn.erase;
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily erase_streams = stage_streams(streams, Stage::erase);
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        Stream rng = erase_streams.at(cells.first_cell + static_cast<std::uint64_t>(i));
        double v = normal_below(e.mean_vth_v, e.sigma_vth_v, e.verify_vth_v, rng);
        if (rng.uniform() < e.over_erase_fraction && e.over_erase_mean_v > 0.0) v -= rng.exponential(e.over_erase_mean_v);
        cells.vth_v[i] = static_cast<float>(v);
        cells.pulses[i] = 0;
        cells.program_failed[i] = 0;
    }
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
        Stream rng = program_streams.at(g);
        const double eta = efficiency(rng, p.efficiency_sigma);
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
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily program_streams = stage_streams(streams, Stage::program);
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t g = cells.first_cell + static_cast<std::uint64_t>(i);
        const double charge = targets.vth_v(levels[i], card.iv.slope_n) - vn;  // nominal V_th shift to place
        Stream rng = program_streams.at(g);
        const double placed = efficiency(rng, p.efficiency_sigma) * charge;
        const double sigma_inj = injection_sigma_v(placed, p.cpp_f, p.injection_fano);
        const double noise = sigma_inj > 0.0 ? sigma_inj * rng.normal() : 0.0;
        cells.vth_v[i] = static_cast<float>(vn + cells.vth_offset_v[i] + shift + placed + noise);
        cells.pulses[i] = 0;
        cells.program_failed[i] = 0;
    }
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
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily program_streams = stage_streams(streams, Stage::program);
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t g = cells.first_cell + static_cast<std::uint64_t>(i);
        const int k = levels[i];
        Stream rng = program_streams.at(g);
        const double eta = efficiency(rng, p.efficiency_sigma);
        const double nvt = cells.slope_n[i] * vt;
        const double target = targets.vth_v(k, cells.slope_n[i]);
        const float* amp = cells.trap_amplitude_v.data() + cells.trap_begin[i];
        const float* occ = cells.trap_occupancy.data() + cells.trap_begin[i];
        const std::uint32_t traps = cells.trap_count(i);
        // Verify-read noise in V_th: the RTN shift, and the current noise through the local slope
        // d ln I / dV_th = −γ_k / (n V_T) (exact in subthreshold, where γ = 1).
        const double volts_per_ln_current = nvt / targets.log_slope[k];
        auto verify_noise = [&]() {
            const double r = rtn_shift_v(amp, occ, traps, rng);
            const double f = sigma_i > 0.0 ? std::max(current_noise_factor(sigma_i, rng), 1e-3) : 1.0;
            return r - volts_per_ln_current * std::log(f);
        };
        double v = cells.vth_v[i];
        int pulses = 0;
        std::uint8_t failed = 0;
        // First verify: skipped (as failing) when even the largest noise cannot lift the cell
        // to the level: all traps occupied plus an 8σ current-noise draw (p < 1e-15).
        double noise_bound = 8.0 * sigma_i < 1.0 ? -volts_per_ln_current * ln_low_current
                                                 : std::numeric_limits<double>::infinity();
        for (std::uint32_t j = 0; j < traps; ++j) noise_bound += amp[j];
        // One ladder from v to `level` (the fine one: the target; the coarse one: target − margin).
        auto ladder = [&](double step_v, double level) {
            const double step = step_v * eta;
            const double sigma_inj = injection_sigma_v(step, p.cpp_f, p.injection_fano);
            if (!(v + noise_bound < level || v + verify_noise() < level)) return;
            const double needed = std::max(1.0, std::ceil((level - v) / step));
            if (pulses + needed > p.max_pulses) {
                const int left = p.max_pulses - pulses;
                pulses = p.max_pulses;
                failed = 1;
                v += left * step + std::sqrt(double(left)) * sigma_inj * rng.normal();
            } else {
                pulses += static_cast<int>(needed);
                v = level + ispp_overshoot_v(step, sigma_inj, rng) - verify_noise();
            }
        };
        if (p.double_verify()) ladder(p.coarse_step_v, target - p.coarse_margin_v);
        if (!failed) ladder(p.step_v, target);
        cells.vth_v[i] = static_cast<float>(v);
        cells.pulses[i] = static_cast<std::uint16_t>(pulses);
        cells.program_failed[i] = failed;
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
    const double sigma_i = card.read_noise.current_sigma_rel;
    current_a.resize(cells.size());
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily read_streams = streams.family({static_cast<std::uint64_t>(Stage::read), read_key});
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        double vth = cells.vth_v[i] - vth_shift, factor = 1.0;
        if (noise == Noise::on) {
            Stream rng = read_streams.at(cells.first_cell + static_cast<std::uint64_t>(i));
            vth += rtn_shift_v(cells.trap_amplitude_v.data() + cells.trap_begin[i],
                               cells.trap_occupancy.data() + cells.trap_begin[i], cells.trap_count(i), rng);
            factor = current_noise_factor(sigma_i, rng);
        }
        const double u = (read.vgs_v - vth) / (cells.slope_n[i] * vt);
        current_a[i] = static_cast<float>(i0 * normalized_current(u, d) * factor);
    }
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
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        Stream rng = read_streams.at(cells.first_cell + static_cast<std::uint64_t>(i));
        rtn_shift[i] = static_cast<float>(rtn_shift_v(cells.trap_amplitude_v.data() + cells.trap_begin[i],
                                                      cells.trap_occupancy.data() + cells.trap_begin[i],
                                                      cells.trap_count(i), rng));
        current_factor[i] = static_cast<float>(current_noise_factor(sigma_i, rng));
    }
}

}  // namespace flashmc::device
