#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/atomic_file.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/data.hpp"
#include "flashmc/nn/model_file.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc eval --model FILE.h5 [--limit N] [--data DIR] [--float] [--compare] [--batch N]
             [--predictions FILE.csv]

Top-1 accuracy on the CIFAR-10 test set. A quantized model runs integer-only inference (integer
weight and activation codes, int32 accumulation, fixed-point requantization); an FP32 model runs
the float graph. The arithmetic of both is specified in docs/model-format.md, and
scripts/check_model_format.py re-implements it from that page alone.
  --limit N     the first N test images (all 10,000)
  --float       run the model's float (fake-quantized) graph instead of integer inference
  --compare     quantized models: also run the fake-quantized float graph and count the images
                whose prediction differs from integer inference
                (--float and --compare need the float graph, which a file written by
                `flashmc convert --deployable` does not hold)
  --predictions FILE.csv
                write one row per image: index,label,prediction,logit0,...,logit9 (the logits of
                the mode shown under "mode:", printed with %.9g so that each float32 round-trips;
                prediction = the index of the largest logit, the lowest index on a tie)
  --batch N     images per batch (500)
  --threads N   OpenMP threads)";

// Per-image results of one pass over the test set.
struct Outputs {
    std::vector<int> prediction;
    std::vector<float> logits;  // images × classes
    int classes = 0;
    long hits = 0;
};

// The first largest logit: the lowest class index wins a tie.
int argmax(const float* z, int classes) { return static_cast<int>(std::max_element(z, z + classes) - z); }

void record(Outputs& o, const Tensor& z, int n, const std::uint8_t* labels) {
    o.classes = z.c();
    for (int i = 0; i < n; ++i) {
        const float* r = z.image(i);
        const int p = argmax(r, z.c());
        o.prediction.push_back(p);
        o.hits += p == labels[i];
        o.logits.insert(o.logits.end(), r, r + z.c());
    }
}

// Integer-only inference, batch by batch.
Outputs run_integer(const nn::QuantModel& q, const Cifar10& test, int batch) {
    Outputs o;
    Tensor z;
    for (std::size_t b = 0; b < test.size(); b += static_cast<std::size_t>(batch)) {
        const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), test.size() - b));
        q.forward(test.image(b), n, z);
        record(o, z, n, test.labels.data() + b);
    }
    return o;
}

// The float graph (FP32, or fake-quantized for a quantized model) on normalized images, as
// nn::evaluate runs it.
Outputs run_float(nn::Model& m, const Cifar10& test, int batch) {
    Outputs o;
    std::vector<std::uint32_t> idx(test.size());
    std::iota(idx.begin(), idx.end(), 0u);
    Tensor x;
    std::vector<std::uint8_t> labels;
    Streams none(0);
    nn::Context ctx;
    for (std::size_t b = 0; b < test.size(); b += static_cast<std::size_t>(batch)) {
        const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), test.size() - b));
        nn::make_batch(test, {idx.data() + b, n, false, 0}, none, x, labels);
        record(o, m.forward(x, ctx), n, labels.data());
    }
    return o;
}

// Writes the per-image CSV atomically (io::AtomicFile: a temporary beside `path`, every write,
// the flush and the close checked, then renamed into place; on failure one Error and no file).
void write_predictions(const std::string& path, const Outputs& o, const Cifar10& test) {
    io::AtomicFile f(path);
    std::string line = "index,label,prediction";
    for (int c = 0; c < o.classes; ++c) line += ",logit" + std::to_string(c);
    f.write(line + "\n");
    char field[32];
    for (std::size_t i = 0; i < o.prediction.size(); ++i) {
        std::snprintf(field, sizeof field, "%zu,%d,%d", i, int(test.labels[i]), o.prediction[i]);
        line = field;
        const float* z = o.logits.data() + i * static_cast<std::size_t>(o.classes);
        for (int c = 0; c < o.classes; ++c) {
            std::snprintf(field, sizeof field, ",%.9g", static_cast<double>(z[c]));  // round-trips float32
            line += field;
        }
        f.write(line + "\n");
    }
    f.commit();
}

int run(Args& a) {
    const std::string path = a.required("model");
    const auto limit = static_cast<std::size_t>(a.integer("limit", 0));
    const std::string dir = a.str("data", default_cifar10_dir());
    const bool use_float = a.flag("float"), compare = a.flag("compare");
    const int batch = static_cast<int>(a.integer("batch", 500));
    const std::string predictions = a.str("predictions", "");
    a.threads();
    a.finish();
    if (batch < 1 || batch > 100000) fail("eval: --batch expects 1 to 100000 images, got ", batch);
    nn::ModelFile f = nn::load_model_file(path);
    if (use_float || compare) f.float_graph(path, use_float ? "eval --float" : "eval --compare");  // refuses a deployable file
    Cifar10 test = read_cifar10_test(dir, limit);
    auto t0 = std::chrono::steady_clock::now();
    const bool integer = f.quantized && !use_float;
    const Outputs out = integer ? run_integer(*f.quantized, test, batch) : run_float(f.model, test, batch);
    const double acc = test.size() ? static_cast<double>(out.hits) / static_cast<double>(test.size()) : 0.0;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("model:    %s (%s%s)\n", path.c_str(), (f.quantized ? f.quantized->arch : f.model.arch).c_str(),
                f.quantized ? ", quantized" : ", FP32");
    std::printf("mode:     %s\n", integer ? "integer-only inference" : (f.quantized ? "fake-quantized float graph" : "float32"));
    std::printf("accuracy: %.2f%% on %zu test images (%.1f s, %.0f images/s)\n", 100 * acc, test.size(), secs, test.size() / secs);
    if (compare && integer) {
        // The float graph's predictions, image by image.
        const Outputs fl = run_float(f.model, test, batch);
        long differ = 0;
        for (std::size_t i = 0; i < test.size(); ++i) differ += fl.prediction[i] != out.prediction[i];
        std::printf("fake-quantized graph: %.2f%%; predictions differing from integer inference: %ld of %zu\n",
                    100.0 * static_cast<double>(fl.hits) / static_cast<double>(test.size()), differ, test.size());
    }
    if (!predictions.empty()) {
        write_predictions(predictions, out, test);
        std::printf("predictions: %s (%zu images, %d logits each)\n", predictions.c_str(), test.size(), out.classes);
    }
    return 0;
}

const Registration reg({"eval", "evaluate a model on the CIFAR-10 test set (integer-only for quantized models)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
