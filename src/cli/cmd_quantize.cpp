#include <cstdio>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/data.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc quantize --model FP32.h5 --out W4A4.h5 [options]

Post-training quantization: the paper's W4A4 format without training. BatchNorm is folded into the
conv/FC layers, every weight threshold is set to its MSE-optimal value, every activation clip to
its MSE-optimal value on calibration images from the training set (the steps `train --quant` takes
before fine-tuning); then, layer by layer, each bias is corrected for the mean shift that quantizing the layer's weights causes on the
calibration images (empirical bias correction, Nagel et al. 2019). OUT holds the float graph and the integer model: `eval`, `map` and `sweep` run
it; `train --init OUT ...` (without --quant) fine-tunes it by QAT when the loss is too large;
`convert --deployable` keeps only the integer model.

  --quant SPEC          w4a4 (default), w4a4-fl8, w4a4-pc, ... (as flashmc train --quant)
  --layer-bits NAME=N   per-node bit width (repeatable; as flashmc train)
  --calib-images N      training images the clips are calibrated on (500; 1 to 50000)
  --no-bias-correction  skip the bias correction
  --seed N              which calibration images: a fixed permutation of the training set (1)
  --test-limit N        measure the integer model on the first N test images (all; 0: all)
  --data DIR            CIFAR-10 binary directory (data/cifar-10-batches-bin or $FLASHMC_DATA)
  --threads N           OpenMP threads)";

int run(Args& a) {
    const std::string in = a.required("model"), out = a.required("out");
    nn::QuantConfig q = nn::parse_quant(a.str("quant", "w4a4"));
    for (const auto& lb : a.all("layer-bits")) nn::add_layer_bits(q, lb);
    const long calib = a.integer("calib-images", 500);
    const auto seed = static_cast<std::uint64_t>(a.integer("seed", 1));
    const auto test_limit = static_cast<std::size_t>(a.integer("test-limit", 0));
    const std::string dir = a.str("data", default_cifar10_dir());
    const bool bias_correction = !a.flag("no-bias-correction");
    a.threads();
    a.finish();
    if (calib < 1 || calib > 50000) fail("quantize: --calib-images expects 1 to 50000, got ", calib);

    nn::ModelFile f = nn::load_model_file(in);
    nn::Model& m = f.float_graph(in, "quantize");
    if (nn::is_quantized(m)) fail("quantize: ", in, " is already quantized");
    const Cifar10 train = read_cifar10_train(dir, 0);
    const Tensor images = nn::calibration_batch(train, static_cast<std::size_t>(calib), seed);
    nn::prepare_qat(m, q, images);
    if (bias_correction) nn::correct_bias(m, images);

    nn::ModelFile o;
    o.model = std::move(m);
    o.provenance = f.provenance;  // the FP32 model's training, kept; this step's own below
    for (const char* k : {"test_accuracy_float_graph", "test_images"}) o.provenance.erase(k);
    o.provenance["command"] = a.command_line();
    o.provenance["quantization"] = "post-training " + q.describe() + ", " + std::to_string(calib) + " calibration images, seed " + std::to_string(seed) +
                                     (bias_correction ? ", bias correction" : "");
    o.provenance["source_model_sha256"] = h5::content_sha256(in);
    o.quantized = nn::export_quantized(o.model);
    const Cifar10 test = read_cifar10_test(dir, test_limit);
    long hits = 0;
    for (std::size_t b = 0; b < test.size(); b += 500) {
        const int n = static_cast<int>(std::min<std::size_t>(500, test.size() - b));
        const std::vector<int> p = o.quantized->predict(test.image(b), n);
        for (int i = 0; i < n; ++i) hits += p[static_cast<std::size_t>(i)] == test.labels[b + static_cast<std::size_t>(i)];
    }
    const double acc = test.size() ? static_cast<double>(hits) / static_cast<double>(test.size()) : 0.0;
    char text[32];
    std::snprintf(text, sizeof text, "%.6f", acc);
    o.provenance["test_accuracy_integer"] = text;
    o.provenance["test_images"] = std::to_string(test.size());
    o.provenance["dataset_sha256_test_batch"] = sha256_file(dir + "/test_batch.bin");
    nn::save_model_file(out, o);
    std::printf("quantized %s: %s, post-training, %ld calibration images%s\n", in.c_str(), q.describe().c_str(), calib,
                bias_correction ? ", bias correction" : "");
    std::printf("integer-only accuracy: %.2f%% on %zu test images\nwrote %s\n", 100 * acc, test.size(), out.c_str());
    return 0;
}

const Registration reg({"quantize", "post-training 4-bit quantization of an FP32 model (no training)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
