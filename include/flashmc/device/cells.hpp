#pragma once
// Many cells at once, in structure-of-arrays form: the batch operations the array and Monte Carlo
// modules call. A chip's life: sample_cells (static variation, traps, wear) → erase_cells →
// program_verify | program_open_loop | program_statistical → age_cells (any number of bakes) →
// read_currents_a (any number of reads, each with fresh noise).
//
// Randomness: every cell draws from its own counter-based stream (draw_bits in core/rng.hpp) keyed
// by the hash of (stage, cell) (reads: (stage, read_key, cell)), where cell = first_cell + i; each
// stage names its draws by slot. Results are therefore the same for any thread count and any split
// of a chip into CellArrays, and the per-cell loops vectorize. Pass streams specific to the
// group of cells, e.g. Streams(hash_keys(run_seed, {point, trial, layer})), and give each tile
// of the group its own first_cell range.
//
// Loops over cells run in parallel with OpenMP. V_th values are at the card's reference
// temperature T_0; currents are in amperes.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/device/card.hpp"

namespace flashmc::device {

// Stream stage keys (the first key of every per-cell stream).
enum class Stage : std::uint64_t {
    statics = 1, tile_offset = 2, column_offset = 3, erase = 5, program = 7, read = 8,  // statics: also the RTN traps
    disturb = 9, program_disturb = 10,
};

struct CellArray {
    std::uint64_t first_cell = 0;        // stream key of element 0
    double pe_cycles = 0.0;              // P/E cycles before this program (wear of the card)
    double retention_equivalent_s = 0.0; // retention time since programming, as time at T_ref

    // Static per-cell parameters (sample_cells).
    std::vector<float> vth_offset_v;     // δ: device-to-device V_th offset (cell + column + tile)
    std::vector<float> slope_n;          // subthreshold slope factor n
    std::vector<float> beta;             // retention β (with the wear factor of pe_cycles)
    std::vector<std::uint32_t> trap_begin;  // RTN traps of cell i: [trap_begin[i], trap_begin[i+1])
    std::vector<float> trap_amplitude_v;
    std::vector<float> trap_occupancy;
    std::vector<std::uint32_t> trap_owner;  // sample_cells: the cell of each trap (+ 1 entry), for per-trap loops

    // State.
    std::vector<float> vth_v;                   // V_th at T_0
    std::vector<std::uint16_t> pulses;          // program pulses used
    std::vector<std::uint8_t> program_failed;   // 1: max pulses reached before the verify passed

    std::size_t size() const { return vth_v.size(); }
    std::uint32_t trap_count(std::size_t i) const { return trap_begin[i + 1] - trap_begin[i]; }
};

// Draws the static parameters of `count` cells keyed first_cell … first_cell + count − 1 after
// `pe_cycles` P/E cycles; V_th starts at the cell's neutral V_th (retention.neutral_vth_v + δ).
CellArray sample_cells(const Card& card, std::size_t count, double pe_cycles, const Streams& streams,
                       Grid grid = {}, std::uint64_t first_cell = 0);

// Erase: V_th ~ N(μ_E, σ_E) cut above at the erase-verify level, with the over-erase tail.
// Resets pulses, failures and the retention clock.
void erase_cells(const Card& card, const Streams& streams, CellArray& cells);

// Pulse-level ISPP with verify from the present (erased) V_th, one level per cell (0 … max).
void program_verify(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                    const Streams& streams, CellArray& cells);

// Open loop (no verify): V_th = V_n + δ + ΔW + η·(T_k − V_n) + injection noise on the placed
// charge, with T_k the level target for the mean n, V_n the card's neutral V_th and ΔW the cycling
// window shift. The erase is taken to reset the floating-gate charge to neutral, so the cell's
// full device-to-device variation δ shows; the erased V_th is not used.
void program_open_loop(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                       const Streams& streams, CellArray& cells);

// The pulse-level model's distribution without walking every pulse: far below its verify level,
// where no verify can pass, a ladder moves in one draw (the renewal overshoot U·X̃ of
// ispp_overshoot_v when the pulses on the way randomize its phase, else the exact sum of many
// pulses and single pulses); in the band where the verify-read noise (RTN + current noise, in V_th)
// can pass it, every verify and pulse is drawn as in program_verify, so each verify is its own
// chance to pass early. Double verify, max_pulses failures as in the pulse-level model; `pulses`
// is exact except over a renewal stretch, where it is estimated (docs/physics.md §4.3).
void program_statistical(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels,
                         const Streams& streams, CellArray& cells);

// Retention bake of `time_s` at `temperature_c`: adds AF(T)·t to the retention clock and moves each
// V_th to V_n,i + (V_0 − V_n,i)(1 − β_i ln(1 + t_eq/τ_0)), V_n,i = neutral V_th + δ_i.
void age_cells(const Card& card, double time_s, double temperature_c, CellArray& cells);

// Read disturb of `reads` inferences served at `temperature_c` (device/read_disturb.hpp): every
// cell's V_th rises by V_F·ln(1 + r_i·t·e^{(V_ref − V_th)/V_F}/V_F), t = reads·stress_per_read_s,
// r_i = r_ref·AF(T)·e^{σ_ln z_i}·(tail_rate_factor in the retention tail cells), z_i drawn once per
// cell (stage disturb, slot 0), the tail membership that of sample_cells; so two calls compose
// into one of their summed reads.
void disturb_cells(const Card& card, double reads, double temperature_c, const Streams& streams, CellArray& cells);

// The order in which a tile is programmed (program disturb, device/program_disturb.hpp).
//   cell  one cell at a time, in any raster order (word line after word line, or bit line after bit
//         line: both leave cell (r, c) the same later cells on its word line, (r, c' > c), and on
//         its bit line, (r' > r, c)): n_gate = Σ_{c'>c} p(r, c'), n_drain = Σ_{r'>r} p(r', c);
//   row   a word line at a time, its cells pulsed in parallel, each inhibited once verified: a cell
//         sees the rest of its row's ladder, n_gate = max_{c'} p(r, c') − p(r, c); n_drain as above.
// p = pulses of each cell's ladder (open loop: one pulse per cell).
enum class ProgramOrder { cell, row };
ProgramOrder parse_program_order(const std::string& s);  // "cell" | "row"
const char* program_order_name(ProgramOrder o);

// Program disturb of one tile of `rows` × `cols` cells (cell (r, c) at c·rows + r), programmed in
// `order`: each cell's V_th moves by its gate disturb, then its drain disturb (program_disturb.hpp),
// rates drawn per cell (stage program_disturb, slots 0 and 1). With `reverify`, a final verify pass
// then tops up every cell whose current is above its level's target (V_th lowered by drain disturb)
// with more fine pulses, as program_verify does (its own streams); a cell raised by gate disturb
// cannot be lowered without an erase and stays. Open loop (`open_loop`): one pulse per cell, no
// re-verify.
void program_disturb_cells(const Card& card, const LevelTargets& targets, std::span<const std::uint8_t> levels, int rows,
                           int cols, ProgramOrder order, bool reverify, bool open_loop, const Streams& streams, CellArray& cells);

// A cell's life after programming: a bake of `time_s` at `temperature_c` and, served over the same
// time, `reads` inferences (read disturb). Reads spread evenly over the bake are applied in
// kLifeSteps alternating steps of 1/kLifeSteps of each (the bake's equivalent time and the
// disturb's stress time both add up exactly; only their interleaving is discretized); either alone
// is one call of age_cells or disturb_cells.
inline constexpr int kLifeSteps = 16;
void live_cells(const Card& card, double time_s, double temperature_c, double reads, const Streams& streams, CellArray& cells);

struct ReadConditions {
    double temperature_c = 25.0;
    double vgs_v = 0.0;
    double vds_v = 0.0;
};
// The card's read bias at `temperature_c`.
ReadConditions read_conditions(const Card& card, double temperature_c);

enum class Noise { off, on };

// One read of every cell: I = I_0(T)·[F(u) − F(u − V_DS/V_T)]·(1 + σ_I z), u = (V_GS − V_th(T) − ΔV_RTN)/(n V_T).
// With Noise::on each call with a new read_key draws new RTN states and current noise.
void read_currents_a(const Card& card, const CellArray& cells, const ReadConditions& read, Noise noise,
                     const Streams& streams, std::uint64_t read_key, std::vector<float>& current_a);

// The noise of one read without the current, for callers that evaluate the I–V at their own
// biases (e.g. per-row gate voltages): per cell the RTN V_th shift and the current factor
// 1 + σ_I z, drawn exactly as read_currents_a(…, Noise::on, streams, read_key, …) draws them, so
// I = drain_current_a(card.iv, V_GS, V_DS, vth_v + rtn_shift_v, n, T) · current_factor.
void sample_read_noise(const Card& card, const CellArray& cells, const Streams& streams, std::uint64_t read_key,
                       std::vector<float>& rtn_shift_v, std::vector<float>& current_factor);

}  // namespace flashmc::device
