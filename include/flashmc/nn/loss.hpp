#pragma once
// Softmax cross-entropy with label smoothing (Szegedy et al. 2016): the target puts 1 - eps on the
// label and eps/K on every class. Returns the mean loss over the batch; dlogits (if given) gets
// d(mean loss)/d(logits) = (softmax - target) / N; `correct` counts top-1 hits.
#include <cstdint>

#include "flashmc/core/tensor.hpp"

namespace flashmc::nn {

double softmax_cross_entropy(const Tensor& logits, const std::uint8_t* labels, float smoothing,
                             Tensor* dlogits, int* correct);

}  // namespace flashmc::nn
