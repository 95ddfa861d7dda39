#include "flashmc/mc/chip.hpp"

#include <cmath>
#include <limits>

#include "flashmc/core/error.hpp"
#include "flashmc/device/cells.hpp"

namespace flashmc::mc {

std::vector<int> analog_nodes(const nn::QuantModel& model, const std::vector<std::string>& names) {
    std::vector<int> out;
    std::string valid;
    for (std::size_t i = 0; i < model.nodes.size(); ++i)
        if (model.nodes[i].is_mvm()) valid += (valid.empty() ? "" : ", ") + model.nodes[i].name;
    if (names.empty()) {
        for (std::size_t i = 0; i < model.nodes.size(); ++i)
            if (model.nodes[i].is_mvm()) out.push_back(static_cast<int>(i));
        return out;
    }
    std::vector<bool> chosen(model.nodes.size(), false);
    for (const auto& name : names) {
        bool found = false;
        for (std::size_t i = 0; i < model.nodes.size(); ++i)
            if (model.nodes[i].is_mvm() && model.nodes[i].name == name) chosen[i] = found = true;
        if (!found) fail("model.analog_layers: '", name, "' is not a conv/FC layer of the model; valid: ", valid);
    }
    for (std::size_t i = 0; i < chosen.size(); ++i)
        if (chosen[i]) out.push_back(static_cast<int>(i));
    return out;
}

FloatVec effective_weights(const nn::QNode& node, const device::Card& card, const ChipSettings& chip,
                           const device::LevelTargets& targets, const Streams& streams) {
    using namespace device;
    const std::size_t k = node.row(), out_c = static_cast<std::size_t>(node.out_c), cells_n = 2 * out_c * k;
    const int max_level = card.levels.max_level();
    std::vector<std::uint8_t> levels(cells_n);
    for (std::size_t o = 0; o < out_c; ++o)
        for (std::size_t j = 0; j < k; ++j) {
            const int w = node.codes[o * k + j];
            if (std::abs(w) > max_level)
                fail("layer ", node.name, ": weight code ", w, " needs more than the card's ", card.levels.weight_bits,
                     "-bit levels (|w| <= ", max_level, "); leave this layer digital (model.analog_layers)");
            const PairLevels p = split_weight(w);
            levels[(2 * o) * k + j] = p.plus;
            levels[(2 * o + 1) * k + j] = p.minus;
        }
    CellArray cells = sample_cells(card, cells_n, chip.pe_cycles, streams, Grid{k, 2 * out_c});
    erase_cells(card, streams, cells);
    switch (chip.program) {
        case ProgramMode::verify: program_verify(card, targets, levels, streams, cells); break;
        case ProgramMode::open_loop: program_open_loop(card, targets, levels, streams, cells); break;
        case ProgramMode::statistical: program_statistical(card, targets, levels, streams, cells); break;
    }
    if (chip.retention_time_s > 0) age_cells(card, chip.retention_time_s, chip.retention_temperature_c, cells);
    std::vector<float> current;
    read_currents_a(card, cells, read_conditions(card, chip.read_temperature_c), Noise::off, streams, 0, current);
    const double inv_unit = 1.0 / card.levels.unit_current_a;
    FloatVec w(out_c * k);
    for (std::size_t o = 0; o < out_c; ++o)
        for (std::size_t j = 0; j < k; ++j)
            w[o * k + j] = static_cast<float>((static_cast<double>(current[(2 * o) * k + j]) -
                                               static_cast<double>(current[(2 * o + 1) * k + j])) * inv_unit);
    return w;
}

Chip sample_chip(const nn::QuantModel& model, const std::vector<int>& analog, const device::Card& card,
                 const ChipSettings& settings, std::uint64_t seed, long point, long trial) {
    const device::LevelTargets targets = device::level_targets(card.iv, card.levels, settings.verify_temperature_c);
    Chip c;
    c.nodes = analog;
    for (int n : analog) {
        const std::uint64_t key = layer_stream_key(seed, point, trial, n);
        c.keys.push_back(key);
        c.weights.push_back(effective_weights(model.nodes[static_cast<std::size_t>(n)], card, settings, targets, Streams(key)));
    }
    return c;
}

ChipMvm::ChipMvm(const nn::QuantModel& model, const Chip& chip, bool track_error)
    : model_(model), chip_(chip), track_(track_error), slot_(model.nodes.size(), -1),
      err2_(chip.nodes.size(), 0.0), ref2_(chip.nodes.size(), 0.0) {
    for (std::size_t s = 0; s < chip.nodes.size(); ++s) slot_[static_cast<std::size_t>(chip.nodes[s])] = static_cast<int>(s);
}

bool ChipMvm::accumulate(int node_index, const nn::QNode& node, const Tensor& x, Tensor& acc) const {
    const int s = slot_[static_cast<std::size_t>(node_index)];
    if (s < 0) return false;
    nn::QuantModel::accumulate_with(node, chip_.weights[static_cast<std::size_t>(s)].data(), x, acc);
    if (track_) {
        model_.accumulate(node, x, digital_);
        const std::size_t per_c = acc.size() / (static_cast<std::size_t>(acc.n()) * static_cast<std::size_t>(node.out_c));
        double e2 = 0, r2 = 0;
        for (std::size_t i = 0; i < acc.size(); ++i) {
            const std::size_t c = (i / per_c) % static_cast<std::size_t>(node.out_c);
            const double d = static_cast<double>(digital_.data[i]) - node.bias_q[c];
            const double e = static_cast<double>(acc.data[i]) - static_cast<double>(digital_.data[i]);
            e2 += e * e;
            r2 += d * d;
        }
        err2_[static_cast<std::size_t>(s)] += e2;
        ref2_[static_cast<std::size_t>(s)] += r2;
    }
    return true;
}

std::vector<double> ChipMvm::rms_relative_error() const {
    std::vector<double> r(err2_.size());
    for (std::size_t i = 0; i < r.size(); ++i)
        r[i] = ref2_[i] > 0 ? std::sqrt(err2_[i] / ref2_[i]) : std::numeric_limits<double>::quiet_NaN();
    return r;
}

}  // namespace flashmc::mc
