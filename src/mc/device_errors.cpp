#include "flashmc/mc/device_errors.hpp"

#include <cmath>
#include <sstream>

#include "flashmc/core/error.hpp"
#include "flashmc/mc/chip.hpp"

namespace flashmc::mc {

namespace {

std::string describe(const SweepSpec& spec, long point) {
    std::ostringstream os;
    os << spec.name;
    const auto values = spec.point_values(point);
    for (std::size_t a = 0; a < spec.axes.size(); ++a) os << (a ? ", " : ": ") << spec.axes[a].name << "=" << values[a];
    return os.str();
}

// Thins a pool to at most n samples, evenly strided (deterministic).
std::vector<float> thin(const std::vector<float>& pool, std::size_t n) {
    if (pool.size() <= n) return pool;
    std::vector<float> out(n);
    for (std::size_t j = 0; j < n; ++j) out[j] = pool[j * pool.size() / n];
    return out;
}

}  // namespace

nn::WeightErrors device_error_tables(const nn::QuantModel& model, const std::vector<SweepSpec>& specs,
                                     const DeviceErrorOptions& o) {
    if (o.chips < 1 || o.reads < 1 || o.max_samples < kMinSamples)
        fail("device-aware tables: chips and reads must be >= 1, max_samples >= ", kMinSamples);
    nn::WeightErrors e;
    for (const SweepSpec& spec : specs) {
        const std::vector<int> analog = analog_nodes(model, spec.analog_layers);
        const std::uint64_t seed = hash_keys(spec.seed, {kTrainingChipsKey});
        for (long p = 0; p < spec.points(); ++p) {
            const device::Card card = spec.point_card(p);
            const ChipSettings chip = spec.point_chip(p);
            ArraySettings array = spec.point_array(p);
            const bool noisy = array.read_noise == ReadNoise::per_batch;
            array.read_noise = ReadNoise::off;
            if (!array.is_static())
                fail(spec.source, ": point ", p, " (", describe(spec, p), ") sets IR drop, ADC errors or conversion noise, which are "
                     "not per-weight errors; device-aware tables take the device, [chip] and array.read_noise settings only "
                     "(remove array.r_bl_ohm/r_sl_ohm, array.adc_bits and array.read_window_s from this file)");
            // pools[layer][code + Q]
            std::vector<std::vector<std::vector<float>>> pools(analog.size());
            int qmax = 0;
            for (int c = 0; c < o.chips; ++c) {
                const Chip sampled = sample_chip(model, analog, card, chip, array.analog.mapping, seed, p, c);
                for (std::size_t l = 0; l < analog.size(); ++l) {
                    const nn::QNode& node = model.nodes[static_cast<std::size_t>(analog[l])];
                    const int q = (1 << (node.weight_bits - 1)) - 1;
                    qmax = std::max(qmax, q);
                    pools[l].resize(static_cast<std::size_t>(2 * q + 1));
                    for (int r = 0; r < (noisy ? o.reads : 1); ++r) {
                        const FloatVec w = effective_weights(sampled.layers[l], card, chip, noisy ? device::Noise::on : device::Noise::off,
                                                             static_cast<std::uint64_t>(r) + 1);
                        for (std::size_t j = 0; j < w.size(); ++j)
                            pools[l][static_cast<std::size_t>(node.codes[j] + q)].push_back(w[j]);
                    }
                }
            }
            // Every layer's samples of each code, for topping up rare codes.
            std::vector<std::vector<float>> all(static_cast<std::size_t>(2 * qmax + 1));
            for (std::size_t l = 0; l < analog.size(); ++l) {
                const int q = static_cast<int>(pools[l].size() / 2);
                for (int k = -q; k <= q; ++k) {
                    const auto t = thin(pools[l][static_cast<std::size_t>(k + q)], o.max_samples);
                    auto& a = all[static_cast<std::size_t>(k + qmax)];
                    a.insert(a.end(), t.begin(), t.end());
                }
            }
            std::map<std::string, nn::CodeTable> tables;
            for (std::size_t l = 0; l < analog.size(); ++l) {
                const int q = static_cast<int>(pools[l].size() / 2);
                nn::CodeTable t;
                t.qmax = q;
                for (int k = -q; k <= q; ++k) {
                    std::vector<float> s = thin(pools[l][static_cast<std::size_t>(k + q)], o.max_samples);
                    const auto& a = all[static_cast<std::size_t>(k + qmax)];
                    if (s.size() < kMinSamples && !a.empty()) {
                        const std::vector<float> extra = thin(a, kMinSamples - s.size());
                        s.insert(s.end(), extra.begin(), extra.end());
                    }
                    if (s.empty()) s.push_back(static_cast<float>(k));
                    t.samples.push_back(std::move(s));
                }
                tables[model.nodes[static_cast<std::size_t>(analog[l])].name] = std::move(t);
            }
            e.conditions.push_back(describe(spec, p));
            e.tables.push_back(std::move(tables));
        }
    }
    if (e.conditions.empty()) fail("device-aware tables: no conditions (no sweep file given)");
    return e;
}

std::vector<std::vector<std::pair<double, double>>> code_error_summary(const nn::WeightErrors& e) {
    std::vector<std::vector<std::pair<double, double>>> out;
    for (const auto& tables : e.tables) {
        int qmax = 0;
        for (const auto& [name, t] : tables) qmax = std::max(qmax, t.qmax);
        std::vector<double> sum(static_cast<std::size_t>(2 * qmax + 1)), sum2(sum.size()), n(sum.size());
        for (const auto& [name, t] : tables)
            for (int k = -t.qmax; k <= t.qmax; ++k)
                for (float v : t.samples[static_cast<std::size_t>(k + t.qmax)]) {
                    const std::size_t i = static_cast<std::size_t>(k + qmax);
                    sum[i] += v - k, sum2[i] += (v - k) * (v - k), n[i] += 1;
                }
        std::vector<std::pair<double, double>> row;
        for (std::size_t i = 0; i < sum.size(); ++i)
            row.emplace_back(n[i] ? sum[i] / n[i] : NAN, n[i] ? std::sqrt(sum2[i] / n[i]) : NAN);
        out.push_back(std::move(row));
    }
    return out;
}

}  // namespace flashmc::mc
