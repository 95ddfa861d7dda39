#pragma once
// One sampled chip with static errors only: every analog layer's weights programmed into
// differential pairs of NOR-Flash cells, aged, and read once without per-read noise. The chip
// then reduces to effective weight matrices, and a trial is the quantized model's forward pass
// with plain GEMMs on them (QuantModel::accumulate_with).
//
// Effective weight of a pair: w_eff = (I⁺ − I⁻)/I_unit, I at the read temperature after aging.
// The unit I_unit is the card's levels.unit_current_a, i.e. the spacing of the per-level target
// currents at the *verify* temperature (level_targets: I_k = k·I_unit there). A read at another
// temperature is not re-calibrated: its gain and offset errors show in w_eff, as on silicon whose
// references were trimmed at the verify temperature. A level-0 cell reads the off current, so an
// ideal pair with one side at 0 gives w − I_off/I_unit (I_off below 1 % of I_unit on nor40_cim).
//
// Cell layout and streams: layer `node` of (point, trial) draws from
// Streams(hash_keys(seed, {point, trial, node})); cell g = (2·o + side)·K + j for output o,
// side 0 = I⁺ / 1 = I⁻, and input j < K = in_c·k·k, so a bit line (column) holds one side of one
// output and the layer is one tile (Grid{K, 2·out_c}). The array module's tiling will replace
// this layout in the per-read path (IR drop, ADC, read noise); ChipMvm is the seam: that path is
// another MvmOverride.
#include <cstdint>
#include <string>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/device/card.hpp"
#include "flashmc/mc/sweep_spec.hpp"
#include "flashmc/nn/quant_model.hpp"

namespace flashmc::mc {

// The conv/FC node indices of `model` named in `names` (empty: all of them), in node order.
// Throws naming an unknown layer and listing the valid ones.
std::vector<int> analog_nodes(const nn::QuantModel& model, const std::vector<std::string>& names);

// The stream-key hash of one layer of one chip: hash_keys(seed, {point, trial, node}).
inline std::uint64_t layer_stream_key(std::uint64_t seed, long point, long trial, int node) {
    return hash_keys(seed, {static_cast<std::uint64_t>(point), static_cast<std::uint64_t>(trial),
                            static_cast<std::uint64_t>(node)});
}

// Effective weights [out_c][K] of one layer: split, sample, erase, program, age, read once.
FloatVec effective_weights(const nn::QNode& node, const device::Card& card, const ChipSettings& chip,
                           const device::LevelTargets& targets, const Streams& streams);

// The static-error chip of one (point, trial): effective weights of every analog layer.
struct Chip {
    std::vector<int> nodes;            // analog node indices
    std::vector<FloatVec> weights;     // per analog node, [out_c][K]
    std::vector<std::uint64_t> keys;   // per analog node, its stream-key hash
};
Chip sample_chip(const nn::QuantModel& model, const std::vector<int>& analog, const device::Card& card,
                 const ChipSettings& chip, std::uint64_t seed, long point, long trial);

// Runs the chip's analog layers as GEMMs on their effective weights; other layers stay digital.
// With track_error, also accumulates per analog layer Σ(a − d)² and Σ d² over every product,
// a = analog and d = digital accumulator (bias excluded) for the same input: the RMS relative
// error of the analog MVM is sqrt(Σ(a − d)²/Σ d²). One ChipMvm per thread (it is mutable).
class ChipMvm : public nn::MvmOverride {
public:
    ChipMvm(const nn::QuantModel& model, const Chip& chip, bool track_error);
    bool accumulate(int node_index, const nn::QNode& node, const Tensor& x, Tensor& acc) const override;
    std::vector<double> rms_relative_error() const;  // per analog node

private:
    const nn::QuantModel& model_;
    const Chip& chip_;
    bool track_;
    std::vector<int> slot_;  // node index → analog slot, −1 if digital
    mutable std::vector<double> err2_, ref2_;
    mutable Tensor digital_;
};

}  // namespace flashmc::mc
