#pragma once
// Shared by the array tests: tiles of nor40_cim cells programmed to random levels, with a small
// Gaussian V_th spread, drawn from fixed streams.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "flashmc/array/circuit.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/device/card.hpp"

namespace flashmc::test {

inline const device::Card& nor40_card() {
    static const device::Card card = device::load_card(std::string(FLASHMC_SOURCE_DIR) + "/devices/nor40_cim.toml");
    return card;
}

// rows × cols cells, cell k (column-major) from its own stream: cell(stream) → (V_th at T_0, n).
template <class Cell>
array::TileCells tile_of(int rows, int cols, std::uint64_t seed, Cell cell) {
    array::TileCells t;
    t.rows = rows, t.cols = cols;
    t.vth_v.resize(static_cast<std::size_t>(rows) * cols), t.slope_n.resize(t.vth_v.size());
    const Streams streams(seed);
    for (std::size_t k = 0; k < t.vth_v.size(); ++k) {
        Stream s = streams.at({k});
        const auto [vth, n] = cell(s);
        t.vth_v[k] = static_cast<float>(vth), t.slope_n[k] = static_cast<float>(n);
    }
    return t;
}

// rows × cols cells at uniformly random levels 0 … max_level (their targets at 25 °C, mean n),
// plus N(0, sigma_v) in V_th and N(0, 0.05) in n.
inline array::TileCells random_tile(int rows, int cols, std::uint64_t seed, double sigma_v = 0.02, int min_level = 0) {
    const auto& card = nor40_card();
    const auto targets = device::level_targets(card.iv, card.levels, 25.0);
    return tile_of(rows, cols, seed, [&](Stream& s) {
        const int level = min_level + static_cast<int>(s.below(static_cast<std::uint64_t>(targets.max_level() - min_level + 1)));
        const double n = card.iv.slope_n + 0.05 * s.normal();
        return std::pair{targets.vth_v(level, n) + sigma_v * s.normal(), n};
    });
}

// Per-row inputs: 0 with probability 1 − density, else 1 (binary) or a code/15 fraction.
inline std::vector<double> random_inputs(int rows, double density, bool binary, std::uint64_t seed) {
    std::vector<double> x(rows);
    Stream s = Streams(seed).at({0xF00D});
    for (auto& v : x) {
        const bool on = s.uniform() < density;
        v = !on ? 0.0 : binary ? 1.0 : double(1 + s.below(15)) / 15.0;
    }
    return x;
}

inline device::ReadConditions read_25c() {
    const auto& card = nor40_card();
    return {25.0, card.levels.read_vgs_v, card.levels.read_vds_v};
}

// rows × cols cells whose currents at `read` are log-uniform in [i_min_a, i_max_a]: slope n from
// N(card n, 0.05), V_th (at T_0) from device::vth_for_current_v for that n. For cells far above the
// card's levels (0.1–10 µA: the IR-drop tests' heavy regimes).
inline array::TileCells current_tile(int rows, int cols, std::uint64_t seed, double i_min_a, double i_max_a,
                                     const device::ReadConditions& read = read_25c()) {
    const auto& card = nor40_card();
    return tile_of(rows, cols, seed, [&](Stream& s) {
        const double n = card.iv.slope_n + 0.05 * s.normal();
        const double current = i_min_a * std::pow(i_max_a / i_min_a, s.uniform());
        return std::pair{device::vth_for_current_v(card.iv, current, read.vgs_v, read.vds_v, n, read.temperature_c), n};
    });
}

}  // namespace flashmc::test
