// Cells programmed per second: the statistical model on a ResNet-18's worth of cells (22 M; target
// ≤ 2 s on 2 threads) and the pulse-level ISPP-verify model on a smaller batch, plus the other
// batch stages of a chip's life and the draws of a noisy read (sample_read_noise, three reads).
// Usage: bench_cells [device card] [cells] [pulse-level cells]
// (defaults: devices/nor40_cim.toml, 22000000, 200000). Threads: OMP_NUM_THREADS (default 2).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/device/cells.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
template <class F>
double timed(const char* what, std::size_t n, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = seconds_since(t0);
    std::printf("  %-28s %11zu cells %8.3f s %10.2f M cells/s\n", what, n, s, n / s / 1e6);
    return s;
}
}  // namespace

int run(int argc, char** argv);

int main(int argc, char** argv) {
    if (argc > 1 && argv[1][0] == '-') {
        std::printf("usage: bench_cells [CARD.toml [CELLS [PULSE_LEVEL_CELLS]]]  (threads: OMP_NUM_THREADS, default 2)\n");
        return 0;
    }
    try {
        return run(argc, argv);
    } catch (const flashmc::Error& e) {
        std::fprintf(stderr, "bench_cells: error: %s\n", e.what());
        return 1;
    }
}

int run(int argc, char** argv) {
    const std::string card_path = argc > 1 ? argv[1] : "devices/nor40_cim.toml";
    const std::size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 22000000;
    const std::size_t n_pulse = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200000;
    if (!std::getenv("OMP_NUM_THREADS")) set_threads(2);
    const Card card = load_card(card_path);
    const LevelTargets targets = level_targets(card.iv, card.levels, 25.0);
    std::printf("bench_cells: card %s, %d threads\n", card.name.c_str(), threads());

    std::vector<std::uint8_t> levels(n);
    for (std::size_t i = 0; i < n; ++i) levels[i] = static_cast<std::uint8_t>((i * 2654435761u >> 7) % 8);
    const Streams streams(1);
    CellArray cells;
    // Tiles of 256 × 256 cells (256 cells per column): column and tile offsets are cached per column.
    timed("sample_cells (static+traps)", n, [&] { cells = sample_cells(card, n, 0, streams, Grid{256, 256}); });
    timed("erase_cells", n, [&] { erase_cells(card, streams, cells); });
    timed("program_statistical", n, [&] { program_statistical(card, targets, levels, streams, cells); });
    timed("age_cells", n, [&] { age_cells(card, 3.15e7, 55.0, cells); });
    std::vector<float> current;
    timed("read_currents_a (noisy)", n, [&] { read_currents_a(card, cells, read_conditions(card, 25.0), Noise::on, streams, 1, current); });
    // A noisy read's draws alone, as every per-batch read of a sweep makes them (buffers reused).
    std::vector<float> rtn_shift, current_factor;
    for (std::uint64_t read = 2; read < 5; ++read)
        timed("sample_read_noise", n, [&] { sample_read_noise(card, cells, streams, read, rtn_shift, current_factor); });

    CellArray small = sample_cells(card, n_pulse, 0, streams);
    erase_cells(card, streams, small);
    const std::vector<std::uint8_t> small_levels(levels.begin(), levels.begin() + n_pulse);
    timed("program_verify (pulse-level)", n_pulse, [&] { program_verify(card, targets, small_levels, streams, small); });
    long pulses = 0;
    for (auto p : small.pulses) pulses += p;
    std::printf("  (pulse level: %.1f pulses per cell on average)\n", double(pulses) / n_pulse);
    return 0;
}
