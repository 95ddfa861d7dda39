#pragma once
// The model zoo, CIFAR-10 variants (32×32×3 input, 10 classes). docs/models.md documents each.
//  resnet20  He et al. 2016 (arXiv:1512.03385) §4.2: 3 stages × 3 basic blocks, 16-32-64
//            channels, option-A (parameter-free) shortcuts; ~0.27 M parameters.
//  resnet18  3×3 stem, 4 stages × 2 basic blocks of 64-128-256-512 channels, 1×1 projection
//            shortcuts; ~11.2 M parameters.
//  vgg16     Simonyan & Zisserman 2015 configuration D: 13 conv3×3 with BN, 5 max pools, then
//            3 FC (512-512-10) with dropout.
//  alexnet   Krizhevsky et al. 2012 topology (5 conv: 64-192-384-256-256, max pools after conv 1,
//            2 and 5, 3 FC) adapted to 32×32: 3×3 kernels at stride 1, BN after each conv,
//            FC 4096-1024-512-10 with dropout.
// Every conv/FC is followed (after BN) by an Activation, which becomes the 4-bit PACT quantizer in
// quantized models; the input passes an InputQuant (identity in FP32).
#include <string>
#include <vector>

#include "flashmc/nn/model.hpp"

namespace flashmc::nn {

struct ZooEntry {
    std::string name;
    std::string description;
};

const std::vector<ZooEntry>& zoo();
// Builds `name` with He-initialized weights from the seed. Throws Error for an unknown name.
Model build_model(const std::string& name, std::uint64_t seed);

}  // namespace flashmc::nn
