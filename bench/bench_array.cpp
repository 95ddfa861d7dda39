// Tile MVM costs on a 256 x 256 nor40 tile (ideal GEMM, fast IR-drop model, exact solver) as
// ratios, and with --errors the fast model's error against the exact solver across r_BL, r_SL,
// tile rows (64–1024) and input densities, for drops up to ~30 % (the table of docs/array.md §8). Usage:
//   bench_array [--threads N] [--vectors N] [--card devices/nor40_cim.toml] [--errors]   (from the repository root)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flashmc/array/ir_exact.hpp"
#include "flashmc/array/ir_fast.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/device/card.hpp"

using namespace flashmc;
using namespace flashmc::array;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// Best of `reps` runs of f, in seconds.
template <class F>
double best_of(int reps, F&& f) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const double t0 = now_s();
        f();
        best = std::min(best, now_s() - t0);
    }
    return best;
}

std::string g_card_path = "devices/nor40_cim.toml";
const device::Card& card() {
    static const device::Card c = device::load_card(g_card_path);
    return c;
}

// Cells at random levels 0–7 (targets at 25 °C for their own n) with σ = 20 mV.
TileCells random_tile(int rows, int cols, std::uint64_t seed) {
    const auto targets = device::level_targets(card().iv, card().levels, 25.0);
    TileCells t;
    t.rows = rows, t.cols = cols;
    t.vth_v.resize(std::size_t(rows) * cols), t.slope_n.resize(t.vth_v.size());
    const Streams streams(seed);
    for (std::size_t k = 0; k < t.vth_v.size(); ++k) {
        Stream s = streams.at({k});
        const int level = static_cast<int>(s.below(8));
        const double n = card().iv.slope_n + 0.05 * s.normal();
        t.slope_n[k] = float(n);
        t.vth_v[k] = float(targets.vth_v(level, n) + 0.02 * s.normal());
    }
    return t;
}

// n vectors of `rows` inputs: 0 with probability 1 − density, else 1 or code/15.
std::vector<float> random_inputs(int n, int rows, double density, bool binary, std::uint64_t seed) {
    std::vector<float> x(std::size_t(n) * rows);
    Stream s = Streams(seed).at({1});
    for (auto& v : x) v = s.uniform() >= density ? 0.0f : binary ? 1.0f : float(1 + s.below(15)) / 15.0f;
    return x;
}

device::ReadConditions read() { return {25.0, card().levels.read_vgs_v, card().levels.read_vds_v}; }

void timings(int vectors) {
    const int R = 256, C = 256;
    const TileCells t = random_tile(R, C, 1);
    const WireParams w{5.0, 5.0};
    const TileOperatingPoint op = operating_point(card().iv, t, read(), w);
    std::vector<float> out(std::size_t(vectors) * C), rho(std::size_t(vectors) * R);
    std::printf("256 x 256 tile, %d input vectors per call, %d threads (time per vector)\n", vectors, threads());
    std::printf("  %-44s %12s %10s\n", "operation", "us/vector", "ratio");
    for (double density : {0.5, 1.0}) {
        for (bool binary : {true, false}) {
            const auto x = random_inputs(vectors, R, density, binary, 2);
            const double ideal = best_of(5, [&] { ideal_mvm(op, x.data(), vectors, out.data()); });
            auto row = [&](const char* what, double s) {
                std::printf("  %-44s %12.2f %10.2f\n", what, 1e6 * s / vectors, s / ideal);
            };
            std::printf(" inputs: %s, density %.2f\n", binary ? "0/1" : "pulse-width codes", density);
            row("ideal MVM (Eigen GEMM)", ideal);
            const float* r = nullptr;
            if (!binary) {
                std::vector<float> codes(x.size());
                for (std::size_t k = 0; k < x.size(); ++k) codes[k] = std::round(15.0f * x[k]);
                const double f = best_of(5, [&] {
                    for (int v = 0; v < vectors; ++v)
                        pulse_drop_factors_codes(codes.data() + std::size_t(v) * R, R, 15, rho.data() + std::size_t(v) * R);
                });
                row("pulse_drop_factors_codes (rho)", f);
                r = rho.data();
            }
            for (auto m : {FastIrModel::linear, FastIrModel::curvature, FastIrModel::feedback}) {
                const std::string what = std::string("fast IR-drop MVM, ") + to_string(m);
                row(what.c_str(), best_of(5, [&] { fast_ir_mvm(op, x.data(), r, vectors, out.data(), {m}); }));
            }
            // The exact solver: one vector per call (all its time slots for pulse-width inputs), and a
            // batch of vectors per call (cells evaluated at zero drop once per call).
            const std::vector<double> x1(x.begin(), x.begin() + R);
            const double exact = best_of(5, [&] { solve_tile_exact(card().iv, t, x1, read(), w); });
            std::printf("  %-44s %12.2f %10.0f\n",
                        binary ? "exact solve (1 vector)" : "exact solve (1 vector, all time slots)", 1e6 * exact,
                        exact / (ideal / vectors));
            const int batch_n = std::min(vectors, 16);
            std::vector<double> currents(std::size_t(batch_n) * C);
            const double batch = best_of(5, [&] {
                solve_tile_exact_batch(card().iv, t, x.data(), batch_n, read(), w, {}, currents.data());
            });
            const std::string what = "exact solve (batch of " + std::to_string(batch_n) + " vectors)";
            std::printf("  %-44s %12.2f %10.0f\n", what.c_str(), 1e6 * batch / batch_n,
                        batch / batch_n / (ideal / vectors));
        }
    }
}

void errors() {
    std::printf("fast model vs exact solver, nor40_cim cells at random levels 0-7 (sigma 20 mV), 32 bit lines, 25 C,\n"
                "relative errors |I - I_exact| / I_exact over the bit lines (max, mean); 'drop' = (I_ideal - I_exact) / I_ideal;\n"
                "auto = linear, or feedback where the linear model's largest drop exceeds %.0f %%\n",
                100 * kAutoLinearMaxDrop);
    std::printf("| rows | r_BL | r_SL | inputs | density | drop max | linear max | linear mean | curvature max | curvature mean "
                "| feedback max | feedback mean | auto max |\n");
    std::printf("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    const int C = 32;
    for (int R : {64, 256, 1024}) {
        const TileCells t = random_tile(R, C, 3);
        // The drop grows as r·R² (the ladder's P ∝ R² for a uniform column): the resistances are those
        // of a 256-row tile scaled by (256 / R)², so each R sees similar drops, from ~0.1 % to ~30 %;
        // the bit line alone (a small drop: subthreshold cells barely feel V_DS) and the source line alone.
        const double scale = (256.0 / R) * (256.0 / R);
        for (auto [rb, rs] : {std::pair{1.0, 1.0}, {10.0, 10.0}, {40.0, 40.0}, {100.0, 100.0}, {200.0, 200.0}, {120.0, 0.0},
                              {0.0, 40.0}}) {
            const WireParams w{rb * scale, rs * scale};
            const TileOperatingPoint op = operating_point(card().iv, t, read(), w);
            for (bool binary : {true, false})
                for (double density : {0.5, 1.0}) {
                    const auto x = random_inputs(1, R, density, binary, 4);
                    std::vector<float> rho(R), f[4] = {std::vector<float>(C), std::vector<float>(C), std::vector<float>(C),
                                                       std::vector<float>(C)};
                    pulse_drop_factors(x.data(), R, rho.data());
                    const float* r = binary ? nullptr : rho.data();
                    int k = 0;
                    float linear_drop = 0;
                    for (auto m : {FastIrModel::linear, FastIrModel::curvature, FastIrModel::feedback})
                        fast_ir_mvm(op, x.data(), r, 1, f[k++].data(), {m}, m == FastIrModel::linear ? &linear_drop : nullptr);
                    f[3] = linear_drop > kAutoLinearMaxDrop ? f[2] : f[0];
                    std::vector<double> exact(C), ideal(C);
                    solve_tile_exact_batch(card().iv, t, x.data(), 1, read(), w, {}, exact.data());
                    solve_tile_exact_batch(card().iv, t, x.data(), 1, read(), WireParams{}, {}, ideal.data());
                    double drop = 0, mx[4] = {}, mean[4] = {};
                    for (int c = 0; c < C; ++c) {
                        drop = std::max(drop, (ideal[c] - exact[c]) / ideal[c]);
                        for (int m = 0; m < 4; ++m) {
                            const double e = std::abs(f[m][c] - exact[c]) / exact[c];
                            mx[m] = std::max(mx[m], e), mean[m] += e / C;
                        }
                    }
                    std::printf("| %d | %g | %g | %s | %.1f | %.2e | %.2e | %.2e | %.2e | %.2e | %.2e | %.2e | %.2e |\n", R,
                                w.r_bl_ohm, w.r_sl_ohm, binary ? "0/1" : "pulse", density, drop, mx[0], mean[0], mx[1], mean[1],
                                mx[2], mean[2], mx[3]);
                }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        int vectors = 256, nthreads = 2;
        bool errs = false;
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--threads" && i + 1 < argc) nthreads = std::atoi(argv[++i]);
            else if (a == "--vectors" && i + 1 < argc) vectors = std::atoi(argv[++i]);
            else if (a == "--errors") errs = true;
            else if (a == "--card" && i + 1 < argc) g_card_path = argv[++i];
            else {
                std::printf("usage: bench_array [--threads N] [--vectors N] [--card CARD.toml] [--errors]\n");
                return a == "--help" || a == "-h" ? 0 : 2;
            }
        }
        set_threads(nthreads);
        if (errs) errors();
        else timings(vectors);
    } catch (const Error& e) {
        std::fprintf(stderr, "bench_array: %s\n", e.what());
        return 1;
    }
    return 0;
}
