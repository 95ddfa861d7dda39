#include <chrono>
#include <cstdio>
#include <numeric>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/data.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/trainer.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc eval --model FILE.h5 [--limit N] [--data DIR] [--float] [--compare] [--batch N]

Top-1 accuracy on the CIFAR-10 test set. A quantized model runs integer-only inference (integer
weight and activation codes, int32 accumulation, fixed-point requantization); an FP32 model runs
the float graph.
  --limit N     the first N test images (all 10,000)
  --float       run the model's float (fake-quantized) graph instead of integer inference
  --compare     quantized models: also run the fake-quantized float graph and count the images
                whose prediction differs from integer inference
  --batch N     images per batch (500)
  --threads N   OpenMP threads)";

int run(Args& a) {
    const std::string path = a.required("model");
    const auto limit = static_cast<std::size_t>(a.integer("limit", 0));
    const std::string dir = a.str("data", default_cifar10_dir());
    const bool use_float = a.flag("float"), compare = a.flag("compare");
    const int batch = static_cast<int>(a.integer("batch", 500));
    a.threads();
    a.finish();
    if (batch < 1 || batch > 100000) fail("eval: --batch expects 1 to 100000 images, got ", batch);
    nn::ModelFile f = nn::load_model_file(path);
    Cifar10 test = read_cifar10_test(dir, limit);
    auto t0 = std::chrono::steady_clock::now();
    double acc = 0;
    std::vector<int> int_pred;
    const bool integer = f.quantized && !use_float;
    if (integer) {
        long hits = 0;
        for (std::size_t b = 0; b < test.size(); b += static_cast<std::size_t>(batch)) {
            const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), test.size() - b));
            auto p = f.quantized->predict(test.image(b), n);
            for (int i = 0; i < n; ++i) hits += p[static_cast<std::size_t>(i)] == test.labels[b + static_cast<std::size_t>(i)];
            int_pred.insert(int_pred.end(), p.begin(), p.end());
        }
        acc = static_cast<double>(hits) / static_cast<double>(test.size());
    } else {
        acc = nn::evaluate(f.model, test, batch);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("model:    %s (%s%s)\n", path.c_str(), f.model.arch.c_str(), f.quantized ? ", quantized" : ", FP32");
    std::printf("mode:     %s\n", integer ? "integer-only inference" : (f.quantized ? "fake-quantized float graph" : "float32"));
    std::printf("accuracy: %.2f%% on %zu test images (%.1f s, %.0f images/s)\n", 100 * acc, test.size(), secs, test.size() / secs);
    if (compare && integer) {
        // The float graph's predictions, image by image.
        std::vector<std::uint32_t> idx(test.size());
        std::iota(idx.begin(), idx.end(), 0u);
        long differ = 0, float_hits = 0;
        Tensor x;
        std::vector<std::uint8_t> labels;
        Streams none(0);
        nn::Context ctx;
        for (std::size_t b = 0; b < test.size(); b += static_cast<std::size_t>(batch)) {
            const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), test.size() - b));
            nn::make_batch(test, {idx.data() + b, n, false, 0}, none, x, labels);
            const Tensor& z = f.model.forward(x, ctx);
            for (int i = 0; i < n; ++i) {
                const float* r = z.image(i);
                const int p = static_cast<int>(std::max_element(r, r + z.c()) - r);
                differ += p != int_pred[b + static_cast<std::size_t>(i)];
                float_hits += p == labels[static_cast<std::size_t>(i)];
            }
        }
        std::printf("fake-quantized graph: %.2f%%; predictions differing from integer inference: %ld of %zu\n",
                    100.0 * float_hits / test.size(), differ, test.size());
    }
    return 0;
}

const Registration reg({"eval", "evaluate a model on the CIFAR-10 test set (integer-only for quantized models)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
