#include "flashmc/mc/chip.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <span>

#include "flashmc/core/error.hpp"
#include "flashmc/core/units.hpp"
#include "flashmc/device/cycling.hpp"
#include "flashmc/device/retention.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/panel_gemm.hpp"

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
            if (model.nodes[i].is_mvm() && model.nodes[i].name == name) {
                if (chosen[i]) fail("model.analog_layers: '", name, "' is listed twice");
                chosen[i] = found = true;
            }
        if (!found) fail("model.analog_layers: '", name, "' is not a conv/FC layer of the model; valid: ", valid);
    }
    for (std::size_t i = 0; i < chosen.size(); ++i)
        if (chosen[i]) out.push_back(static_cast<int>(i));
    return out;
}

std::vector<std::uint64_t> Chip::keys() const {
    std::vector<std::uint64_t> k;
    for (const auto& l : layers) k.push_back(l.key);
    return k;
}

namespace {

// The mapping of one layer: the sweep's tiles and mapping, the card's weight bits.
array::MappingParams layer_mapping_params(const device::Card& card, array::MappingParams p) {
    p.weight_bits = card.levels.weight_bits;
    return p;
}

// Level targets up to the mapping's largest level (offset mapping: 2·w_max), same unit current.
device::LevelTargets mapping_targets(const device::Card& card, const array::MappingParams& p, const ChipSettings& chip) {
    device::LevelParams lp = card.levels;
    while (lp.max_level() < p.max_level()) ++lp.weight_bits;
    return device::level_targets(card.iv, lp, chip.verify_temperature_c, chip.off_current);
}

// chip.calibration_reads as a count, checked here too: settings built other than from a sweep file
// must not average 0 reads or a truncated 2.5.
int calibration_read_count(const ChipSettings& chip) {
    const double k = chip.calibration_reads;
    if (!(k >= 1 && k <= 64 && k == std::floor(k)))
        fail("chip.calibration_reads = ", k, ": expected a whole number of calibration reads from 1 to 64");
    return static_cast<int>(k);
}

}  // namespace

Chip sample_chip(const nn::QuantModel& model, const std::vector<int>& analog, const device::Card& card,
                 const ChipSettings& settings, const array::MappingParams& mapping, std::uint64_t seed, long point, long trial,
                 ChipStageTimes* times) {
    using clock = std::chrono::steady_clock;
    auto stage_end = [&, t0 = clock::now()](double ChipStageTimes::*stage) mutable {
        if (!times) return;
        const auto t1 = clock::now();
        times->*stage += std::chrono::duration<double>(t1 - t0).count();
        t0 = t1;
    };
    using namespace device;
    const array::MappingParams mp = layer_mapping_params(card, mapping);
    const LevelTargets targets = mapping_targets(card, mp, settings);
    Chip c;
    for (int n : analog) {
        const nn::QNode& node = model.nodes[static_cast<std::size_t>(n)];
        LayerCells l;
        l.node = n;
        l.key = layer_stream_key(seed, point, trial, n);
        l.mapping = array::map_layer(static_cast<int>(node.row()), node.out_c, mp);
        for (std::size_t t = 0; t < l.mapping.tiles.size(); ++t) {
            const array::TilePlacement& p = l.mapping.tiles[t];
            std::vector<std::uint8_t> levels;
            try {
                levels = array::tile_levels(l.mapping, node.codes, static_cast<int>(t));
            } catch (const Error& e) {
                fail("layer ", node.name, ": ", e.what(), "; the card stores ", card.levels.weight_bits,
                     "-bit weights; leave this layer digital (model.analog_layers)");
            }
            const Streams streams = l.tile_streams(static_cast<int>(t));
            const std::size_t cells_n = static_cast<std::size_t>(p.rows) * static_cast<std::size_t>(p.cols);
            CellArray cells = sample_cells(card, cells_n, settings.pe_cycles, streams,
                                           Grid{static_cast<std::uint64_t>(p.rows), static_cast<std::uint64_t>(p.cols)});
            stage_end(&ChipStageTimes::sample_s);  // with the mapping and the tile's levels
            erase_cells(card, streams, cells);
            stage_end(&ChipStageTimes::erase_s);
            switch (settings.program) {
                case ProgramMode::verify: program_verify(card, targets, levels, streams, cells); break;
                case ProgramMode::open_loop: program_open_loop(card, targets, levels, streams, cells); break;
                case ProgramMode::statistical: program_statistical(card, targets, levels, streams, cells); break;
            }
            program_disturb_cells(card, targets, levels, p.rows, p.cols, settings.program_order, settings.reverify,
                                  settings.program == ProgramMode::open_loop, streams, cells);
            stage_end(&ChipStageTimes::program_s);
            live_cells(card, settings.retention_time_s, settings.retention_temperature_c, settings.reads, streams, cells);
            stage_end(&ChipStageTimes::age_s);
            l.tiles.push_back(std::move(cells));
            l.levels.push_back(std::move(levels));
        }
        c.layers.push_back(std::move(l));
    }
    return c;
}

double read_unit_current_a(const device::Card& card, const ChipSettings& chip, const array::MappingParams& mapping) {
    if (chip.read_reference == ReadReference::fixed) return card.levels.unit_current_a;
    const device::LevelTargets targets = mapping_targets(card, layer_mapping_params(card, mapping), chip);
    const int top = targets.max_level();
    const device::ReadConditions read = device::read_conditions(card, chip.read_temperature_c);
    // A reference cell at level k, without variation, living the array's life (device::live_cells) with
    // the median charge loss (worn by the chip's P/E cycles), V(t) = V_n + (V − V_n)(1 −
    // β_med·ln(1 + AF(T)·t/τ_0)) (device/retention.hpp), and the median read disturb (its word lines
    // are the array's; device/read_disturb.hpp); read with the array.
    const device::RetentionParams& r = card.retention;
    const device::ReadDisturbParams& d = card.read_disturb;
    const double beta = r.beta_median * device::wear_after(card.cycling, chip.pe_cycles).beta_factor;
    const double t_eq = device::acceleration_factor(r, chip.retention_temperature_c) * chip.retention_time_s;
    const double rate = device::read_disturb_rate_v_per_s(d) * device::read_disturb_acceleration(d, chip.retention_temperature_c);
    const int steps = chip.reads > 0 && chip.retention_time_s > 0 ? device::kLifeSteps : 1;
    auto reference_a = [&](int level) {
        double v = targets.vth_v(level, card.iv.slope_n);
        if (chip.reads == 0) v += device::retention_shift_v(v, r.neutral_vth_v, beta, t_eq, r.tau0_s);
        else for (int k = 0; k < steps; ++k) {
            const double l0 = device::charge_loss_fraction(beta, t_eq * k / steps, r.tau0_s);
            const double l1 = device::charge_loss_fraction(beta, t_eq * (k + 1) / steps, r.tau0_s);
            v = l0 >= 1.0 ? r.neutral_vth_v : r.neutral_vth_v + (v - r.neutral_vth_v) * (1.0 - l1) / (1.0 - l0);
            v += device::read_disturb_shift_v(d, v, rate, chip.reads / steps * d.stress_per_read_s);
        }
        return device::drain_current_a(card.iv, read.vgs_v, read.vds_v, v, card.iv.slope_n, read.temperature_c);
    };
    // I_unit = (I_ref,L − I_ref,0)/L with compensated levels (the off current counted out, as the
    // levels were programmed), I_ref,L/L otherwise: exactly I_unit for a fresh chip read at its
    // verify temperature.
    const double off = chip.off_current == device::OffCurrent::compensated ? reference_a(0) : 0.0;
    return (reference_a(top) - off) / top;
}

BitLineTrim fit_bit_line(std::span<const double> m, std::span<const std::uint8_t> levels) {
    if (m.size() != levels.size() || m.empty()) fail("fit_bit_line: ", m.size(), " currents, ", levels.size(), " levels");
    double t_a = 0, s_a = 0, t_b = 0, s_b = 0, n_b = 0;
    const double n_a = static_cast<double>(m.size());
    for (std::size_t r = 0; r < m.size(); ++r) t_a += levels[r], s_a += m[r];
    const double mean = t_a / n_a;
    for (std::size_t r = 0; r < m.size(); ++r)
        if (levels[r] > mean) t_b += levels[r], s_b += m[r], n_b += 1;
    if (n_b == 0) return {};  // every level equal: gain and offset cannot be told apart
    const double det = t_a * n_b - t_b * n_a;  // < 0: B's mean level is above A's
    const double g = (s_a * n_b - s_b * n_a) / det, o = (t_a * s_b - t_b * s_a) / det;
    if (!(g > 0) || !std::isfinite(o)) return {};
    return {g, o, true};
}

std::vector<BitLineTrim> fit_tile_trims(std::span<const double> m, std::span<const std::uint8_t> levels, int rows, int cols,
                                        ColumnCalibration mode) {
    std::vector<BitLineTrim> trims;
    if (mode == ColumnCalibration::none) return trims;
    const std::size_t r = static_cast<std::size_t>(rows);
    for (int c = 0; c < cols; ++c) trims.push_back(fit_bit_line(m.subspan(static_cast<std::size_t>(c) * r, r), levels.subspan(static_cast<std::size_t>(c) * r, r)));
    if (mode != ColumnCalibration::gain_offset_guarded) return trims;
    std::vector<double> g, o;
    for (const BitLineTrim& t : trims)
        if (t.fitted) g.push_back(t.gain), o.push_back(t.offset);
    if (g.empty()) return trims;
    // Lower median: an actual bit line's fit, the same on every platform.
    const std::size_t mid = (g.size() - 1) / 2;
    std::nth_element(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(mid), g.end());
    std::nth_element(o.begin(), o.begin() + static_cast<std::ptrdiff_t>(mid), o.end());
    const BitLineTrim tile{g[mid], o[mid], true};
    for (BitLineTrim& t : trims)
        if (!t.fitted || t.gain * kGuardGainRatio < tile.gain) t = tile;
    return trims;
}

FloatVec effective_weights(const LayerCells& layer, const device::Card& card, const ChipSettings& chip, device::Noise noise,
                           std::uint64_t read_key) {
    const array::LayerMapping& m = layer.mapping;
    const device::ReadConditions read = device::read_conditions(card, chip.read_temperature_c);
    const double inv_unit = 1.0 / read_unit_current_a(card, chip, m.params);
    const bool diff = m.params.mapping == array::WeightMapping::differential;
    FloatVec w(static_cast<std::size_t>(m.outputs) * static_cast<std::size_t>(m.inputs));
    std::vector<float> current;
    std::vector<double> units, cal;
    for (std::size_t t = 0; t < m.tiles.size(); ++t) {
        const array::TilePlacement& p = m.tiles[t];
        device::read_currents_a(card, layer.tiles[t], read, noise, layer.tile_streams(static_cast<int>(t)), read_key, current);
        // Cell (row, col) at col·rows + row, in weight units; differential: output a on columns 2a
        // (I⁺), 2a+1 (I⁻); offset: output a on column a against the reference column cols − 1.
        units.assign(current.begin(), current.end());
        for (double& v : units) v *= inv_unit;
        if (chip.column_calibration != ColumnCalibration::none) {
            // Noise-free: the trims are fitted on this read. With read noise, on the mean of
            // chip.calibration_reads calibration reads of their own, kept for this one, as the array
            // path does (ArrayMvm).
            if (noise == device::Noise::on) {
                cal.assign(current.size(), 0.0);
                const int reads = calibration_read_count(chip);
                for (int k = 0; k < reads; ++k) {
                    device::read_currents_a(card, layer.tiles[t], read, noise, layer.tile_streams(static_cast<int>(t)),
                                            calibration_read_key(k), current);
                    for (std::size_t i = 0; i < cal.size(); ++i) cal[i] += current[i];
                }
                for (double& v : cal) v = v / reads * inv_unit;
            }
            const std::vector<BitLineTrim> trims =
                fit_tile_trims(noise == device::Noise::on ? cal : units, layer.levels[t], p.rows, p.cols, chip.column_calibration);
            for (int c = 0; c < p.cols; ++c) {
                const std::size_t at = static_cast<std::size_t>(c) * p.rows, rows = static_cast<std::size_t>(p.rows);
                for (std::size_t r = 0; r < rows; ++r) units[at + r] = trims[static_cast<std::size_t>(c)].trim(units[at + r]);
            }
        }
        auto cell = [&](int col, int row) { return units[static_cast<std::size_t>(col) * p.rows + row]; };
        for (int a = 0; a < p.outputs; ++a)
            for (int r = 0; r < p.rows; ++r) {
                const double d = diff ? cell(2 * a, r) - cell(2 * a + 1, r) : cell(a, r) - cell(p.cols - 1, r);
                w[static_cast<std::size_t>(p.out_begin + a) * m.inputs + p.row_begin + r] = static_cast<float>(d);
            }
    }
    return w;
}

// ---- TrackedMvm ------------------------------------------------------------------------------

TrackedMvm::TrackedMvm(const nn::QuantModel& model, const std::vector<int>& nodes, bool track_error)
    : model_(model), track_(track_error), active_(track_error), slot_(model.nodes.size(), -1), err2_(nodes.size(), 0.0), ref2_(nodes.size(), 0.0) {
    for (std::size_t s = 0; s < nodes.size(); ++s) slot_[static_cast<std::size_t>(nodes[s])] = static_cast<int>(s);
}

bool TrackedMvm::accumulate(int node_index, const nn::QNode& node, const Tensor& x, Tensor& acc) const {
    const int s = slot_[static_cast<std::size_t>(node_index)];
    if (s < 0) return false;
    analog(s, node, x, acc);
    if (active_) {
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

std::vector<double> TrackedMvm::rms_relative_error() const {
    std::vector<double> r(err2_.size());
    for (std::size_t i = 0; i < r.size(); ++i)
        r[i] = ref2_[i] > 0 ? std::sqrt(err2_[i] / ref2_[i]) : std::numeric_limits<double>::quiet_NaN();
    return r;
}

namespace {
std::vector<int> chip_nodes(const Chip& chip) {
    std::vector<int> n;
    for (const auto& l : chip.layers) n.push_back(l.node);
    return n;
}
}  // namespace

// ---- StaticMvm -------------------------------------------------------------------------------

StaticMvm::StaticMvm(const nn::QuantModel& model, const Chip& chip, const device::Card& card, const ChipSettings& settings,
                     bool track_error)
    : TrackedMvm(model, chip_nodes(chip), track_error) {
    for (const auto& l : chip.layers) weights_.push_back(effective_weights(l, card, settings));
}

StaticMvm::StaticMvm(const nn::QuantModel& model, const std::vector<int>& nodes, std::vector<FloatVec> weights, bool track_error)
    : TrackedMvm(model, nodes, track_error), weights_(std::move(weights)) {
    if (weights_.size() != nodes.size()) fail("StaticMvm: ", weights_.size(), " weight matrices for ", nodes.size(), " nodes");
}

void StaticMvm::analog(int slot, const nn::QNode& node, const Tensor& x, Tensor& acc) const {
    nn::QuantModel::accumulate_with(node, weights_[static_cast<std::size_t>(slot)].data(), x, acc);
}

// ---- ArrayMvm --------------------------------------------------------------------------------

namespace {

// The input vectors of images [i0, i0 + ni) of the layer's input, [ni·P][K] (conv: every output
// position's patch, P = oh·ow; linear: the input, P = 1).
void input_vectors(const nn::QNode& q, const Tensor& x, int i0, int ni, std::vector<float>& v, int& oh, int& ow) {
    const int K = static_cast<int>(q.row());
    if (q.op == nn::QNode::Op::Linear) {
        oh = ow = 1;
        v.assign(x.image(i0), x.image(i0) + static_cast<std::size_t>(ni) * K);
        return;
    }
    oh = (x.h() + 2 * q.pad - q.k) / q.stride + 1, ow = (x.w() + 2 * q.pad - q.k) / q.stride + 1;
    const int P = oh * ow, h = x.h(), w = x.w(), k = q.k;
    v.resize(static_cast<std::size_t>(ni) * P * K);
    // Patches written directly as rows [position][c, ky, kx] (no im2col + transpose).
    for (int i = 0; i < ni; ++i) {
        const float* img = x.image(i0 + i);
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox) {
                float* dst = v.data() + (static_cast<std::size_t>(i) * P + oy * ow + ox) * K;
                for (int c = 0; c < q.in_c; ++c)
                    for (int ky = 0; ky < k; ++ky) {
                        const int iy = oy * q.stride - q.pad + ky;
                        if (iy < 0 || iy >= h) {
                            dst = std::fill_n(dst, k, 0.0f);
                            continue;
                        }
                        const float* row = img + (static_cast<std::size_t>(c) * h + iy) * w;
                        for (int kx = 0; kx < k; ++kx) {
                            const int ix = ox * q.stride - q.pad + kx;
                            *dst++ = ix >= 0 && ix < w ? row[ix] : 0.0f;
                        }
                    }
            }
    }
}

int bits_for(double max_code) {
    int b = 1;
    while (static_cast<double>((1L << b) - 1) < max_code) ++b;
    return b;
}

}  // namespace

CalibrationInputs calibration_inputs(const nn::QuantModel& model, const std::vector<int>& analog, const std::uint8_t* images,
                                     int n, int max_vectors) {
    Tensor logits;
    std::vector<Tensor> trace;
    model.forward(images, n, logits, &trace);
    CalibrationInputs c;
    for (int node : analog) {
        const nn::QNode& q = model.nodes[static_cast<std::size_t>(node)];
        std::vector<float> v;
        int oh = 0, ow = 0;
        input_vectors(q, trace[static_cast<std::size_t>(q.inputs[0])], 0, n, v, oh, ow);
        const int count = n * oh * ow;
        const std::size_t K = q.row();
        const int keep = std::min(count, max_vectors);
        FloatVec kept(static_cast<std::size_t>(keep) * K);
        for (int i = 0; i < keep; ++i) {
            const std::size_t src = static_cast<std::size_t>(static_cast<long>(i) * count / keep);
            std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(src * K), K, kept.begin() + static_cast<std::ptrdiff_t>(i * K));
        }
        c.codes.push_back(std::move(kept));
        c.vectors.push_back(keep);
    }
    return c;
}

void ArrayMvm::operating_points(std::size_t slot, bool noisy, std::uint64_t read_key, std::vector<array::TileOperatingPoint>& ops) const {
    ops.resize(chip_.layers[slot].tiles.size());
    for (std::size_t t = 0; t < ops.size(); ++t) tile_operating_point(slot, t, noisy, read_key, ops[t]);
}

void ArrayMvm::tile_operating_point(std::size_t slot, std::size_t t, bool noisy, std::uint64_t read_key, array::TileOperatingPoint& op) const {
    const LayerCells& l = chip_.layers[slot];
    const device::CellArray& cells = l.tiles[t];
    const array::TilePlacement& p = l.mapping.tiles[t];
    if (noisy) device::sample_read_noise(card_, cells, l.tile_streams(static_cast<int>(t)), read_key, rtn_, factor_);
    array::operating_point(card_.iv, p.rows, p.cols, cells.vth_v, cells.slope_n, read_, array_.analog.wires, op,
                           noisy ? std::span<const float>(rtn_) : std::span<const float>{},
                           noisy ? std::span<const float>(factor_) : std::span<const float>{});
}

array::AnalogLayer::CellSource ArrayMvm::cell_source(std::size_t slot, bool noisy, std::uint64_t read_key) const {
    const LayerCells& l = chip_.layers[slot];
    const device::Card& card = card_;
    return [&l, &card, noisy, read_key](int t) {
        const device::CellArray& cells = l.tiles[static_cast<std::size_t>(t)];
        const array::TilePlacement& p = l.mapping.tiles[static_cast<std::size_t>(t)];
        array::TileCells tc{p.rows, p.cols, cells.vth_v, cells.slope_n, {}};
        if (!noisy) return tc;
        // The same read as operating_points' (same streams and key): V_th + the RTN shift, and the
        // read circuit's current factor, as the fast models take them.
        std::vector<float> rtn;
        device::sample_read_noise(card, cells, l.tile_streams(t), read_key, rtn, tc.current_factor);
        for (std::size_t i = 0; i < tc.vth_v.size(); ++i) tc.vth_v[i] += rtn[i];
        return tc;
    };
}

ArrayMvm::ArrayMvm(const nn::QuantModel& model, const Chip& chip, const device::Card& card, const ChipSettings& settings,
                   const ArraySettings& array, const CalibrationInputs* calibration, bool track_error)
    : TrackedMvm(model, chip_nodes(chip), track_error), chip_(chip), card_(card),
      read_(device::read_conditions(card, settings.read_temperature_c)), array_(array) {
    if (settings.column_calibration != ColumnCalibration::none && (array.analog.ir != array::IrModel::none || array.analog.adc.bits != 0))
        fail("chip.column_calibration = \"gain-offset\" needs bit-line sums read exactly (docs/array.md §5.1): no IR drop "
             "(array.r_bl_ohm = array.r_sl_ohm = 0) and an ideal ADC (array.adc_bits = 0), with or without read noise; "
             "the array path's ADCs calibrate their range with array.adc_range = \"calibration\"");
    const bool trim = settings.column_calibration != ColumnCalibration::none;
    calibration_ = settings.column_calibration;
    calibration_reads_ = calibration_read_count(settings);
    for (std::size_t s = 0; s < chip.layers.size(); ++s) {
        const LayerCells& l = chip.layers[s];
        names_.push_back(model.nodes[static_cast<std::size_t>(l.node)].name);
        const std::size_t in = static_cast<std::size_t>(model.nodes[static_cast<std::size_t>(l.node)].inputs[0]);
        max_code_.push_back(static_cast<int>(model.output_bound(in)));
        signed_input_.push_back(model.output_signed(in));
        array::AnalogParams p = array.analog;
        p.mapping = l.mapping.params;
        p.input_bits = bits_for(max_code_.back());
        const double unit_a = read_unit_current_a(card, settings, l.mapping.params);
        unit_a_.push_back(unit_a);
        std::vector<array::TileOperatingPoint> ops;
        operating_points(s, false, 0, ops);
        trims_.emplace_back();
        if (trim) {
            trims_.back() = fit_trims(s, ops);
            apply_trims(s, ops);
        }
        layers_.emplace_back(l.mapping, std::move(ops), unit_a, p, Streams(l.key), card.read_noise.shot_noise_factor);
        noise_hash_.push_back(hash_keys(l.key, {array::kConversionNoiseKey}));
        if (array::uses_exact_solver(p)) layers_.back().set_cells(card.iv, read_, cell_source(s, false, 0));
        pack(s);
        if (p.adc.calibration == array::RangeCalibration::calibration) {
            if (!calibration) fail("array.adc_range = \"calibration\" needs calibration inputs");
            const FloatVec& codes = calibration->codes[s];
            const int n = calibration->vectors[s];
            if (!signed_input_.back()) {
                layers_.back().calibrate(codes.data(), n);
            } else {  // both reads (x⁺, x⁻) go through the same ADCs
                FloatVec both(2 * codes.size());
                for (std::size_t i = 0; i < codes.size(); ++i)
                    both[i] = std::max(codes[i], 0.0f), both[codes.size() + i] = std::max(-codes[i], 0.0f);
                layers_.back().calibrate(both.data(), 2 * n);
            }
        }
    }
}

void ArrayMvm::begin_batch(std::uint64_t first_image) {
    first_image_ = first_image;
    if (array_.read_noise == ReadNoise::off) return;
    const bool exact = array::uses_exact_solver(array_.analog);
    for (std::size_t s = 0; s < layers_.size(); ++s) {
        std::vector<array::TileOperatingPoint> ops = layers_[s].release_operating_points();  // refilled in place
        operating_points(s, true, first_image + 1, ops);
        apply_trims(s, ops);
        layers_[s].set_operating_points(std::move(ops));
        if (exact) layers_[s].set_cells(card_.iv, read_, cell_source(s, true, first_image + 1));
        pack(s);
    }
}

std::vector<BitLineTrim> ArrayMvm::fit_trims(std::size_t slot, const std::vector<array::TileOperatingPoint>& ops) const {
    const LayerCells& l = chip_.layers[slot];
    // Each tile's calibration currents, summed over the reads, column-major (the levels' order, as
    // effective_weights reads them): the noise-free read, or with per-batch read noise reads of
    // their own (calibration_read_key; a batch's read is keyed by its first image + 1), whose
    // trims every later read keeps.
    const bool noisy = array_.read_noise != ReadNoise::off;
    const int reads = noisy ? calibration_reads_ : 1;
    std::vector<BitLineTrim> trims;
    std::vector<double> m;
    array::TileOperatingPoint cal;
    for (std::size_t t = 0; t < ops.size(); ++t) {  // one tile's reads at a time
        const int rows = ops[t].rows, cols = ops[t].cols;
        m.assign(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols), 0.0);
        for (int k = 0; k < reads; ++k) {
            if (noisy) tile_operating_point(slot, t, true, calibration_read_key(k), cal);
            const array::TileOperatingPoint& op = noisy ? cal : ops[t];
            for (int c = 0; c < cols; ++c)
                for (int r = 0; r < rows; ++r)
                    m[static_cast<std::size_t>(c) * static_cast<std::size_t>(rows) + static_cast<std::size_t>(r)] +=
                        static_cast<double>(op.current_a[op.index(r, c)]);
        }
        for (double& v : m) v = v / reads / unit_a_[slot];  // the mean read, in weight units
        const std::vector<BitLineTrim> tile = fit_tile_trims(m, l.levels[t], rows, cols, calibration_);
        trims.insert(trims.end(), tile.begin(), tile.end());
    }
    return trims;
}

void ArrayMvm::apply_trims(std::size_t slot, std::vector<array::TileOperatingPoint>& ops) const {
    const std::vector<BitLineTrim>& trims = trims_[slot];
    if (trims.empty()) return;
    const double unit = unit_a_[slot];
    std::size_t k = 0;
    for (array::TileOperatingPoint& op : ops)
        for (int c = 0; c < op.cols; ++c, ++k) {
            const BitLineTrim& t = trims[k];
            if (!t.fitted) continue;
            for (int r = 0; r < op.rows; ++r) {
                float& i = op.current_a[op.index(r, c)];
                i = static_cast<float>(t.trim(static_cast<double>(i) / unit) * unit);
            }
        }
}

int ArrayMvm::cells_built() const {
    int n = 0;
    for (const auto& l : layers_) n += l.cells_built();
    return n;
}

void ArrayMvm::pack(std::size_t s) {
    if (array_.analog.ir != array::IrModel::none) return;
    packed_.resize(layers_.size()), packed_sums_.resize(layers_.size());
    const array::AnalogLayer& layer = layers_[s];
    const auto& tiles = layer.mapping().tiles;
    packed_[s].resize(tiles.size()), packed_sums_[s].resize(layer.conversion_noise() ? tiles.size() : 0);
    const float scale = layer.input_scale();
    // [row][column] → scaled and packed as [column][row] weights.
    for (std::size_t t = 0; t < tiles.size(); ++t) {
        const int ti = static_cast<int>(t);
        nn::pack_panel_weights_transposed(layer.tile_differences(ti).data(), tiles[t].outputs, tiles[t].rows, scale, packed_[s][t]);
        if (layer.conversion_noise())
            nn::pack_panel_weights_transposed(layer.tile_sums(ti).data(), layer.sum_columns(ti), tiles[t].rows, scale,
                                              packed_sums_[s][t]);
    }
}

void ArrayMvm::analog_panel(std::size_t s, const nn::QNode& q, const Tensor& x, Tensor& acc) const {
    const array::AnalogLayer& layer = layers_[s];
    const nn::ConvPanel shape(q.in_c, x.h(), x.w(), q.k, q.stride, q.pad);
    const std::vector<std::ptrdiff_t> off = shape.offsets();
    const int P = shape.oh * shape.ow;
    const std::size_t O = static_cast<std::size_t>(q.out_c), per_image = static_cast<std::size_t>(q.in_c) * x.h() * x.w();
    acc.resize(x.n(), q.out_c, shape.oh, shape.ow);
    std::fill(acc.data.begin(), acc.data.end(), 0.0f);
    const array::AnalogParams& ap = array_.analog;
    const int planes = ap.encoding == array::InputEncoding::pulse_width ? 1 : bits_for(max_code_[s]);
    const auto& tiles = layer.mapping().tiles;
    int max_adcs = 0;
    for (const auto& t : tiles) max_adcs = std::max(max_adcs, t.outputs);
    image_.resize(per_image), plane_.resize(planes > 1 ? per_image : 0);
    panel_.resize(shape.size() + nn::kPanelAlign);  // slack: a last, partial vector reads a full one
    delta_.resize(static_cast<std::size_t>(max_adcs) * P);
    if (layer.conversion_noise()) sums_.resize(static_cast<std::size_t>(max_adcs + 1) * P);
    const std::vector<float> zero(static_cast<std::size_t>(max_adcs + 1), 0.0f);
    std::vector<nn::PanelVector> vectors;
    array::AdcStats stats;
    const bool ir = ap.ir != array::IrModel::none;
    int max_rows = 0;
    for (const auto& t : tiles) max_rows = std::max(max_rows, t.rows);
    if (ir) {
        lanes_.resize(static_cast<std::size_t>(max_rows) * array::kLanes), lane_rows_.resize(static_cast<std::size_t>(max_rows));
        for (int i = 0; i < max_rows; ++i) lane_rows_[static_cast<std::size_t>(i)] = static_cast<std::ptrdiff_t>(i) * array::kLanes;
    }
    // With IR drop, the linear model on the tile's rows of kLanes positions at a time; false where
    // its drop does not let it stand (auto's switch to feedback, or outside linear's range).
    const auto ir_tile = [&](const array::TilePlacement& p, int t, bool noise) {
        float drop = 0.0f;
        const std::ptrdiff_t* rows = off.data() + p.row_begin;
        for (int g = 0; g < P; g += array::kLanes) {
            const int n = std::min(array::kLanes, P - g);
            const float* values = panel_.data() + g;
            if (n < array::kLanes) {  // a last, partial group: its other lanes 0
                for (int i = 0; i < p.rows; ++i)
                    for (int j = 0; j < array::kLanes; ++j)
                        lanes_[static_cast<std::size_t>(i) * array::kLanes + j] = j < n ? values[rows[i] + j] : 0.0f;
                values = lanes_.data(), rows = lane_rows_.data();
            }
            drop = std::max(drop, layer.linear_lanes(t, values, rows, n, delta_.data() + g, noise ? sums_.data() + g : nullptr,
                                                     static_cast<std::size_t>(P)));
        }
        return layer.linear_lanes_stand(drop);
    };
    for (int i = 0; i < x.n(); ++i) {
        const float* img = x.image(i);
        float* out = acc.image(i);
        bool stands = true;
        for (int r = 0; stands && r < (signed_input_[s] ? 2 : 1); ++r) {
            // The read of x⁺ = max(x, 0), then for signed inputs of x⁻ = max(−x, 0), subtracted digitally.
            const float sign = r == 0 ? 1.0f : -1.0f;
            const std::uint64_t image_hash = hash_key(hash_key(noise_hash_[s], static_cast<std::uint64_t>(r)), first_image_ + static_cast<std::uint64_t>(i));
            for (std::size_t j = 0; j < per_image; ++j) image_[j] = std::max(sign * img[j], 0.0f);
            layer.check_codes(image_.data(), per_image);
            for (int b = 0; stands && b < planes; ++b) {
                if (planes == 1) {
                    shape.fill(image_.data(), panel_.data());
                } else {
                    for (std::size_t j = 0; j < per_image; ++j) plane_[j] = static_cast<float>((static_cast<int>(image_[j]) >> b) & 1);
                    shape.fill(plane_.data(), panel_.data());
                }
                for (std::size_t t = 0; stands && t < tiles.size(); ++t) {
                    const array::TilePlacement& p = tiles[t];
                    const int ti = static_cast<int>(t);
                    if (ir) {
                        if (!(stands = ir_tile(p, ti, layer.conversion_noise()))) break;
                        if (layer.conversion_noise())
                            layer.add_conversion_noise(ti, b, image_hash, 0, P, sums_.data(), 1, P, delta_.data(), 1, P);
                        layer.convert(ti, b, delta_.data(), P, 1, P, out, 1, P, sign, stats);
                        continue;
                    }
                    vectors.clear();
                    for (int j = 0; j < P; j += nn::kPanelAlign)
                        vectors.push_back({panel_.data() + j, delta_.data() + j, std::min(nn::kPanelAlign, P - j)});
                    nn::panel_gemm(packed_[s][t], p.outputs, p.rows, off.data() + p.row_begin, vectors, static_cast<std::size_t>(P),
                                   zero.data());
                    if (layer.conversion_noise()) {
                        const int sc = layer.sum_columns(ti);
                        vectors.clear();
                        for (int j = 0; j < P; j += nn::kPanelAlign)
                            vectors.push_back({panel_.data() + j, sums_.data() + j, std::min(nn::kPanelAlign, P - j)});
                        nn::panel_gemm(packed_sums_[s][t], sc, p.rows, off.data() + p.row_begin, vectors, static_cast<std::size_t>(P),
                                       zero.data());
                        layer.add_conversion_noise(ti, b, image_hash, 0, P, sums_.data(), 1, P, delta_.data(), 1, P);
                    }
                    layer.convert(static_cast<int>(t), b, delta_.data(), P, 1, P, out, 1, P, sign, stats);
                }
            }
        }
        if (!stands) {  // this image through forward(): auto's feedback or exact solver, or linear's range error
            analog_vectors(s, q, x, i, 1, acc);
            continue;
        }
        for (std::size_t o = 0; o < O; ++o) {
            const float bias = static_cast<float>(q.bias_q[o]);
            for (int j = 0; j < P; ++j) out[o * P + static_cast<std::size_t>(j)] += bias;
        }
    }
}

void ArrayMvm::analog(int slot, const nn::QNode& q, const Tensor& x, Tensor& acc) const {
    const auto s = static_cast<std::size_t>(slot);
    try {
        analog_layer(s, q, x, acc);
    } catch (const Error& e) {
        fail("layer ", names_[s], ": ", e.what());
    }
}

void ArrayMvm::analog_layer(std::size_t s, const nn::QNode& q, const Tensor& x, Tensor& acc) const {
    if (q.op == nn::QNode::Op::Conv && (array_.analog.ir == array::IrModel::none || (panel_ir_ && layers_[s].lanes_linear()))) {
        analog_panel(s, q, x, acc);
        return;
    }
    int P = 1;
    if (q.op == nn::QNode::Op::Linear) {
        acc.resize(x.n(), q.out_c);
    } else {
        const int oh = (x.h() + 2 * q.pad - q.k) / q.stride + 1, ow = (x.w() + 2 * q.pad - q.k) / q.stride + 1;
        acc.resize(x.n(), q.out_c, oh, ow);
        P = oh * ow;
    }
    // A few images at a time (about 1,024 input vectors), so that the patches stay small.
    const int per_call = std::max(1, std::min(x.n(), 1024 / P));
    for (int i0 = 0; i0 < x.n(); i0 += per_call) analog_vectors(s, q, x, i0, std::min(per_call, x.n() - i0), acc);
}

void ArrayMvm::analog_vectors(std::size_t s, const nn::QNode& q, const Tensor& x, int i0, int ni, Tensor& acc) const {
    const array::AnalogLayer& layer = layers_[s];
    const std::size_t O = static_cast<std::size_t>(q.out_c);
    int oh = 0, ow = 0;
    input_vectors(q, x, i0, ni, codes_, oh, ow);
    const int P = oh * ow;
    const int count = ni * P;
    out_.resize(static_cast<std::size_t>(count) * O);
    // The conversions of read r (x⁺: 0, x⁻: 1) of images first_image_ + i0 …, P positions each.
    auto key = [&](std::uint64_t r) {
        return array::ConversionKey{hash_key(noise_hash_[s], r), (first_image_ + static_cast<std::uint64_t>(i0)) * static_cast<std::uint64_t>(P), P};
    };
    if (!signed_input_[s]) {
        const array::ConversionKey k0 = key(0);
        layer.forward(codes_.data(), count, out_.data(), nullptr, &k0);
    } else {  // x⁺ then x⁻, subtracted digitally
        part_.resize(codes_.size()), neg_.resize(out_.size());
        for (std::size_t i = 0; i < part_.size(); ++i) part_[i] = std::max(codes_[i], 0.0f);
        const array::ConversionKey k0 = key(0), k1 = key(1);
        layer.forward(part_.data(), count, out_.data(), nullptr, &k0);
        for (std::size_t i = 0; i < part_.size(); ++i) part_[i] = std::max(-codes_[i], 0.0f);
        layer.forward(part_.data(), count, neg_.data(), nullptr, &k1);
        for (std::size_t i = 0; i < out_.size(); ++i) out_[i] -= neg_[i];
    }
    // [ni·P][O] → NCHW accumulator, plus the digital bias.
    for (int i = 0; i < ni; ++i)
        for (std::size_t o = 0; o < O; ++o) {
            float* dst = acc.image(i0 + i) + o * static_cast<std::size_t>(P);
            const float b = static_cast<float>(q.bias_q[o]);
            for (int p = 0; p < P; ++p) dst[p] = out_[(static_cast<std::size_t>(i) * P + p) * O + o] + b;
        }
}

}  // namespace flashmc::mc
