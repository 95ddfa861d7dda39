#pragma once
// From CIFAR-10 bytes to normalized NCHW batches: x = (pixel - mean_c) / std_c, optionally with
// the standard augmentation (random crop from the image zero-padded by 4, random horizontal flip),
// drawn from the stream (seed, epoch, image index): the same for any thread count.
#include <cstdint>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/core/tensor.hpp"
#include "flashmc/io/cifar10.hpp"

namespace flashmc::nn {

struct BatchSpec {
    const std::uint32_t* indices;  // dataset indices of the batch
    int count;
    bool augment = false;
    std::uint64_t epoch = 0;
};

void make_batch(const Cifar10& data, const BatchSpec& spec, const Streams& streams, Tensor& x,
                std::vector<std::uint8_t>& labels);

// A permutation of [0, n) for the epoch (Fisher-Yates on the stream (seed, epoch)).
std::vector<std::uint32_t> epoch_order(std::size_t n, const Streams& streams, std::uint64_t epoch);

// The calibration images of quantization (QAT's initial clips, post-training quantization): the
// first n of a fixed permutation of the training set (stream seed ^ 0xCA11B), normalized, not
// augmented. n is capped at the set's size.
Tensor calibration_batch(const Cifar10& train, std::size_t n, std::uint64_t seed);

// Largest |normalized pixel| over the dataset statistics: the input quantizer's range.
float input_range();

}  // namespace flashmc::nn
