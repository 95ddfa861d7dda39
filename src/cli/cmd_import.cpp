#include <cstdio>
#include <sstream>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/onnx_import.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc import NET.onnx --out NET.h5 [--input-scale S] [--mean R,G,B] [--std R,G,B]

Reads a CIFAR-10 classifier exported to ONNX (torch.onnx.export; README "Bring your own model") and
writes an FP32 flashmc model file, which eval, train --init (quantization-aware fine-tuning), map and
sweep take like any other. Input N x 3 x 32 x 32 float, output 10 logits. Operators: Conv (group 1),
Gemm, MatMul, BatchNormalization, Relu, Clip (min 0, no max), Add, MaxPool, AveragePool (no
padding), GlobalAveragePool, Flatten, Reshape (N, -1), Identity, Dropout, Constant; Sub/Add/Mul/Div
by constants on the graph input (its normalization). Anything else stops with an error naming the
node and operator.

What the ONNX graph input holds, per channel, from the pixel byte p (0..255):
  u = (p/S - mean)/std
  --input-scale S   (1)
  --mean R,G,B      (125.3,123.0,113.9: flashmc's own normalization, docs/model-format.md §2;
  --std R,G,B        63.0,62.1,66.7)   with --input-scale alone: mean 0, std 1
A torchvision model trained on ToTensor() + Normalize(m, s) takes --input-scale 255 --mean m --std s;
normalization ops exported inside the graph are read from it and come on top. flashmc feeds its own
normalized image; the exact per-channel affine to what the network expects is stored in the input
node (docs/model-format.md §4), applied before any padding. OUT is written atomically.)";

std::array<double, 3> triple(Args& a, const std::string& name, const std::array<double, 3>& fallback) {
    if (!a.has(name)) return fallback;
    std::array<double, 3> v{};
    std::stringstream ss(a.str(name, ""));
    std::string part;
    int k = 0;
    while (std::getline(ss, part, ',')) {
        if (k == 3) fail("import: --", name, " expects three comma-separated numbers (R,G,B)");
        try {
            std::size_t pos = 0;
            v[static_cast<std::size_t>(k)] = std::stod(part, &pos);
            if (pos != part.size()) throw std::invalid_argument(part);
        } catch (const std::exception&) {
            fail("import: --", name, " expects three comma-separated numbers (R,G,B), got '", abbreviate(part), "'");
        }
        ++k;
    }
    if (k != 3) fail("import: --", name, " expects three comma-separated numbers (R,G,B)");
    return v;
}

int run(Args& a) {
    const std::string out = a.required("out");
    nn::InputNormalization norm;
    if (a.has("input-scale")) {
        norm.scale = a.number("input-scale", 1.0);
        norm.mean = {0, 0, 0};
        norm.std = {1, 1, 1};
    }
    norm.mean = triple(a, "mean", norm.mean);
    norm.std = triple(a, "std", norm.std);
    a.finish(1);
    if (a.positional().size() != 1) fail("import: expects NET.onnx (see flashmc help import)");
    const std::string in = a.positional()[0];
    nn::OnnxImport r = nn::import_onnx(in, norm);
    nn::ModelFile f;
    f.model = std::move(r.model);
    char norm_text[256];
    std::snprintf(norm_text, sizeof norm_text, "input (p/%g - (%g,%g,%g))/(%g,%g,%g)", norm.scale, norm.mean[0], norm.mean[1],
                  norm.mean[2], norm.std[0], norm.std[1], norm.std[2]);
    f.provenance["command"] = a.command_line();
    f.provenance["training"] = "imported from ONNX (" + r.producer + ", opset " + std::to_string(r.opset) + "), " + norm_text;
    nn::save_model_file(out, f);
    std::printf("%s: %d ONNX nodes (%s, opset %ld) -> %zu flashmc nodes, %ld parameters, %.1f M MACs per image\n", in.c_str(),
                r.onnx_nodes, r.producer.c_str(), r.opset, f.model.nodes.size(), f.model.parameter_count(),
                static_cast<double>(f.model.macs_per_image()) / 1e6);
    std::printf("input affine on flashmc's normalized image: scale (%.7g, %.7g, %.7g), shift (%.7g, %.7g, %.7g)\n",
                r.input_scale[0], r.input_scale[1], r.input_scale[2], r.input_shift[0], r.input_shift[1], r.input_shift[2]);
    std::printf("%s: FP32 model '%s' written\n", out.c_str(), f.model.arch.c_str());
    return 0;
}

const Registration reg({"import", "read a CIFAR-10 classifier from ONNX into an FP32 flashmc model file", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
