// flashmc array-solve: one tile, one input vector, three answers per bit line (no wire resistance,
// exact IR-drop solve, fast IR-drop model), so a user can cross-check flashmc against a circuit
// simulator. Format: docs/array.md §7.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "command.hpp"
#include "flashmc/array/ir_exact.hpp"
#include "flashmc/array/ir_fast.hpp"
#include "flashmc/array/tile_file.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/atomic_file.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage =
    "flashmc array-solve --tile tile.toml --out currents.csv [--fast-model auto|linear|curvature|feedback]\n\n"
    "  --tile    tile description: rows, cols, r_bl_ohm, r_sl_ohm, read_vgs_v, read_vds_v,\n"
    "            temperature_c, device (card), vth_csv (rows x cols), inputs_csv (one 0/1 or pulse\n"
    "            fraction per row), optional slope_n_csv; paths relative to the tile file\n"
    "  --out     CSV, one line per bit line: column,ideal_current_a,exact_current_a,fast_current_a\n"
    "  --fast-model  linear (default), curvature (+ second-order cell term), feedback (+ the\n"
    "            drop's effect on the currents causing it) or auto (linear up to a 2 % drop,\n"
    "            feedback above); the model's largest drop is printed and flagged when it is\n"
    "            outside the model's validated range (where a sweep stops)\n";

int run(Args& a) {
    const std::string tile_path = a.required("tile");
    const std::string out = a.required("out");
    const array::FastIrModel model = array::parse_fast_ir_model(a.str("fast-model", "linear"));
    a.finish();

    const array::TileSpec spec = array::load_tile_spec(tile_path);
    const auto& iv = spec.card.iv;
    const int rows = spec.rows, cols = spec.cols;

    // Ideal: Σ_i x_i I_i at the read bias, in double.
    std::vector<double> ideal(cols, 0.0);
    for (int c = 0; c < cols; ++c)
        for (int r = 0; r < rows; ++r)
            if (spec.inputs[r] > 0)
                ideal[c] += spec.inputs[r] * device::drain_current_a(iv, spec.read.vgs_v, spec.read.vds_v,
                                                                     spec.cells.vth_v[spec.cells.index(r, c)],
                                                                     spec.cells.slope_n[spec.cells.index(r, c)],
                                                                     spec.read.temperature_c);
    array::ExactStats stats;
    const std::vector<double> exact = array::solve_tile_exact(iv, spec.cells, spec.inputs, spec.read, spec.wires, {}, &stats);
    const array::TileOperatingPoint op = array::operating_point(iv, spec.cells, spec.read, spec.wires);
    std::vector<float> x(rows), y(rows), fast(cols);
    for (int r = 0; r < rows; ++r) x[r] = static_cast<float>(spec.inputs[r]);
    array::pulse_drop_factors(x.data(), rows, y.data());
    // As the engine runs it (array::AnalogLayer): the linear pass first, whose drop is the
    // first-order check; then the asked model (auto: feedback above a 2 % drop), unless the first
    // order is already outside every model's range, where the corrections diverge.
    float first_order = 0.0f, drop = 0.0f;
    array::fast_ir_mvm(op, x.data(), y.data(), 1, fast.data(), {array::FastIrModel::linear}, &first_order);
    drop = first_order;
    const array::FastIrModel run = model == array::FastIrModel::automatic
                                       ? (first_order > array::kAutoLinearMaxDrop ? array::FastIrModel::feedback : array::FastIrModel::linear)
                                       : model;
    if (run != array::FastIrModel::linear && first_order <= array::kMaxFirstOrderDrop)
        array::fast_ir_mvm(op, x.data(), y.data(), 1, fast.data(), {run}, &drop);

    io::AtomicFile f(out);  // every write checked; `out` is the old or the whole new file
    f.write("column,ideal_current_a,exact_current_a,fast_current_a\n");
    double worst_fast = 0, worst_drop = 0;
    int worst_col = -1;
    char line[256];
    for (int c = 0; c < cols; ++c) {
        std::snprintf(line, sizeof line, "%d,%.12e,%.12e,%.12e\n", c, ideal[c], exact[c], double(fast[c]));
        f.write(line);
        if (exact[c] > 0) {
            const double e = std::abs(fast[c] - exact[c]) / exact[c];
            if (e > worst_fast) worst_fast = e, worst_col = c;
            worst_drop = std::max(worst_drop, (ideal[c] - exact[c]) / ideal[c]);
        }
    }
    f.commit();
    std::printf("flashmc array-solve: %d x %d tile, r_BL = %g ohm, r_SL = %g ohm, V_GS = %g V, V_DS = %g V, %g C, card '%s'\n",
                rows, cols, spec.wires.r_bl_ohm, spec.wires.r_sl_ohm, spec.read.vgs_v, spec.read.vds_v,
                spec.read.temperature_c, spec.card.name.c_str());
    std::printf("  exact: %d column solves, at most %d Newton iterations, relative residual <= %.3g\n", stats.solves,
                stats.max_iterations, stats.max_rel_residual);
    std::printf("  largest IR-drop loss (ideal - exact) / ideal: %.6g\n", worst_drop);
    // The drop a sweep checks against the model's validated range.
    const double limit = array::fast_model_max_drop(model);
    // Bit-line-dominated wiring is outside every fast model's validated wiring (docs/array.md §8).
    const bool bitline_dominated = spec.wires.r_bl_ohm > array::kMaxBitlineToSourceRatio * spec.wires.r_sl_ohm;
    const bool outside = drop > limit || first_order > array::kMaxFirstOrderDrop || bitline_dominated;
    std::printf("  largest drop of the fast model (ideal - fast) / ideal: %.6g (first order %.6g); the %s model is validated to %g "
                "(first order %g)%s\n", drop, first_order, array::to_string(model), limit, array::kMaxFirstOrderDrop,
                !outside ? ""
                : model == array::FastIrModel::automatic
                    ? " -- OUTSIDE the fast models' range: a sweep solves this tile exactly here; the fast result below is not reliable"
                : bitline_dominated ? " -- OUTSIDE the fast models' validated wiring (r_BL > 3 r_SL): a sweep refuses it; the fast "
                                      "result below is not reliable"
                                    : " -- OUTSIDE its range: a sweep stops here; the fast result below is not reliable");
    std::printf("  largest relative error of the fast model (%s) |fast - exact| / exact: %.6g", array::to_string(model), worst_fast);
    if (worst_col >= 0) std::printf(" (column %d)", worst_col);
    std::printf("\n  wrote %s\n", out.c_str());
    return 0;
}

const Registration reg({"array-solve", "solve one tile's bit-line currents with IR drop: ideal, exact and fast", kUsage, run});

}  // namespace
}  // namespace flashmc::cli
