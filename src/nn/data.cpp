#include "flashmc/nn/data.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace flashmc::nn {

void make_batch(const Cifar10& data, const BatchSpec& spec, const Streams& streams, Tensor& x,
                std::vector<std::uint8_t>& labels) {
    x.resize(spec.count, 3, 32, 32);
    labels.resize(static_cast<std::size_t>(spec.count));
    float lut[3][256];
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) - kCifarMean[c]) / kCifarStd[c];
#pragma omp parallel for schedule(static)
    for (int i = 0; i < spec.count; ++i) {
        const std::uint32_t idx = spec.indices[i];
        labels[static_cast<std::size_t>(i)] = data.labels[idx];
        const std::uint8_t* img = data.image(idx);
        float* out = x.image(i);
        int dx = 0, dy = 0;
        bool flip = false;
        if (spec.augment) {
            Stream rng = streams.at({0xA06, spec.epoch, idx});
            dx = static_cast<int>(rng.below(9)) - 4;
            dy = static_cast<int>(rng.below(9)) - 4;
            flip = rng.below(2) == 1;
        }
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int xx = 0; xx < 32; ++xx) {
                    const int sy = y + dy, sx0 = xx + dx;
                    const int sx = flip ? 31 - sx0 : sx0;
                    float v = 0.0f;  // padding: zero in normalized space (the mean pixel)
                    if (sy >= 0 && sy < 32 && sx0 >= 0 && sx0 < 32) v = lut[c][img[c * 1024 + sy * 32 + sx]];
                    out[c * 1024 + y * 32 + xx] = v;
                }
    }
}

std::vector<std::uint32_t> epoch_order(std::size_t n, const Streams& streams, std::uint64_t epoch) {
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    Stream rng = streams.at({0x5F1, epoch});
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    return order;
}

Tensor calibration_batch(const Cifar10& train, std::size_t n, std::uint64_t seed) {
    const std::vector<std::uint32_t> order = epoch_order(train.size(), Streams(seed ^ 0xCA11B), 0);
    Tensor x;
    std::vector<std::uint8_t> labels;
    make_batch(train, {order.data(), static_cast<int>(std::min(n, train.size())), false, 0}, Streams(seed), x, labels);
    return x;
}

float input_range() {
    float r = 0.0f;
    for (int c = 0; c < 3; ++c)
        r = std::max({r, kCifarMean[c] / kCifarStd[c], (255.0f - kCifarMean[c]) / kCifarStd[c]});
    return r;
}

}  // namespace flashmc::nn
