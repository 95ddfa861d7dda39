#pragma once
// Device-to-device variation (docs/physics.md §3): each cell has a static V_th offset δ, Gaussian
// with σ_Vth, plus optional spatially correlated parts shared by the cells of one column (bit line)
// and of one tile; its slope factor n is Gaussian too (σ_n), which matters when the read and verify
// temperatures differ. δ shifts the cell's neutral V_th: open-loop programming sees it in full,
// program-verify cancels it at the verify condition (the verify measures the total V_th).
#include <cstdint>

#include "flashmc/io/toml.hpp"

namespace flashmc::device {

// Card section [variation].
struct VariationParams {
    static constexpr const char* section = "variation";
    double sigma_vth_v = 0.05;         // σ of the per-cell static V_th offset
    double sigma_slope_n = 0.05;       // σ of the slope factor n (absolute)
    double sigma_vth_tile_v = 0.0;     // σ of an offset shared by all cells of a tile
    double sigma_vth_column_v = 0.0;   // σ of an offset shared by all cells of a column

    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("sigma_vth_v", p.sigma_vth_v, Range{0, 1});
        f("sigma_slope_n", p.sigma_slope_n, Range{0, 0.5});
        f("sigma_vth_tile_v", p.sigma_vth_tile_v, Range{0, 1});
        f("sigma_vth_column_v", p.sigma_vth_column_v, Range{0, 1});
    }
    void validate() const;
};

// Where cells sit, for the correlated offsets: global cell index g lies in column
// g / rows_per_column and tile column / columns_per_tile. The default {1, 1} gives every cell its
// own column and tile, so the correlated parts become independent per cell: the marginal
// distribution of a population sample, with σ² = σ_Vth² + σ_column² + σ_tile².
struct Grid {
    std::uint64_t rows_per_column = 1;
    std::uint64_t columns_per_tile = 1;
};

// Slope factors below 1 are unphysical; sampled values are clamped there.
inline constexpr double kMinSlopeN = 1.0;

}  // namespace flashmc::device
