#include <cstdio>
#include <filesystem>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/nn/model_file.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc convert IN.h5 OUT.h5 [--half | --scaled | --deployable]

Rewrites a model file in a compact form (docs/model-format.md §3). Every dataset of 4 KiB or more
is stored compressed (deflate, after shuffle for floats and lossless bit packing for integers:
4-bit weight codes in 4 bits), whatever the options, so that a plain `convert IN OUT` compresses a
file written before compression. IN must hold the float graph (/model).
  --half         store the float graph's datasets as IEEE half precision (binary16), each value
                 rounded to the nearest half (ties to even): half the size; the float graph then
                 computes with the rounded weights (`flashmc eval` on it measures the change)
  --scaled       smaller still (about 0.7 of --half): each weight tensor kept to within a decimal
                 step of at most 1/256 of its largest magnitude, packed by HDF5's scale-offset filter
                 (any HDF5 reader returns the rounded float32 values); biases, batch-norm and
                 quantizer vectors in half precision. For FP32 baselines too large for --half
  --deployable   quantized models: keep only the integer model (/quantized), which is all that
                 `eval`, `map` and `sweep` run; `eval --float`, `eval --compare` and
                 `train --init` need the full file
The provenance (training command, seed, dataset checksum, accuracies) is carried over; the root
attribute `storage` records the form (float32, half, scaled or deployable). OUT is written atomically.)";

int run(Args& a) {
    const bool half = a.flag("half"), scaled = a.flag("scaled"), deployable = a.flag("deployable");
    a.finish(2);
    if (a.positional().size() != 2) fail("convert: expects IN.h5 and OUT.h5 (see flashmc help convert)");
    const std::string in = a.positional()[0], out = a.positional()[1];
    if (int(half) + int(scaled) + int(deployable) > 1)
        fail("convert: --half, --scaled and --deployable exclude each other (one storage per file; a deployable file holds no float graph)");
    nn::ModelFile f = nn::load_model_file(in);
    f.float_graph(in, "convert");
    if (deployable && !f.quantized) fail(in, ": an FP32 model; --deployable keeps the integer model of a quantized one");
    f.storage = half ? nn::Storage::Half : scaled ? nn::Storage::Scaled : deployable ? nn::Storage::Deployable : nn::Storage::Float32;
    const double in_mb = static_cast<double>(std::filesystem::file_size(in)) / 1e6;
    nn::save_model_file(out, f);
    std::printf("%s: %s, %.2f MB (%s: %.2f MB)\n", out.c_str(), nn::storage_name(f.storage),
                static_cast<double>(std::filesystem::file_size(out)) / 1e6, in.c_str(), in_mb);
    return 0;
}

const Registration reg({"convert", "rewrite a model file compactly: half-precision or scaled float graph, or the integer model alone", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
