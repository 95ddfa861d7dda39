#pragma once
// Tile MVMs for the Monte Carlo engine, batched over input vectors (docs/array.md §3–4):
//   ideal_mvm    I_j = Σ_i x_i I_ij (no wire resistance): one GEMM.
//   fast_ir_mvm  the IR-drop model: each cell linearized (plus its curvature) around its ideal
//                operating point, node drops from the cell currents by the ladder's closed form.
// Both read a TileOperatingPoint: per-cell static coefficients at the read bias, row-major
// [row][col] so that the kernels run along contiguous columns (structure of arrays).
//
// Fast model. With both lines grounded/driven at the row-0 end, a current b_m drawn at row m flows
// through segments 0 … m of both lines, so the drop at row i is r·P_i with
//   P_i = Σ_m (min(i, m) + 1) b_m = T_i + (i + 1)(B − A_i),  A_i = Σ_{m≤i} b_m, T_i = Σ_{m≤i} (m+1) b_m,
// (V_S,i = r_SL·P_i, ΔV_D,i = r_BL·P_i), one pass per column. A cell then reads
//   I_i ≈ I⁰_i − h_i P_i + q_i P_i²,  h = −dI/dP, q = ½ d²I/dP² along V_GS = V_g − r_SL P,
//   V_DS = V_DS,read − (r_BL + r_SL) P (Taylor expansion of the EKV current).
// The linear model (the default) keeps −h_i P_i with P from the ideal currents; `curvature` adds
// q_i P_i²; `feedback` takes P from the curvature-model currents, adding the drop's effect on the
// currents causing it (error O(a³) instead of O(a²), a = h P / I⁰ the relative drop).
// Pulse-width inputs: cell i conducts for x_i of the period, and while it does, row m conducts for
// the overlap min(x_i, x_m) of their pulses. The exact first-order drop seen by cell i while on is
// Σ_m K_im I_m min(x_i, x_m) / x_i (K_im = min(i, m) + 1); the model takes it as ρ_i·P_i with P
// from the period-averaged currents b_m = x_m I_m and the mean-field factor
//   ρ_i = Σ_m min(x_i, x_m) / (x_i Σ_m x_m)   (pulse_drop_factors),
// which is exact for 0/1 inputs (ρ = 1) and for equal inputs, and unbiased when the inputs are
// independent of the row position and the cell currents. A cell's charge loss is x_i (h D − q D²),
// D = ρ_i P_i.
#include <span>
#include <string>
#include <vector>

#include "flashmc/array/circuit.hpp"

namespace flashmc::array {

struct TileOperatingPoint {
    int rows = 0;
    int cols = 0;
    std::vector<float> current_a;          // I⁰: ideal read current, [row][col]
    std::vector<float> drop_slope;         // h = −dI/dP (dimensionless: includes r_BL, r_SL)
    std::vector<float> drop_curvature_per_a;  // q = ½ d²I/dP²
    std::size_t index(int row, int col) const { return static_cast<std::size_t>(row) * cols + col; }
};

// The operating point of real cells at the read bias and temperature, with the wires' coefficients
// (each cell's current and coefficients times its current factor, where the cells have them).
TileOperatingPoint operating_point(const device::IvParams& iv, const TileCells& cells,
                                   const device::ReadConditions& read, const WireParams& wires);
// The same into `op`, reusing its buffers, for cells given by V_th and slope (col-major as TileCells),
// optionally for one noisy read: every V_th shifted by vth_shift_v (RTN) and the current and its
// coefficients scaled by current_factor (both col-major; empty: no noise). Same bits as shifting the
// cells first and scaling the result after.
void operating_point(const device::IvParams& iv, int rows, int cols, std::span<const float> vth_v,
                     std::span<const float> slope_n, const device::ReadConditions& read, const WireParams& wires,
                     TileOperatingPoint& op, std::span<const float> vth_shift_v = {},
                     std::span<const float> current_factor = {});
// Cells given by their currents only (col-major as TileCells), with no wire resistance: ideal
// cells for tests, or currents sampled elsewhere.
TileOperatingPoint operating_point_from_currents(int rows, int cols, std::span<const float> current_a_col_major);

// out[v·cols + j] = Σ_i x[v·rows + i] · I⁰_ij for v < n (Eigen GEMM).
void ideal_mvm(const TileOperatingPoint& op, const float* x, int n, float* out);

// linear:    I_i ≈ I⁰_i − h_i ρ_i P_i, summed without forming P: with suffix sums
//            S_k = Σ_{m≥k} x_m I_m and H_k = Σ_{i≥k} x_i ρ_i h_i, the column's charge loss is Σ_k S_k H_k
//            (3 multiply-adds per cell and vector, register-blocked over 4 vectors × 16 columns).
// curvature: + q_i D_i² (one prefix pass per vector that forms P).
// feedback:  curvature, with P from the curvature-model currents (a second pass).
// automatic: linear, rerun as feedback for the chunks of input vectors in which some bit line's
//            first-order drop exceeds kAutoLinearMaxDrop (AnalogLayer; fast_ir_mvm takes it as feedback).
enum class FastIrModel { linear, curvature, feedback, automatic };
FastIrModel parse_fast_ir_model(const std::string& s);  // "linear" | "curvature" | "feedback" | "auto"
const char* to_string(FastIrModel m);

struct FastIrOptions {
    FastIrModel model = FastIrModel::linear;
};

// The validated range of each fast model (docs/array.md §8): the largest relative drop of a bit
// line, (ideal − modelled)/ideal, for which its currents stay within 1 % of the exact solver's.
// Linear and curvature: 5 %; feedback (and auto): 10 %.
double fast_model_max_drop(FastIrModel m);
inline constexpr double kAutoLinearMaxDrop = 0.02;  // linear error ≈ 1.7 a² ≤ 0.07 % below this
// Two more bounds of the validated range, for every fast model (docs/array.md §8, measured):
// - the first-order (linear) drop ≤ 20 %: far beyond it the feedback model's own drop collapses
//   (it reports 0–10 % while 70–150 % off), so its drop alone cannot be trusted;
// - r_BL ≤ 3 r_SL: with bit-line-dominated wiring a subthreshold cell's 1 − e^{−V_DS/V_T} makes a small
//   relative drop hide a large error (with r_SL = 0 the linear model is > 1 % off at a 1 % drop).
inline constexpr double kMaxFirstOrderDrop = 0.20;
inline constexpr double kMaxBitlineToSourceRatio = 3.0;

// out[v·cols + j] = Σ_i x_i (I⁰_ij − h_ij D_ij + q_ij D_ij²), D_ij = ρ_i P_ij, P from b_m = x_m I_m
// (q = 0 for the linear model). `rho` ([n][rows]) may be null: ρ = 1 (0/1 inputs, bit planes).
// Parallel over vectors (OpenMP); each thread keeps its own column buffers.
// max_drop (if given) receives the largest relative drop (ideal − out)/ideal of any bit line with
// a positive ideal current, over all n vectors: the range check costs nothing extra.
void fast_ir_mvm(const TileOperatingPoint& op, const float* x, const float* rho, int n, float* out,
                 const FastIrOptions& options = {}, float* max_drop = nullptr);

// Input vectors as lanes (a conv layer's output positions, read from its panel): kLanes vectors at
// a time, each row of the tile one vector of lanes, [row][kLanes] (lane j: vector j).
inline constexpr int kLanes = 16;
// The linear model on kLanes vectors as lanes: x, y [rows][kLanes] (charge and drop weights x and
// x·ρ), bit-line currents out[c·ldo + j] for the first `lanes` lanes. Rows run from the far end in
// the same order and arithmetic as fast_ir_mvm's linear model, so each vector gets the same bits.
// Returns the largest relative drop of a bit line with positive ideal current in those lanes.
float fast_linear_lanes(const TileOperatingPoint& op, const float* x, const float* y, int lanes, float* out, std::size_t ldo);
// ρ_i = Σ_m min(x_i, x_m) / (x_i Σ_m x_m) for one vector of pulse fractions (1 where x_i = 0).
void pulse_drop_factors(const float* x, int rows, float* rho);
// The same for integer activation codes 0 … max_code (x = code / max_code; the caller checks the
// range), without a sort: O(rows · max_code) vectorized for up to 31 codes, above O(rows²) when there
// are fewer rows than codes, else O(rows + max_code). Every way gives the same bits.
void pulse_drop_factors_codes(const float* codes, int rows, int max_code, float* rho);
// The same for kLanes vectors as lanes: row i's codes at codes + off[i] (kLanes of them, as a conv
// panel holds them), rho [rows][kLanes]; the same bits per vector.
void pulse_drop_factors_lanes(const float* codes, const std::ptrdiff_t* off, int rows, int max_code, float* rho);

}  // namespace flashmc::array
