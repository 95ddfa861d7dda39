#include "flashmc/array/ir_exact.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include <Eigen/Sparse>
#include <Eigen/SparseLU>

#include "flashmc/core/error.hpp"

namespace flashmc::array {

ColumnSolution solve_column_exact(const device::IvParams& iv, std::span<const float> vth_v,
                                  std::span<const float> slope_n, std::span<const std::uint8_t> gate_on,
                                  const device::ReadConditions& read, const WireParams& wires,
                                  const ExactOptions& options) {
    wires.validate();
    const int rows = static_cast<int>(vth_v.size());
    if (slope_n.size() != vth_v.size() || gate_on.size() != vth_v.size())
        fail("solve_column_exact: ", vth_v.size(), " V_th values, ", slope_n.size(), " slopes and ", gate_on.size(),
             " gate states do not match");
    const bool has_d = wires.r_bl_ohm > 0, has_s = wires.r_sl_ohm > 0;
    const int per = int(has_d) + int(has_s);
    const int unknowns = rows * per;
    const double gb = has_d ? 1.0 / wires.r_bl_ohm : 0.0, gs = has_s ? 1.0 / wires.r_sl_ohm : 0.0;
    auto id = [&](int i) { return i * per; };
    auto is = [&](int i) { return i * per + int(has_d); };

    ColumnSolution s;
    s.cell_current_a.assign(rows, 0.0);
    s.drain_drop_v.assign(rows, 0.0);
    s.source_v.assign(rows, 0.0);
    std::vector<double> gm(rows, 0.0), gds(rows, 0.0);
    auto& dd = s.drain_drop_v;
    auto& vs = s.source_v;
    auto& cur = s.cell_current_a;

    auto evaluate = [&] {
        double sum = 0;
        for (int i = 0; i < rows; ++i) {
            if (!gate_on[i]) continue;
            const CellSmallSignal c = cell_small_signal(iv, read.vgs_v - vs[i], read.vds_v - dd[i] - vs[i], vth_v[i],
                                                        slope_n[i], read.temperature_c);
            cur[i] = c.current_a, gm[i] = c.gm_a_per_v, gds[i] = c.gds_a_per_v;
            sum += std::abs(c.current_a);
        }
        return sum;
    };
    Eigen::VectorXd f(unknowns), x(unknowns), step(unknowns);
    // KCL at every node, currents leaving the node toward the terminal positive:
    //   G (v_i − v_{i−1}) − G (v_{i+1} − v_i) − I_i = 0 for v = ΔV_D (bit line) and v = V_S (source line).
    auto residual = [&] {
        const double sum = evaluate();
        double worst = 0;
        for (int i = 0; i < rows; ++i) {
            if (has_d) {
                double r = gb * (dd[i] - (i > 0 ? dd[i - 1] : 0.0)) - cur[i];
                if (i + 1 < rows) r -= gb * (dd[i + 1] - dd[i]);
                f[id(i)] = r, worst = std::max(worst, std::abs(r));
            }
            if (has_s) {
                double r = gs * (vs[i] - (i > 0 ? vs[i - 1] : 0.0)) - cur[i];
                if (i + 1 < rows) r -= gs * (vs[i + 1] - vs[i]);
                f[is(i)] = r, worst = std::max(worst, std::abs(r));
            }
        }
        return sum > 0 ? worst / sum : 0.0;
    };
    auto load = [&](const Eigen::VectorXd& v) {
        for (int i = 0; i < rows; ++i) {
            if (has_d) dd[i] = v[id(i)];
            if (has_s) vs[i] = v[is(i)];
        }
    };

    double rr = residual();
    if (unknowns > 0) {
        Eigen::SparseMatrix<double> jac(unknowns, unknowns);
        Eigen::SparseLU<Eigen::SparseMatrix<double>, Eigen::COLAMDOrdering<int>> lu;
        std::vector<Eigen::Triplet<double>> trip;
        trip.reserve(static_cast<std::size_t>(unknowns) * 4);
        for (int i = 0; i < rows; ++i) {
            if (has_d) x[id(i)] = dd[i];
            if (has_s) x[is(i)] = vs[i];
        }
        bool analyzed = false;
        while (rr > options.rel_tol) {
            if (s.iterations >= options.max_iterations)
                fail("solve_column_exact: Newton's method did not converge in ", options.max_iterations,
                     " iterations (relative residual ", rr, ", r_bl_ohm = ", wires.r_bl_ohm,
                     ", r_sl_ohm = ", wires.r_sl_ohm, ")");
            ++s.iterations;
            // ∂I_i/∂ΔV_D,i = −g_ds, ∂I_i/∂V_S,i = −(g_m + g_ds).
            trip.clear();
            for (int i = 0; i < rows; ++i) {
                const double ends = i + 1 < rows ? 2.0 : 1.0;
                if (has_d) {
                    trip.emplace_back(id(i), id(i), gb * ends + gds[i]);
                    if (i > 0) trip.emplace_back(id(i), id(i - 1), -gb);
                    if (i + 1 < rows) trip.emplace_back(id(i), id(i + 1), -gb);
                    if (has_s) trip.emplace_back(id(i), is(i), gm[i] + gds[i]);
                }
                if (has_s) {
                    trip.emplace_back(is(i), is(i), gs * ends + gm[i] + gds[i]);
                    if (i > 0) trip.emplace_back(is(i), is(i - 1), -gs);
                    if (i + 1 < rows) trip.emplace_back(is(i), is(i + 1), -gs);
                    if (has_d) trip.emplace_back(is(i), id(i), gds[i]);
                }
            }
            jac.setFromTriplets(trip.begin(), trip.end());
            if (!analyzed) lu.analyzePattern(jac), analyzed = true;
            lu.factorize(jac);
            if (lu.info() != Eigen::Success) fail("solve_column_exact: singular Jacobian (", lu.lastErrorMessage(), ")");
            step = lu.solve(f);
            // Damped Newton: halve the step until the residual decreases.
            const Eigen::VectorXd x0 = x;
            double lambda = 1.0, next = 0.0;
            for (int k = 0; k < 30; ++k) {
                x = x0 - lambda * step;
                load(x);
                next = residual();
                if (next < rr || next <= options.rel_tol) break;
                lambda *= 0.5;
            }
            rr = next;
        }
    }
    s.rel_residual = rr;
    double sum = 0;
    for (double c : cur) sum += c;
    s.bitline_current_a = has_d ? gb * dd[0] : sum;
    s.source_current_a = has_s ? gs * vs[0] : sum;
    return s;
}

std::vector<double> solve_tile_exact(const device::IvParams& iv, const TileCells& cells, std::span<const double> fraction,
                                     const device::ReadConditions& read, const WireParams& wires,
                                     const ExactOptions& options, ExactStats* stats) {
    cells.validate();
    wires.validate();
    if (static_cast<int>(fraction.size()) != cells.rows)
        fail("solve_tile_exact: ", fraction.size(), " inputs for a tile of ", cells.rows, " rows");
    for (std::size_t i = 0; i < fraction.size(); ++i)
        if (!(fraction[i] >= 0.0 && fraction[i] <= 1.0))
            fail("solve_tile_exact: input of row ", i, " = ", fraction[i], " is out of range [0, 1]");
    // Time slots: between consecutive distinct pulse ends the conducting set is {i : fraction_i ≥ end}.
    std::vector<double> ends;
    for (double v : fraction)
        if (v > 0) ends.push_back(v);
    std::sort(ends.begin(), ends.end());
    ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
    std::vector<std::vector<std::uint8_t>> on(ends.size(), std::vector<std::uint8_t>(cells.rows));
    for (std::size_t k = 0; k < ends.size(); ++k)
        for (int i = 0; i < cells.rows; ++i) on[k][i] = fraction[i] >= ends[k];

    std::vector<double> out(cells.cols, 0.0);
    ExactStats total;
    std::exception_ptr error;
#pragma omp parallel
    {
        ExactStats mine;
#pragma omp for schedule(dynamic)
        for (int c = 0; c < cells.cols; ++c) {
            try {
                const std::span<const float> vth(cells.vth_v.data() + cells.index(0, c), cells.rows);
                const std::span<const float> n(cells.slope_n.data() + cells.index(0, c), cells.rows);
                double q = 0, prev = 0;
                for (std::size_t k = 0; k < ends.size(); ++k) {
                    const ColumnSolution s = solve_column_exact(iv, vth, n, on[k], read, wires, options);
                    q += (ends[k] - prev) * s.bitline_current_a;
                    prev = ends[k];
                    ++mine.solves;
                    mine.max_iterations = std::max(mine.max_iterations, s.iterations);
                    mine.max_rel_residual = std::max(mine.max_rel_residual, s.rel_residual);
                }
                out[c] = q;
            } catch (...) {
#pragma omp critical(flashmc_array_exact_error)
                if (!error) error = std::current_exception();
            }
        }
#pragma omp critical(flashmc_array_exact_stats)
        {
            total.solves += mine.solves;
            total.max_iterations = std::max(total.max_iterations, mine.max_iterations);
            total.max_rel_residual = std::max(total.max_rel_residual, mine.max_rel_residual);
        }
    }
    if (error) std::rethrow_exception(error);
    if (stats) *stats = total;
    return out;
}

double series_cell_current_a(const device::IvParams& iv, double vth_v, double slope_n,
                             const device::ReadConditions& read, double r_drain_ohm, double r_source_ohm) {
    auto f = [&](double i) {
        return device::drain_current_a(iv, read.vgs_v - i * r_source_ohm, read.vds_v - i * (r_drain_ohm + r_source_ohm),
                                       vth_v, slope_n, read.temperature_c);
    };
    // g(I) = I − f(I) rises monotonically: f falls as the drops grow.
    double lo = 0.0, hi = std::max(f(0.0), 0.0);
    for (int it = 0; it < 200 && hi - lo > 1e-16 * hi; ++it) {
        const double mid = 0.5 * (lo + hi);
        (mid - f(mid) < 0 ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

}  // namespace flashmc::array
