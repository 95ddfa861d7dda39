#include <catch2/catch.hpp>

#include <vector>

#include "flashmc/core/parallel.hpp"
#include "flashmc/device/cells.hpp"
#include "../test_util.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
struct Run {
    CellArray cells;
    std::vector<float> current;
};

Run life(const Card& card, std::size_t n, bool statistical, std::uint64_t first_cell = 0) {
    Streams streams(2024);
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    std::vector<std::uint8_t> levels(n);
    for (std::size_t i = 0; i < n; ++i) levels[i] = static_cast<std::uint8_t>((first_cell + i) % 8);
    Run r;
    r.cells = sample_cells(card, n, 300, streams, Grid{16, 4}, first_cell);
    erase_cells(card, streams, r.cells);
    if (statistical)
        program_statistical(card, t, levels, streams, r.cells);
    else
        program_verify(card, t, levels, streams, r.cells);
    age_cells(card, 1e7, 55.0, r.cells);
    read_currents_a(card, r.cells, read_conditions(card, 40.0), Noise::on, streams, 9, r.current);
    return r;
}
}  // namespace

TEST_CASE("same seed, same cells for any thread count and any split into arrays", "[device][threads]") {
    // The built-in card (one ladder) and the shipped nor40_cim (double verify).
    const bool shipped = GENERATE(false, true);
    CAPTURE(shipped);
    const Card card = shipped ? load_card(test::source_dir() + "/devices/nor40_cim.toml") : Card{};
    const int saved = threads();
    for (bool statistical : {false, true}) {
        set_threads(1);
        const Run one = life(card, 5000, statistical);
        set_threads(2);
        const Run two = life(card, 5000, statistical);
        REQUIRE(one.cells.vth_v == two.cells.vth_v);
        REQUIRE(one.cells.pulses == two.cells.pulses);
        REQUIRE(one.cells.trap_amplitude_v == two.cells.trap_amplitude_v);
        REQUIRE(one.current == two.current);
        // Cells 3000… as their own array: the same values (keys are global cell indices).
        const Run tail = life(card, 2000, statistical, 3000);
        for (std::size_t i = 0; i < 2000; ++i) {
            REQUIRE(tail.cells.vth_offset_v[i] == one.cells.vth_offset_v[3000 + i]);
            REQUIRE(tail.cells.vth_v[i] == one.cells.vth_v[3000 + i]);
            REQUIRE(tail.current[i] == one.current[3000 + i]);
        }
    }
    set_threads(saved);
}

TEST_CASE("column and tile offsets are shared by the cells of a column and of a tile", "[device][variation]") {
    Card card;
    const Grid grid{16, 4};  // 16 cells per column, 4 columns per tile: 64 cells per tile
    card.variation = {0.0, 0.0, 0.0, 0.01};  // column part only
    const CellArray col = sample_cells(card, 64 * 3, 0, Streams(3), grid);
    card.variation = {0.0, 0.0, 0.02, 0.0};  // tile part only
    const CellArray tile = sample_cells(card, 64 * 3, 0, Streams(3), grid);
    for (std::size_t i = 0; i < col.size(); ++i) {
        REQUIRE(col.vth_offset_v[i] == col.vth_offset_v[i / 16 * 16]);
        REQUIRE(tile.vth_offset_v[i] == tile.vth_offset_v[i / 64 * 64]);
        if (i % 16 == 0 && i > 0) REQUIRE(col.vth_offset_v[i] != col.vth_offset_v[i - 1]);
        if (i % 64 == 0 && i > 0) REQUIRE(tile.vth_offset_v[i] != tile.vth_offset_v[i - 1]);
    }
    REQUIRE_THROWS_WITH(sample_cells(card, 4, 0, Streams(3), Grid{0, 4}), Catch::Contains("grid"));
}

TEST_CASE("batch operations reject mismatched inputs before doing any work", "[device]") {
    const Card card;
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    Streams streams(1);
    CellArray c = sample_cells(card, 10, 0, streams);
    REQUIRE_THROWS_WITH(program_verify(card, t, std::vector<std::uint8_t>(9, 1), streams, c), Catch::Contains("9 levels for 10 cells"));
    REQUIRE_THROWS_WITH(program_statistical(card, t, std::vector<std::uint8_t>(10, 8), streams, c), Catch::Contains("level 8 > 7"));
    REQUIRE_THROWS_WITH(age_cells(card, -1, 25, c), Catch::Contains("time_s"));
}
