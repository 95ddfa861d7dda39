#pragma once
// Importing a trained CIFAR-10 classifier from ONNX (what torch.onnx.export and other frameworks
// write): the graph becomes a regular FP32 flashmc Model, which eval, train --init, map and sweep
// then take like any other. The protobuf is parsed by ONNX's own schema (libonnx_proto).
//
// Operators: Conv (group 1, square kernel, symmetric padding), Gemm, MatMul (+ Add of a constant
// bias), BatchNormalization, Relu, Clip(min 0, no max), Add, MaxPool and AveragePool (no padding),
// GlobalAveragePool, Flatten (axis 1), Reshape to (N, -1), Identity, Dropout, Constant, and Sub /
// Add / Mul / Div by per-channel constants on the graph input (the network's own normalization).
// Anything else is an Error naming the file, the node, its operator and this list.
//
// Input normalization. flashmc feeds every network x = (p − mean_f)/std_f (p the pixel byte,
// docs/model-format.md §2). The ONNX graph input is described by InputNormalization; its exported
// normalization ops (if any) follow. The composite per-channel affine x' = a·x + b from flashmc's
// input to what the first real layer expects becomes the input node's affine (InputQuant): exact,
// applied before any padding, and carried into the integer model's input lookup table.
#include <array>
#include <string>

#include "flashmc/nn/model.hpp"

namespace flashmc::nn {

// What the ONNX graph input holds: u[c] = (p/scale − mean[c]) / std[c], p the pixel byte 0..255.
// The default is flashmc's own normalization (the ONNX graph takes flashmc's input unchanged); a
// torchvision-style model trained on ToTensor() + Normalize(m, s) has scale 255, mean m, std s.
struct InputNormalization {
    double scale = 1.0;
    // flashmc's constants as the float32 values its input normalization uses (125.3f, ...), so that
    // the default gives exactly the identity.
    std::array<double, 3> mean{double{125.3f}, double{123.0f}, double{113.9f}};
    std::array<double, 3> std{double{63.0f}, double{62.1f}, double{66.7f}};
    void validate() const;  // scale and std positive and finite, mean finite
};

struct OnnxImport {
    Model model;                // FP32, arch "onnx:<file stem>"
    std::string producer;       // e.g. "pytorch 1.13.1"
    long opset = 0;
    int onnx_nodes = 0;         // nodes of the ONNX graph
    std::array<float, 3> input_scale{1, 1, 1}, input_shift{0, 0, 0};  // the input affine (identity if none)
};

// Reads and translates `path`. Throws Error naming the file (and the node, operator and supported
// list where a node is the cause) for a missing, malformed or unsupported model.
OnnxImport import_onnx(const std::string& path, const InputNormalization& norm = {});

// The operators import_onnx translates, as listed in its error messages.
const char* onnx_supported_ops();

}  // namespace flashmc::nn
