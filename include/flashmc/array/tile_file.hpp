#pragma once
// The input of `flashmc array-solve` (docs/array.md §7): a tile.toml naming the tile's size, wires,
// read bias, device card and two CSV files (cell V_th, rows × cols; word-line inputs, one per row).
// Relative paths are taken relative to the tile file. Every mismatch is an error naming the file.
#include <string>
#include <vector>

#include "flashmc/array/circuit.hpp"
#include "flashmc/device/card.hpp"

namespace flashmc::array {

struct TileSpec {
    std::string source;          // the tile file
    int rows = 0, cols = 0;
    WireParams wires;
    device::ReadConditions read; // read_vgs_v, read_vds_v, temperature_c
    device::Card card;
    TileCells cells;             // V_th from the CSV; slope n from slope_n_csv or the card's mean
    std::vector<double> inputs;  // per row: 0/1 or a pulse fraction in [0, 1]
};

TileSpec load_tile_spec(const std::string& path);

// The most cells a tile file may describe (checked before anything is allocated): 2048 x 2048,
// beyond which the exact solve would not finish anyway.
inline constexpr long kMaxTileCells = 1L << 22;

// A CSV of numbers: `rows` lines of `cols` comma-separated values; lines starting with '#' and
// empty lines are skipped. Errors name the file, the line and what was expected.
std::vector<double> read_csv_matrix(const std::string& path, int rows, int cols);

}  // namespace flashmc::array
