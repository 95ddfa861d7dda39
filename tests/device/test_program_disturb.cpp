// Program disturb (device/program_disturb.hpp, program_disturb_cells): the closed forms against
// their reference point, a numerical integration and the flow property; the disturbing pulse
// counts of both programming orders on a hand-checked tile; the re-verify pass.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "flashmc/device/cells.hpp"
#include "flashmc/device/levels.hpp"
#include "stats.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
ProgramDisturbParams params() {
    ProgramDisturbParams p;
    p.gate_shift_per_pulse_v = 2e-4;
    p.gate_reference_vth_v = 1.4;
    p.drain_shift_per_pulse_v = 3e-4;
    p.drain_reference_vth_v = 1.7;
    p.field_v = 0.05;
    p.rate_sigma_ln = 0;
    return p;
}
// dV/dn = f(V) by RK4 over n pulses (as a continuous count).
template <class F>
double integrate(double v, double n, F f) {
    const int steps = 20000;
    const double h = n / steps;
    for (int k = 0; k < steps; ++k) {
        const double k1 = f(v), k2 = f(v + 0.5 * h * k1), k3 = f(v + 0.5 * h * k2), k4 = f(v + h * k3);
        v += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
    }
    return v;
}
}  // namespace

TEST_CASE("program disturb: closed forms meet their reference pulse, the rate equations and the flow property", "[device][program-disturb]") {
    const ProgramDisturbParams p = params();
    const double rg = program_disturb_rate_v(p.gate_shift_per_pulse_v, p.field_v);
    const double rd = program_disturb_rate_v(p.drain_shift_per_pulse_v, p.field_v);
    REQUIRE(gate_disturb_shift_v(p, p.gate_reference_vth_v, rg, 1) == Approx(p.gate_shift_per_pulse_v).epsilon(1e-12));
    REQUIRE(drain_disturb_shift_v(p, p.drain_reference_vth_v, rd, 1) == Approx(-p.drain_shift_per_pulse_v).epsilon(1e-12));
    REQUIRE(gate_disturb_shift_v(p, 1.3, rg, 0) == 0.0);
    for (double v0 : {1.3, 1.5, 1.7}) {
        CAPTURE(v0);
        const double g = integrate(v0, 5000, [&](double v) { return rg * std::exp((p.gate_reference_vth_v - v) / p.field_v); });
        REQUIRE(g - v0 == Approx(gate_disturb_shift_v(p, v0, rg, 5000)).epsilon(1e-6));
        const double d = integrate(v0, 5000, [&](double v) { return -rd * std::exp((v - p.drain_reference_vth_v) / p.field_v); });
        REQUIRE(d - v0 == Approx(drain_disturb_shift_v(p, v0, rd, 5000)).epsilon(1e-6));
    }
    // Flow: n1 pulses, then n2 from where they left the cell, is n1 + n2 at once.
    const double a = drain_disturb_shift_v(p, 1.6, rd, 300);
    REQUIRE(a + drain_disturb_shift_v(p, 1.6 + a, rd, 900) == Approx(drain_disturb_shift_v(p, 1.6, rd, 1200)).epsilon(1e-12));
    // Gate disturb is strongest at low V_th, drain disturb at high V_th.
    REQUIRE(gate_disturb_shift_v(p, 1.3, rg, 100) > gate_disturb_shift_v(p, 1.6, rg, 100));
    REQUIRE(drain_disturb_shift_v(p, 1.8, rd, 100) < drain_disturb_shift_v(p, 1.5, rd, 100));
}

TEST_CASE("program_disturb_cells: the later cells' pulses on the word line and the bit line, per order", "[device][program-disturb]") {
    Card card = test::quiet_card();
    card.program_disturb = params();
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    const int rows = 3, cols = 4;
    Streams streams(5);
    CellArray base = sample_cells(card, rows * cols, 0, streams);
    // Cell (r, c) at c·rows + r: V_th and pulses set by hand.
    for (int c = 0; c < cols; ++c)
        for (int r = 0; r < rows; ++r) {
            base.vth_v[c * rows + r] = static_cast<float>(1.4 + 0.05 * r + 0.02 * c);
            base.pulses[c * rows + r] = static_cast<std::uint16_t>(10 + 7 * r + 3 * c);
        }
    const std::vector<std::uint8_t> levels(rows * cols, 1);
    const double rg = program_disturb_rate_v(2e-4, 0.05), rd = program_disturb_rate_v(3e-4, 0.05);
    auto pulses = [&](int r, int c) { return 10.0 + 7 * r + 3 * c; };
    for (auto order : {ProgramOrder::cell, ProgramOrder::row}) {
        CAPTURE(program_order_name(order));
        CellArray cells = base;
        program_disturb_cells(card, t, levels, rows, cols, order, false, false, streams, cells);
        for (int c = 0; c < cols; ++c)
            for (int r = 0; r < rows; ++r) {
                double gate = 0, drain = 0, longest = 0;
                for (int c2 = 0; c2 < cols; ++c2) longest = std::max(longest, pulses(r, c2));
                for (int c2 = c + 1; c2 < cols; ++c2) gate += pulses(r, c2);
                if (order == ProgramOrder::row) gate = longest - pulses(r, c);
                for (int r2 = r + 1; r2 < rows; ++r2) drain += pulses(r2, c);
                double v = base.vth_v[c * rows + r];
                v += gate_disturb_shift_v(card.program_disturb, v, rg, gate);
                v += drain_disturb_shift_v(card.program_disturb, v, rd, drain);
                CAPTURE(r, c, gate, drain);
                REQUIRE(cells.vth_v[c * rows + r] == Approx(v).margin(1e-6));
            }
        // The last cell of the last row is disturbed by nothing.
        REQUIRE(cells.vth_v[(cols - 1) * rows + rows - 1] == base.vth_v[(cols - 1) * rows + rows - 1]);
    }
    // Off (the shipped cards): nothing moves.
    CellArray off = base;
    Card quiet = card;
    quiet.program_disturb.gate_shift_per_pulse_v = quiet.program_disturb.drain_shift_per_pulse_v = 0;
    program_disturb_cells(quiet, t, levels, rows, cols, ProgramOrder::cell, true, false, streams, off);
    REQUIRE(off.vth_v == base.vth_v);
    REQUIRE_THROWS(program_disturb_cells(card, t, levels, 2, cols, ProgramOrder::cell, false, false, streams, off));
}

TEST_CASE("re-verify tops up cells lowered by drain disturb; cells raised by gate disturb stay", "[device][program-disturb]") {
    Card card = test::quiet_card();
    card.program_disturb = params();
    card.program_disturb.gate_shift_per_pulse_v = 0;
    card.program_disturb.drain_shift_per_pulse_v = 2e-4;
    const LevelTargets t = level_targets(card.iv, card.levels, 25.0);
    const int rows = 64, cols = 8;
    Streams streams(9);
    std::vector<std::uint8_t> levels(rows * cols);
    for (std::size_t i = 0; i < levels.size(); ++i) levels[i] = static_cast<std::uint8_t>(i % 8);
    CellArray programmed = sample_cells(card, levels.size(), 0, streams);
    erase_cells(card, streams, programmed);
    program_verify(card, t, levels, streams, programmed);
    auto below_target = [&](const CellArray& c) {  // cells whose V_th is under their verify level
        int n = 0;
        for (std::size_t i = 0; i < c.size(); ++i) n += c.vth_v[i] < t.vth_v(levels[i], card.iv.slope_n) - 1e-6;
        return n;
    };
    REQUIRE(below_target(programmed) == 0);
    CellArray plain = programmed, fixed = programmed;
    program_disturb_cells(card, t, levels, rows, cols, ProgramOrder::cell, false, false, streams, plain);
    program_disturb_cells(card, t, levels, rows, cols, ProgramOrder::cell, true, false, streams, fixed);
    INFO(below_target(plain));
    REQUIRE(below_target(plain) > rows * cols / 2);  // most cells have a later cell on their bit line
    REQUIRE(below_target(fixed) == 0);               // the noiseless re-verify leaves none under target
    for (std::size_t i = 0; i < fixed.size(); ++i) REQUIRE(fixed.pulses[i] >= programmed.pulses[i]);
    // Gate disturb raises V_th: a re-verify cannot lower it, so it changes nothing.
    card.program_disturb.gate_shift_per_pulse_v = 2e-4;
    card.program_disturb.drain_shift_per_pulse_v = 0;
    CellArray raised = programmed, raised_fixed = programmed;
    program_disturb_cells(card, t, levels, rows, cols, ProgramOrder::row, false, false, streams, raised);
    program_disturb_cells(card, t, levels, rows, cols, ProgramOrder::row, true, false, streams, raised_fixed);
    REQUIRE(raised_fixed.vth_v == raised.vth_v);
}
