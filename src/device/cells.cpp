#include "flashmc/device/cells.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "flashmc/core/error.hpp"

namespace flashmc::device {

namespace {

using i64 = std::int64_t;
using u64 = std::uint64_t;

// The cell of each of the traps of cells [0, n) (trap_begin as CellArray's, possibly of a slice
// starting at begin[0]), so that loops over traps vectorize (trap counts are random, so per-cell
// loops over them mispredict): each cell marks its first trap (a later cell with the same first
// trap, the one that owns it, overwrites one without traps), then a running maximum fills the rest.
void trap_owners(const std::uint32_t* begin, i64 n, std::vector<std::uint32_t>& owner) {
    const std::uint32_t first = begin[0];
    const i64 traps = static_cast<i64>(begin[n]) - first;
    owner.assign(static_cast<std::size_t>(traps) + 1, 0);
    std::uint32_t* const own = owner.data();
    for (i64 i = 0; i < n; ++i) own[begin[i] - first] = static_cast<std::uint32_t>(i);
    for (i64 j = 1; j < traps; ++j) own[j] = std::max(own[j], own[j - 1]);
}

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

// An erase or an open-loop program leaves no pulse counts, no verify failures and no retention age.
void clear_history(CellArray& cells) {
    std::fill(cells.pulses.begin(), cells.pulses.end(), 0);
    std::fill(cells.program_failed.begin(), cells.program_failed.end(), 0);
    cells.retention_equivalent_s = 0.0;
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

// The per-cell program efficiency η from the normal draw of slot 0 of the cell's program stream,
// so that the pulse-level, statistical and open-loop models see the same η for the same cell.
inline double efficiency(double z, double sigma) {
    const double eta = 1.0 + sigma * z;
    return eta > kMinEfficiency ? eta : kMinEfficiency;
}

// Cells per block of the vectorized passes (the statistical program keeps ~45 KB per thread).
constexpr i64 kBlock = 128;

// Draw slots of a cell's program stream in the statistical model. Slot 0: η. Ladder L (0: coarse,
// 1: fine) from base (L + 1)·2^32, offsets named below. Walked pulse q is the q-th single pulse
// below the band (after the jump); verify j the j-th verify in the band (j = 0: the first verify
// that can pass).
constexpr u64 ladder_slot(int ladder) { return static_cast<u64>(ladder + 1) << 32; }
struct LadderSlots {
    // Renewal overshoot: U at +0, rejection round m at +1+2m, +2+2m (ispp_overshoot_v). The second
    // normal of round 0's proposal pair is the normal of the jump over k₀ pulses, or of the pulses
    // left at a failure.
    static constexpr u64 overshoot = 0;
    static constexpr u64 walk = u64{1} << 28;   // walked pulse q: the normal at + q
    static constexpr u64 band = u64{1} << 29;   // verify j: the pair at + j (current noise; injection of the pulse after it)
    static constexpr u64 traps = u64{1} << 31;  // trap occupancies of verify j: + j·traps + t
};
// The ranges do not overlap for up to 2^26 rejection rounds, 65536 pulses and verifies per ladder
// (max_pulses <= 65535) and 32767 traps per cell, and ladder 1 ends below ladder 2's base.
static_assert(LadderSlots::overshoot + 3 + 2 * (u64{1} << 26) <= LadderSlots::walk);
static_assert(LadderSlots::walk + 65536 <= LadderSlots::band);
static_assert(LadderSlots::band + 65536 <= LadderSlots::traps);
static_assert(LadderSlots::traps + 65536 * u64{32767} + 32767 <= u64{1} << 32);

// Statistical program (docs/physics.md §4.3): the current-noise bound of the band (z >= −6: one
// verify in 10^9 lies outside it), the distance of the jump from the band in standard deviations
// of the jumped sum, and the mixing threshold k·σ²/ΔV² above which the renewal overshoot is used.
constexpr double kCurrentSigmas = 6.0;
constexpr double kJumpSigmas = 6.0;
constexpr double kMixing = 1.0;
// A pulse lowers V_th with probability Φ(−ΔV/σ) > 1 % when σ·2.33 > ΔV; the renewal then lands
// this many steps below the band.
constexpr double kPositiveSigmas = 2.33;
constexpr double kRenewalStepsBelow = 3.0;

// The RTN traps of one block's cells, one entry per trap in cell order (the block's slice of the
// CellArray's trap arrays): what a verify needs to draw every trap's occupancy at once.
struct BlockTraps {
    const float *amplitude_v = nullptr, *occupancy = nullptr;
    std::vector<std::int32_t> cell, ends;          // the entry's cell; cells ending at each entry
    std::vector<std::uint64_t> h, stride, index;   // the cell's key hash and trap count, t
    std::vector<float> shift_v;

    // The traps of cells [b0, b0 + m), and per cell its trap count, first entry and largest RTN shift.
    void gather(const CellArray& cells, i64 b0, int m, const std::uint64_t* key, std::int32_t* traps,
                std::int32_t* first, double* rtn_max) {
        const std::uint32_t t0 = cells.trap_begin[b0];
        const std::int32_t count = static_cast<std::int32_t>(cells.trap_begin[b0 + m] - t0);
        amplitude_v = cells.trap_amplitude_v.data() + t0, occupancy = cells.trap_occupancy.data() + t0;
        const std::size_t size = static_cast<std::size_t>(count);
        cell.resize(size), h.resize(size), stride.resize(size), index.resize(size), shift_v.resize(size);
        ends.assign(size + 1, 0);
        for (int i = 0; i < m; ++i) {
            first[i] = static_cast<std::int32_t>(cells.trap_begin[b0 + i] - t0);
            traps[i] = static_cast<std::int32_t>(cells.trap_begin[b0 + i + 1] - t0) - first[i];
            ends[first[i] + traps[i]] += 1;
            rtn_max[i] = 0.0;
        }
        // Entry e belongs to the cell after all cells ending at or before e (no branches).
        std::int32_t ended = 0;
        for (std::int32_t e = 0; e < count; ++e) {
            ended += ends[e];
            const std::int32_t i = ended;
            cell[e] = i, h[e] = key[i], stride[e] = static_cast<std::uint64_t>(traps[i]);
            index[e] = static_cast<std::uint64_t>(e - first[i]);
            rtn_max[i] += amplitude_v[e];
        }
    }
};

// The cells of one block in one ladder of the statistical program, structure of arrays: the block
// itself (entry k is cell k) or the few cells still active once most are done (entry k is block
// cell idx[k]). The vectorized rounds below work on either; `active` flags the entries a round
// moves. Per entry: the trap count and first trap, the stream key hash, V_th, pulses, failure, the
// step η·ΔV and injection σ, the verify level, the bottom and top of the band (below it no verify
// passes, from its top on every verify passes) and the current-noise scale.
struct LadderLanes {
    int n = 0;
    alignas(64) std::int32_t idx[kBlock], traps[kBlock], first_trap[kBlock];
    alignas(64) std::uint64_t h[kBlock];
    alignas(64) double active[kBlock], v[kBlock], pulses[kBlock], failed[kBlock], step[kBlock], sigma[kBlock],
        level[kBlock], band[kBlock], sure[kBlock], vpl[kBlock], rtn[kBlock];

    void copy_entry(int to, const LadderLanes& from, int k) {
        idx[to] = from.idx[k], traps[to] = from.traps[k], first_trap[to] = from.first_trap[k], h[to] = from.h[k];
        active[to] = from.active[k], v[to] = from.v[k], pulses[to] = from.pulses[k], failed[to] = from.failed[k];
        step[to] = from.step[k], sigma[to] = from.sigma[k], level[to] = from.level[k], band[to] = from.band[k];
        sure[to] = from.sure[k], vpl[to] = from.vpl[k];
    }
    // The active entries of the block.
    void select(const LadderLanes& block) {
        alignas(64) std::int32_t which[kBlock];
        int count = 0;
        for (int k = 0; k < block.n; ++k) {
            which[count] = k;
            count += block.active[k] != 0.0;
        }
        for (n = 0; n < count; ++n) copy_entry(n, block, which[n]);
    }
    // Writes every entry's state back to the block and keeps the active ones.
    void compact(LadderLanes& block) {
        int kept = 0;
        for (int k = 0; k < n; ++k) {
            const int i = idx[k];
            block.v[i] = v[k], block.pulses[i] = pulses[k], block.failed[i] = failed[k];
            if (active[k] != 0.0) copy_entry(kept++, *this, k);
        }
        n = kept;
    }
};

// One single pulse (walk draw `slot`) for every active entry; it stays active while below its band.
// Returns the number still active.
int walk_round(LadderLanes& c, u64 slot, double max_pulses) {
    double still = 0.0;
#pragma omp simd reduction(+ : still)
    for (int k = 0; k < c.n; ++k) {
        const bool on = c.active[k] != 0.0;
        const bool out = on & (c.pulses[k] == max_pulses);
        const bool pulse = on & !out;
        const double z = draw_normal(c.h[k], slot);
        c.v[k] += pulse ? c.step[k] + c.sigma[k] * z : 0.0;
        c.pulses[k] += pulse ? 1.0 : 0.0;
        c.failed[k] = out ? 1.0 : c.failed[k];
        c.active[k] = pulse & (c.v[k] < c.band[k]) ? 1.0 : 0.0;
        still += c.active[k];
    }
    return static_cast<int>(still);
}

// The RTN shift of verify `verify` (rtn_shift_v's draws and sums: trap t occupied with probability
// p_t): for the whole block, every trap at once (vectorized) and summed per cell...
void block_rtn(LadderLanes& c, BlockTraps& traps, u64 base, u64 verify) {
    const i64 count = static_cast<i64>(traps.cell.size());
    const std::uint64_t *const h = traps.h.data(), *const stride = traps.stride.data(), *const index = traps.index.data();
    const float *const amp = traps.amplitude_v, *const occ = traps.occupancy;
    float* const shift = traps.shift_v.data();
    const u64 first = base + LadderSlots::traps;
#pragma omp simd
    for (i64 e = 0; e < count; ++e)
        shift[e] = draw_uniform(h[e], first + verify * stride[e] + index[e]) < occ[e] ? amp[e] : 0.0f;
#pragma omp simd
    for (int k = 0; k < c.n; ++k) c.rtn[k] = 0.0;
    for (i64 e = 0; e < count; ++e) c.rtn[traps.cell[e]] += shift[e];
}
// … or for the few compacted entries, one at a time.
void entry_rtn(LadderLanes& c, const BlockTraps& traps, u64 base, u64 verify) {
    const float *const amp = traps.amplitude_v, *const occ = traps.occupancy;
    for (int k = 0; k < c.n; ++k) {
        const u64 first = base + LadderSlots::traps + verify * static_cast<u64>(c.traps[k]);
        double shift = 0.0;
        for (std::int32_t t = 0; t < c.traps[k]; ++t) {
            const std::int32_t e = c.first_trap[k] + t;
            shift += draw_uniform(c.h[k], first + static_cast<u64>(t)) < occ[e] ? amp[e] : 0.0f;
        }
        c.rtn[k] = shift;
    }
}

// Verify `verify` of the band for every active entry, as program_verify's: the RTN shift (c.rtn)
// and current noise drawn afresh; an entry that fails it gets one pulse (the pair's second normal)
// and stays active, unless out of pulses or now at the top of the band. Returns the number still
// active.
int band_round(LadderLanes& c, u64 base, u64 verify, double sigma_i, double max_pulses) {
    double still = 0.0;
#pragma omp simd reduction(+ : still)
    for (int k = 0; k < c.n; ++k) {
        const NormalPair z = draw_normal_pair(c.h[k], base + LadderSlots::band + verify);
        const double f = 1.0 + sigma_i * z.first;
        const double current_noise = -c.vpl[k] * log_fast(f > 1e-3 ? f : 1e-3);
        const bool on = c.active[k] != 0.0;
        const bool fail = on & (c.v[k] + c.rtn[k] + current_noise < c.level[k]);
        const bool out = fail & (c.pulses[k] == max_pulses);
        const bool pulse = fail & !out;
        c.v[k] += pulse ? c.step[k] + c.sigma[k] * z.second : 0.0;
        c.pulses[k] += pulse ? 1.0 : 0.0;
        c.failed[k] = out ? 1.0 : c.failed[k];
        c.active[k] = pulse & (c.v[k] < c.sure[k]) ? 1.0 : 0.0;
        still += c.active[k];
    }
    return static_cast<int>(still);
}

// Rounds r = 0, 1, … until no entry is active: on the whole block, round(block, r, true), while at
// least a quarter of it is active (no copies), then on the compacted rest, round(rest, r, false).
template <class Round>
void run_rounds(LadderLanes& block, LadderLanes& rest, int active, Round&& round) {
    u64 r = 0;
    for (; active > 0 && 4 * active >= block.n; ++r) active = round(block, r, true);
    if (active == 0) return;
    rest.select(block);
    for (; rest.n > 0; ++r) {
        round(rest, r, false);
        rest.compact(block);
    }
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
    // Pass 3: trap j of a cell has its amplitude and occupancy at slots 5 + 2j and 6 + 2j; one
    // vectorized pass over the traps, each knowing its cell.
    c.trap_amplitude_v.resize(total);
    c.trap_occupancy.resize(total);
    const i64 traps_n = static_cast<i64>(total);
    const std::uint32_t* const begin = c.trap_begin.data();
    trap_owners(begin, n, c.trap_owner);  // kept: every noisy read loops over the traps
    const std::uint32_t* const own = c.trap_owner.data();
    const double amplitude = card.read_noise.rtn_amplitude_mean_v;
    float* const amplitude_v = c.trap_amplitude_v.data();
    float* const occupancy = c.trap_occupancy.data();
#pragma omp parallel for simd schedule(static)
    for (i64 j = 0; j < traps_n; ++j) {
        const std::uint32_t i = own[j];
        const std::uint64_t h = static_streams.hash(first_cell + static_cast<std::uint64_t>(i));
        const std::uint64_t k = static_cast<std::uint64_t>(j) - begin[i];
        amplitude_v[j] = static_cast<float>(amplitude > 0.0 ? draw_exponential(h, 5 + 2 * k, amplitude) : 0.0);
        occupancy[j] = static_cast<float>(draw_uniform(h, 6 + 2 * k));
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
    clear_history(cells);
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
    clear_history(cells);
}

void program_statistical(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                         const Streams& streams, CellArray& cells) {
    check_program_inputs(targets, levels, cells, "program_statistical");
    const Card worn = worn_card(card, cells.pe_cycles);
    const ProgramParams& p = worn.program;
    const double vt = targets.thermal_voltage_v;
    const double sigma_i = card.read_noise.current_sigma_rel;
    // ln of the smallest and largest current factors of the band, 1 ∓ 6σ_I (floored as the draws
    // are): the current-noise term of a verify lies within −v_pl·ln(1 ± 6σ_I).
    const double ln_low_current = std::log(std::max(1e-3, 1.0 - kCurrentSigmas * sigma_i));
    const double ln_high_current = std::log(1.0 + kCurrentSigmas * sigma_i);
    const int first_ladder = p.double_verify() ? 0 : 1;
    const double step_of[2] = {p.coarse_step_v, p.step_v}, margin_of[2] = {p.coarse_margin_v, 0.0};
    const i64 n = static_cast<i64>(cells.size());
    const StreamFamily program_streams = stage_streams(streams, Stage::program);
    const double* const overdrive_u = targets.overdrive_u.data();
    const double* const log_slope = targets.log_slope.data();
    const double vth_top = targets.read_vgs_v + targets.vth_shift_v;
    const double sigma_eta = p.efficiency_sigma, cpp_f = p.cpp_f, fano = p.injection_fano;
    const double max_pulses = p.max_pulses;
#pragma omp parallel
    {
        BlockTraps traps;
        LadderLanes c, rest;
#pragma omp for schedule(static)
        for (i64 b0 = 0; b0 < n; b0 += kBlock) {
            c.n = static_cast<int>(std::min(kBlock, n - b0));
            // Per cell, vectorized: the stream, η, the target, the verify-noise scale.
            alignas(64) double eta[kBlock], target[kBlock], noise_max[kBlock], noise_min[kBlock], renewal[kBlock],
                renewal_v[kBlock], x_over[kBlock] = {};
            const std::uint8_t* const level = levels.data() + b0;
            const float* const slope_n = cells.slope_n.data() + b0;
            const float* const vth_v = cells.vth_v.data() + b0;
#pragma omp simd
            for (int i = 0; i < c.n; ++i) {
                c.idx[i] = i;
                c.h[i] = program_streams.hash(cells.first_cell + static_cast<std::uint64_t>(b0 + i));
                eta[i] = efficiency(draw_normal(c.h[i], 0), sigma_eta);
                const double nvt = slope_n[i] * vt;
                target[i] = vth_top - nvt * overdrive_u[level[i]];
                // Verify-read current noise in V_th: through the local slope d ln I / dV_th =
                // −γ_k / (n V_T) (exact in subthreshold, where γ = 1).
                c.vpl[i] = nvt / log_slope[level[i]];
                c.v[i] = vth_v[i], c.pulses[i] = 0.0, c.failed[i] = 0.0;
            }
            // The traps of the block; the largest verify-read noise of each cell (every trap
            // occupied and a −6σ current draw) and the smallest (none occupied, +6σ).
            traps.gather(cells, b0, c.n, c.h, c.traps, c.first_trap, noise_max);
#pragma omp simd
            for (int i = 0; i < c.n; ++i) {
                noise_max[i] -= c.vpl[i] * ln_low_current;
                noise_min[i] = -c.vpl[i] * ln_high_current;
            }

            // Ladder l (fine: to the target; coarse: to target − margin). Below the band
            // [a, ∞), a = level − noise_max, no verify can pass: the ladder gets there by the
            // renewal overshoot when the k pulses on the way randomize its phase (k σ² >= ΔV²),
            // else by one jump and single pulses; in the band every verify and pulse is drawn as in
            // program_verify, until a pass, the top of the band (a sure pass) or max_pulses
            // (docs/physics.md §4.3).
            for (int l = first_ladder; l < 2; ++l) {
                const u64 base = ladder_slot(l);
                const double step_v = step_of[l], margin = margin_of[l];
                double renewals = 0.0;
#pragma omp simd reduction(+ : renewals)
                for (int i = 0; i < c.n; ++i) {
                    const double s = step_v * eta[i];
                    const double sg = injection_sigma_v(s, cpp_f, fano);
                    c.step[i] = s, c.sigma[i] = sg;
                    c.level[i] = target[i] - margin;
                    c.band[i] = c.level[i] - noise_max[i];
                    c.sure[i] = c.level[i] - noise_min[i];
                    // The renewal's level r: the band's bottom a, or 3 steps lower where a pulse
                    // lowers V_th with probability > 1 % (the overshoot is then a ladder height's,
                    // a little different from U·X̃; the single pulses from r to a wash that out).
                    renewal_v[i] = c.band[i] - (sg * kPositiveSigmas > s ? kRenewalStepsBelow * s : 0.0);
                    const double d = renewal_v[i] - c.v[i];  // k = d/ΔV pulses below r
                    renewal[i] = (c.failed[i] == 0.0) & (d > 0.0) & (sg * sg * d >= kMixing * s * s * s) ? 1.0 : 0.0;
                    renewals += renewal[i];
                }
                // The renewal overshoot's X̃ where needed: round 0 vectorized, the rejected few after.
                if (renewals > 0.0) {
#pragma omp simd
                    for (int i = 0; i < c.n; ++i)
                        x_over[i] = size_biased_round_v(c.step[i], c.sigma[i], c.h[i], base + LadderSlots::overshoot, 0);
                    for (int i = 0; i < c.n; ++i)
                        if (renewal[i] != 0.0 && x_over[i] == 0.0)
                            x_over[i] = size_biased_v(c.step[i], c.sigma[i], c.h[i], base + LadderSlots::overshoot, 1);
                }
                double walking = 0.0;
#pragma omp simd reduction(+ : walking)
                for (int i = 0; i < c.n; ++i) {
                    const double s = c.step[i], sg = c.sigma[i], a = c.band[i], v = c.v[i], d = a - v;
                    const double per_step = 1.0 / s;
                    const bool below = (c.failed[i] == 0.0) & (d > 0.0), renew = renewal[i] != 0.0;
                    const double left = max_pulses - c.pulses[i];
                    const double z = draw_normal_pair(c.h[i], base + LadderSlots::overshoot + 1).second;
                    // Jump: the most pulses k₀ with k₀ΔV + 6σ√k₀ <= d, i.e. still below a.
                    const double q = kJumpSigmas * sg;
                    const double root = (std::sqrt(q * q + 4.0 * s * (d > 0.0 ? d : 0.0)) - q) * (0.5 * per_step);
                    const double k0 = std::floor(root * root);
                    // n pulses in one draw, their sum N(nΔV, nσ²): the jump's k₀, or all pulses left.
                    // Out of pulses below the band (a program failure with that sum): the jump
                    // takes all of them; a renewal ladder's sum of all of them stays below r.
                    const double n_sum = (renew | (k0 >= left)) ? left : k0;
                    const double sum = n_sum * s + std::sqrt(n_sum) * sg * z;
                    const bool out = below & ((renew & (sum < renewal_v[i] - v)) | (!renew & (k0 >= left)));
                    // Renewal: the first position at or above r is r + U·X̃, after N pulses
                    // estimated from the sum NΔV + σ√N z = travel (the z of the failure test).
                    const double travel = renewal_v[i] - v + draw_uniform(c.h[i], base + LadderSlots::overshoot) *
                                                                 (renew ? x_over[i] : 0.0);
                    const double k = travel > 0.0 ? travel * per_step : 0.0;
                    const double needed = std::min(left, std::max(1.0, std::floor(k - sg * per_step * std::sqrt(k) * z + 0.5)));
                    const double used = out ? left : below ? (renew ? needed : k0) : 0.0;
                    c.v[i] = renew & !out ? v + travel : below ? v + sum : v;
                    c.pulses[i] += used;
                    c.failed[i] = out ? 1.0 : c.failed[i];
                    c.active[i] = below & !out & (c.v[i] < a) ? 1.0 : 0.0;  // walks on to a
                    walking += c.active[i];
                }
                // Single pulses from the jump up to the band.
                run_rounds(c, rest, static_cast<int>(walking), [&](LadderLanes& lanes, u64 pulse, bool) {
                    return walk_round(lanes, base + LadderSlots::walk + pulse, max_pulses);
                });
                // The band: every cell not failed and below the top of the band, verify after verify.
                double in_band = 0.0;
#pragma omp simd reduction(+ : in_band)
                for (int i = 0; i < c.n; ++i) {
                    c.active[i] = (c.failed[i] == 0.0) & (c.v[i] < c.sure[i]) ? 1.0 : 0.0;
                    in_band += c.active[i];
                }
                run_rounds(c, rest, static_cast<int>(in_band), [&](LadderLanes& lanes, u64 verify, bool whole_block) {
                    if (whole_block)
                        block_rtn(lanes, traps, base, verify);
                    else
                        entry_rtn(lanes, traps, base, verify);
                    return band_round(lanes, base, verify, sigma_i, max_pulses);
                });
            }
            for (int i = 0; i < c.n; ++i) {
                cells.vth_v[b0 + i] = static_cast<float>(c.v[i]);
                cells.pulses[b0 + i] = static_cast<std::uint16_t>(c.pulses[i]);
                cells.program_failed[b0 + i] = static_cast<std::uint8_t>(c.failed[i]);
            }
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

void disturb_cells(const Card& card, double reads, double temperature_c, const Streams& streams, CellArray& cells) {
    if (!(reads >= 0.0 && reads <= 1e18)) fail("disturb_cells: reads = ", reads, " is out of range [0, 1e18]");
    if (!(temperature_c >= -60.0 && temperature_c <= 300.0))
        fail("disturb_cells: temperature_c = ", temperature_c, " is out of range [-60, 300]");
    const ReadDisturbParams& p = card.read_disturb;
    const double stress_s = reads * p.stress_per_read_s;
    if (stress_s == 0.0 || p.reference_shift_v == 0.0) return;
    const double rate = read_disturb_rate_v_per_s(p) * read_disturb_acceleration(p, temperature_c), sigma = p.rate_sigma_ln;
    const StreamFamily disturb_streams = stage_streams(streams, Stage::disturb), static_streams = stage_streams(streams, Stage::statics);
    const double tail_fraction = card.retention.tail_fraction, tail_factor = p.tail_rate_factor;
    const i64 n = static_cast<i64>(cells.size());
    float* const vth_v = cells.vth_v.data();
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t cell = cells.first_cell + static_cast<std::uint64_t>(i), h = disturb_streams.hash(cell);
        // The retention tail's membership, as sample_cells drew it (statics slot 3).
        const double tail = draw_uniform(static_streams.hash(cell), 3) < tail_fraction ? tail_factor : 1.0;
        const double r = (sigma > 0.0 ? rate * std::exp(sigma * draw_normal(h, 0)) : rate) * tail;
        vth_v[i] = static_cast<float>(vth_v[i] + read_disturb_shift_v(p, vth_v[i], r, stress_s));
    }
}

void live_cells(const Card& card, double time_s, double temperature_c, double reads, const Streams& streams, CellArray& cells) {
    if (reads > 0 && time_s > 0) {
        for (int k = 0; k < kLifeSteps; ++k) {
            age_cells(card, time_s / kLifeSteps, temperature_c, cells);
            disturb_cells(card, reads / kLifeSteps, temperature_c, streams, cells);
        }
    } else if (time_s > 0) {
        age_cells(card, time_s, temperature_c, cells);
    } else if (reads > 0) {
        disturb_cells(card, reads, temperature_c, streams, cells);
    }
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
    // Slot 0: the current noise; slots 1, 2, …: the occupancy of each trap (rtn_shift_v's draws).
    // Branch-free, vectorizing loops (trap counts are random, so per-cell loops over them mispredict):
    // per cell its key hash and current noise; per trap, each knowing its cell, its occupancy draw;
    // then each cell's occupied amplitudes summed in trap order, as rtn_shift_v adds them, so that
    // the shifts are the same bits.
    thread_local std::vector<std::uint64_t> key;
    thread_local std::vector<std::uint32_t> owner;
    thread_local std::vector<float> occupied_v;
    thread_local std::vector<double> sum_v;
    key.resize(cells.size());
    std::uint64_t* const h = key.data();
    float* const factor = current_factor.data();
#pragma omp parallel for simd schedule(static)
    for (i64 i = 0; i < n; ++i) {
        h[i] = read_streams.hash(cells.first_cell + static_cast<std::uint64_t>(i));
        factor[i] = static_cast<float>(current_noise_factor(sigma_i, draw_normal(h[i], 0)));
    }
    const std::uint32_t* const begin = cells.trap_begin.data();
    const std::uint32_t first = begin[0];
    const i64 traps = static_cast<i64>(begin[n]) - first;
    // The owners kept by sample_cells (a CellArray built otherwise has none).
    const bool kept = cells.trap_owner.size() == static_cast<std::size_t>(traps) + 1;
    if (!kept) trap_owners(begin, n, owner);
    const std::uint32_t* const own = kept ? cells.trap_owner.data() : owner.data();
    occupied_v.resize(static_cast<std::size_t>(traps));
    const float* const occupancy = cells.trap_occupancy.data() + first;
    const float* const amplitude = cells.trap_amplitude_v.data() + first;
    float* const occ = occupied_v.data();
#pragma omp parallel for simd schedule(static)
    for (i64 j = 0; j < traps; ++j) {
        const std::uint32_t i = own[j];
        const double u = draw_uniform(h[i], 1 + (first + static_cast<std::uint64_t>(j) - begin[i]));
        occ[j] = u < occupancy[j] ? amplitude[j] : 0.0f;
    }
    sum_v.assign(cells.size(), 0.0);
    double* const dv = sum_v.data();
    for (i64 j = 0; j < traps; ++j) dv[own[j]] += occ[j];
    float* const shift = rtn_shift.data();
#pragma omp parallel for simd schedule(static)
    for (i64 i = 0; i < n; ++i) shift[i] = static_cast<float>(dv[i]);
}

}  // namespace flashmc::device

namespace flashmc::device {

ProgramOrder parse_program_order(const std::string& s) {
    if (s == "cell") return ProgramOrder::cell;
    if (s == "row") return ProgramOrder::row;
    fail("program order '", s, "': expected \"cell\" or \"row\"");
}

const char* program_order_name(ProgramOrder o) { return o == ProgramOrder::cell ? "cell" : "row"; }

void program_disturb_cells(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels, int rows,
                           int cols, ProgramOrder order, bool reverify, bool open_loop, const Streams& streams, CellArray& cells) {
    const ProgramDisturbParams& p = card.program_disturb;
    if (rows < 1 || cols < 1 || static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) != cells.size())
        fail("program_disturb_cells: ", rows, " x ", cols, " cells for an array of ", cells.size());
    if (!p.active()) return;
    const auto cell = [rows](int r, int c) { return static_cast<std::size_t>(c) * static_cast<std::size_t>(rows) + static_cast<std::size_t>(r); };
    auto pulses = [&](int r, int c) { return open_loop ? 1.0 : static_cast<double>(cells.pulses[cell(r, c)]); };
    // Disturbing pulses per cell: the later cells' ladders on its word line and its bit line.
    std::vector<double> gate(cells.size()), drain(cells.size());
    for (int r = 0; r < rows; ++r) {
        double later = 0.0, longest = 0.0;
        for (int c = cols - 1; c >= 0; --c) {
            gate[cell(r, c)] = later;
            later += pulses(r, c);
            longest = std::max(longest, pulses(r, c));
        }
        if (order == ProgramOrder::row)
            for (int c = 0; c < cols; ++c) gate[cell(r, c)] = longest - pulses(r, c);
    }
    for (int c = 0; c < cols; ++c) {
        double later = 0.0;
        for (int r = rows - 1; r >= 0; --r) {
            drain[cell(r, c)] = later;
            later += pulses(r, c);
        }
    }
    const double r_g = program_disturb_rate_v(p.gate_shift_per_pulse_v, p.field_v);
    const double r_d = program_disturb_rate_v(p.drain_shift_per_pulse_v, p.field_v), sigma = p.rate_sigma_ln;
    const StreamFamily family = stage_streams(streams, Stage::program_disturb);
    const i64 n = static_cast<i64>(cells.size());
#pragma omp parallel for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const std::uint64_t h = family.hash(cells.first_cell + static_cast<std::uint64_t>(i));
        double v = cells.vth_v[i];
        v += gate_disturb_shift_v(p, v, r_g * std::exp(sigma * draw_normal(h, 0)), gate[i]);
        v += drain_disturb_shift_v(p, v, r_d * std::exp(sigma * draw_normal(h, 1)), drain[i]);
        cells.vth_v[i] = static_cast<float>(v);
    }
    if (!reverify || open_loop) return;
    // The re-verify pass: program_verify from the present V_th tops up what verifies low.
    const std::vector<std::uint16_t> before = cells.pulses;
    const std::vector<std::uint8_t> failed = cells.program_failed;
    const double retention = cells.retention_equivalent_s;
    program_verify(card, targets, levels, Streams(hash_keys(streams.seed(), {static_cast<std::uint64_t>(Stage::program_disturb)})), cells);
    for (std::size_t i = 0; i < cells.size(); ++i) {
        cells.pulses[i] = static_cast<std::uint16_t>(std::min<int>(65535, before[i] + cells.pulses[i]));
        cells.program_failed[i] = failed[i] | cells.program_failed[i];
    }
    cells.retention_equivalent_s = retention;
}

}  // namespace flashmc::device
