#pragma once
// Weight levels: a signed B-bit weight w is stored on a differential pair of cells, w ∝ I⁺ − I⁻,
// each cell holding a magnitude level k = 0 … 2^(B−1) − 1 as a target read current at the read bias
// and the verify temperature. Level 0 is a cell held off: V_th = V_GS + m·n·V_T, reading the off
// current I_off = I_0·[F(−m) − F(−m − V_DS/V_T)]. Levels k ≥ 1 target I_k = I_off + k·I_unit
// (OffCurrent::compensated, what a macro's program-verify does: every level is counted from the
// off cell, so a pair (k, 0) reads I⁺ − I⁻ = k·I_unit exactly) or I_k = k·I_unit
// (OffCurrent::ignored: a pair (k, 0) then reads k − I_off/I_unit units). Target V_th follows by
// inverting the I–V (docs/physics.md §2).
#include <cstdint>
#include <string>
#include <vector>

#include "flashmc/device/iv.hpp"

namespace flashmc::device {

// Card section [levels].
struct LevelParams {
    static constexpr const char* section = "levels";
    int weight_bits = 4;            // B: signed weight bits (4 → weights −7 … +7, levels 0 … 7)
    double unit_current_a = 1e-9;   // I_unit: level k reads k·I_unit
    double read_vgs_v = 1.2;        // read (and verify) gate voltage
    double read_vds_v = 0.1;        // read (and verify) drain voltage
    double off_margin_nvt = 12.0;   // m: level 0 sits m·n·V_T above the read gate voltage

    int max_level() const { return (1 << (weight_bits - 1)) - 1; }
    template <class Self, class F>
    static void each_field(Self& p, F&& f) {
        f("weight_bits", p.weight_bits, Range{2, 9});
        f("unit_current_a", p.unit_current_a, Range{1e-15, 1e-3});
        f("read_vgs_v", p.read_vgs_v, Range{-5, 10});
        f("read_vds_v", p.read_vds_v, Range{1e-3, 5});
        f("off_margin_nvt", p.off_margin_nvt, Range{0, 40});
    }
    void validate() const;
};

// A signed weight on a differential pair: w > 0 → (w, 0), w < 0 → (0, −w), 0 → (0, 0).
struct PairLevels {
    std::uint8_t plus, minus;
};
constexpr PairLevels split_weight(int w) {
    return w >= 0 ? PairLevels{static_cast<std::uint8_t>(w), 0} : PairLevels{0, static_cast<std::uint8_t>(-w)};
}

// Whether the level ladder starts at the off current (above).
enum class OffCurrent { compensated, ignored };
OffCurrent parse_off_current(const std::string& s);  // "compensated" | "ignored"
const char* off_current_name(OffCurrent o);

// The verify targets of every level at one verify temperature T_p. For level k the target
// normalized overdrive u*_k solves I_0(T_p)·[F(u) − F(u − V_DS/V_T)] = I_k; it does not depend on n,
// so a cell with slope factor n has target V_th(T_p) = V_GS − n·V_T(T_p)·u*_k.
struct LevelTargets {
    double verify_temperature_c = 25.0;
    double thermal_voltage_v = 0.0;       // V_T at T_p
    double read_vgs_v = 0.0;
    double vth_shift_v = 0.0;             // κ (T_p − T_0): adds to V_th(T_p) to give V_th at T_0
    std::vector<double> current_a;        // I_k (level 0: the off current I_off)
    std::vector<double> overdrive_u;      // u*_k
    std::vector<double> log_slope;        // d ln I / du at u*_k (1 in deep subthreshold)

    int max_level() const { return static_cast<int>(current_a.size()) - 1; }
    // Target V_th at T_0 of a level-k cell with slope factor n.
    double vth_v(int level, double slope_n) const {
        return read_vgs_v - slope_n * thermal_voltage_v * overdrive_u[level] + vth_shift_v;
    }
};

// Throws if level 1 would not lie above the off level (I_unit below the off current).
LevelTargets level_targets(const IvParams& iv, const LevelParams& levels, double verify_temperature_c,
                           OffCurrent off = OffCurrent::compensated);

}  // namespace flashmc::device
