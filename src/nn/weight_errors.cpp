#include "flashmc/nn/weight_errors.hpp"

#include <cmath>
#include <string_view>

#include "flashmc/core/error.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/nn/quantizer.hpp"

namespace flashmc::nn {

std::string WeightErrors::fingerprint() const {
    std::string bytes;
    auto add = [&](const void* p, std::size_t n) { bytes.append(static_cast<const char*>(p), n); };
    for (std::size_t c = 0; c < conditions.size(); ++c) {
        bytes += conditions[c] + '\n';
        for (const auto& [name, t] : tables.at(c)) {
            bytes += name + '\n';
            add(&t.qmax, sizeof t.qmax);
            for (const auto& s : t.samples) {
                const std::uint64_t n = s.size();
                add(&n, sizeof n);
                add(s.data(), s.size() * sizeof(float));
            }
        }
    }
    return sha256_hex(bytes.data(), bytes.size());
}

int draw_condition(const Streams& streams, std::uint64_t step, std::size_t n) {
    if (n == 0) fail("device-aware training: no conditions");
    return n == 1 ? 0 : static_cast<int>(streams.at({kConditionKey, step}).below(n));
}

void draw_weights(const CodeTable& t, const std::vector<float>& scales, int out_c, std::size_t row, Stream& rng, float* wq) {
    if (t.samples.size() != static_cast<std::size_t>(2 * t.qmax + 1)) fail("draw_weights: table of ", t.samples.size(), " codes for qmax ", t.qmax);
    for (int c = 0; c < out_c; ++c) {
        const float s = scales[static_cast<std::size_t>(c)];
        float* w = wq + static_cast<std::size_t>(c) * row;
        for (std::size_t i = 0; i < row; ++i) {
            const float k = round_half_away(w[i] / s);
            if (!(std::abs(k) <= static_cast<float>(t.qmax)))
                fail("device-aware training: weight code ", k, " outside the table's ±", t.qmax, " (the chip tables were made for another bit width)");
            const auto& pool = t.samples[static_cast<std::size_t>(static_cast<int>(k) + t.qmax)];
            w[i] = s * pool[pool.size() == 1 ? 0 : rng.below(pool.size())];
        }
    }
}

}  // namespace flashmc::nn
