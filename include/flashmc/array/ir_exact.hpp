#pragma once
// The exact IR-drop solver (docs/array.md §3): the DC operating point of one column for one set of
// conducting rows, by Newton's method on the nodal equations (Kirchhoff's current law at every
// bit-line and source-line node, cells given by device::drain_current_a), to a relative residual
// max|KCL| / Σ|I_cell| below `rel_tol`.
// Both lines of a column carry the same segment currents (a cell's current enters the bit line and
// leaves by the source line on the same row; both terminals sit at the row-0 end), so the bit-line
// drop and the source voltage of row i are ΔV_D,i = V_DS,read − V_D,i = r_BL·P_i and V_S,i = r_SL·P_i
// with one unknown P_i (A·segments) per row: the 2R nodal equations are one tridiagonal system in P,
// whose Newton steps are solved by Thomas elimination in O(R), over the conducting rows only (P is
// linear across rows that draw no current). Drops, not node voltages, are the unknowns, so small
// drops keep their relative precision. Each Newton step is tried first with its second-order
// (Chebyshev) correction, and step halving guards every step; once the residual meets rel_tol, one
// more Newton step with the last factorization (no new cell evaluation) takes the bit-line current
// from ~rows·rel_tol to second order in the residual. Rows whose word line is off carry no current
// (their gate sits at 0 V, ~1e-17 A for the nor40 card: below every other current in the model).
// Pulse-width inputs are integrated exactly over the period: between two consecutive pulse ends the
// set of conducting rows is fixed, and each such time slot is one DC solve, started from the
// previous slot's solution.
#include <cstdint>
#include <span>
#include <vector>

#include "flashmc/array/circuit.hpp"

namespace flashmc::array {

struct ExactOptions {
    double rel_tol = 1e-9;
    int max_iterations = 60;
};

struct ColumnSolution {
    double bitline_current_a = 0.0;  // current delivered by the sense amplifier (at the sense node)
    double source_current_a = 0.0;   // current into the grounded end of the source line
    std::vector<double> cell_current_a;  // per row
    std::vector<double> drain_drop_v;    // ΔV_D,i = V_DS,read − V_D,i
    std::vector<double> source_v;        // V_S,i
    int iterations = 0;          // Newton steps
    double rel_residual = 0.0;   // max|KCL| / Σ|I_cell| at the last evaluated iterate (≤ rel_tol); the
                                 // solution returned is one linear Newton step further
};

// One column: rows with gate_on[i] != 0 have V_WL = read.vgs_v. vth_v and slope_n hold the column's
// cells, row 0 first. Throws if Newton's method does not reach rel_tol.
ColumnSolution solve_column_exact(const device::IvParams& iv, std::span<const float> vth_v,
                                  std::span<const float> slope_n, std::span<const std::uint8_t> gate_on,
                                  const device::ReadConditions& read, const WireParams& wires,
                                  const ExactOptions& options = {});

struct ExactStats {
    int solves = 0;          // column DC solves (one per column and time slot)
    int max_iterations = 0;  // the most Newton iterations of any solve
    double max_rel_residual = 0.0;
};

// Bit-line currents of a tile (one per column) for pulse-width inputs: `fraction[i]` ∈ [0, 1] is the
// part of the period row i's word line is on; the result is the period-averaged current (charge /
// period). 0/1 fractions are a plain DC read. Columns run in parallel (OpenMP); the result does not
// depend on the thread count.
std::vector<double> solve_tile_exact(const device::IvParams& iv, const TileCells& cells, std::span<const double> fraction,
                                     const device::ReadConditions& read, const WireParams& wires,
                                     const ExactOptions& options = {}, ExactStats* stats = nullptr);

// The same for n input vectors (the Monte Carlo engine's layout): fraction[v·rows + i] ∈ [0, 1],
// out[v·cols + j] the period-averaged bit-line current (A) of column j for vector v, bit for bit
// what solve_tile_exact gives for vector v's fractions (as doubles). The cells' constants and their
// currents at zero drop are computed once per block of columns and chunk of vectors, not per vector;
// each vector's time slots are solved from the longest pulse set down, each slot started from the
// previous one's solution. Parallel over column blocks and vectors (OpenMP); the result does not
// depend on the thread count.
void solve_tile_exact_batch(const device::IvParams& iv, const TileCells& cells, const float* fraction, int n,
                            const device::ReadConditions& read, const WireParams& wires, const ExactOptions& options,
                            double* out, ExactStats* stats = nullptr);

// Closed form for one conducting cell with series resistances: I = f(V_GS − I·R_s, V_DS − I·(R_d + R_s)),
// f = device::drain_current_a; a cell on row i of a column sees R_d = (i+1)·r_BL, R_s = (i+1)·r_SL.
// Solved by bisection on I ∈ [0, f(V_GS, V_DS)] to machine precision.
double series_cell_current_a(const device::IvParams& iv, double vth_v, double slope_n,
                             const device::ReadConditions& read, double r_drain_ohm, double r_source_ohm);

}  // namespace flashmc::array
