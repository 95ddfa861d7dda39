#include "flashmc/nn/loss.hpp"

#include <algorithm>
#include <cmath>

namespace flashmc::nn {

double softmax_cross_entropy(const Tensor& logits, const std::uint8_t* labels, float smoothing,
                             Tensor* dlogits, int* correct) {
    const int n = logits.n(), k = static_cast<int>(logits.per_image());
    if (dlogits) dlogits->resize_like(logits);
    double total = 0.0;
    int hits = 0;
    for (int i = 0; i < n; ++i) {
        const float* z = logits.image(i);
        const float mx = *std::max_element(z, z + k);
        double sum = 0.0;
        for (int j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j] - mx));
        const double lse = mx + std::log(sum);
        const int argmax = static_cast<int>(std::max_element(z, z + k) - z);
        hits += argmax == labels[i];
        for (int j = 0; j < k; ++j) {
            const double target = (j == labels[i] ? 1.0 - smoothing : 0.0) + smoothing / k;
            total -= target * (z[j] - lse);
            if (dlogits) dlogits->image(i)[j] = static_cast<float>((std::exp(z[j] - lse) - target) / n);
        }
    }
    if (correct) *correct = hits;
    return total / n;
}

}  // namespace flashmc::nn
