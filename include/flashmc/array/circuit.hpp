#pragma once
// The electrical picture of one NOR tile (docs/array.md §1). A column is a bit line (the drains of
// its cells) running to a sense amplifier, which holds its end at the read drain voltage V_DS,read,
// and a source line (the sources of the same cells) grounded at the same end. Row 0 is the row
// next to the sense amplifier; between the terminals and row 0, and between rows i and i+1, each
// line has one segment of r_BL (bit line) or r_SL (source line). Word lines are ideal voltage
// sources (no gate current, no word-line resistance), so the columns of a tile are independent
// circuits. A cell on row i sees V_GS = V_WL,i − V_S,i and V_DS = V_D,i − V_S,i.
#include <vector>

#include "flashmc/device/cells.hpp"
#include "flashmc/device/iv.hpp"

namespace flashmc::array {

// Wire resistance per cell pitch along a column.
struct WireParams {
    double r_bl_ohm = 0.0;  // bit-line (drain) segment resistance
    double r_sl_ohm = 0.0;  // source-line segment resistance
    void validate() const;  // both in [0, 1e6] Ω
};

// The cells of one tile in structure-of-arrays form, laid out as device::sample_cells lays out a
// tile with Grid{rows, cols}: cell (row, col) at index col·rows + row.
struct TileCells {
    int rows = 0;
    int cols = 0;
    std::vector<float> vth_v;    // V_th at the card's T_0
    std::vector<float> slope_n;  // subthreshold slope factor n
    // One read's current factor f per cell (the read circuit's current noise, device::
    // current_noise_factor): the cell conducts f·I_D(V_GS, V_DS). Empty: f = 1 for every cell.
    std::vector<float> current_factor;
    std::size_t index(int row, int col) const { return static_cast<std::size_t>(col) * rows + row; }
    void validate() const;       // sizes match rows·cols, n >= 1, V_th finite, f finite and >= 0
};

// Gate-voltage derivatives of the EKV current at one bias, for Newton's method and the fast model.
struct CellSmallSignal {
    double current_a;   // I_D
    double gm_a_per_v;  // ∂I_D/∂V_GS
    double gds_a_per_v; // ∂I_D/∂V_DS
};

// I_D, ∂I_D/∂V_GS, ∂I_D/∂V_DS of device::drain_current_a, analytically:
// dF/dx = ln(1+e^{x/2})·σ(x/2) for the EKV F(x) = ln²(1+e^{x/2}).
CellSmallSignal cell_small_signal(const device::IvParams& iv, double vgs_v, double vds_v, double vth_ref_v,
                                  double slope_n, double temperature_c);

}  // namespace flashmc::array
