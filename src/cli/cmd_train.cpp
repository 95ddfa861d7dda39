#include <cmath>
#include <cstdio>
#include <memory>
#include <cstdlib>
#include <filesystem>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/mc/device_errors.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/trainer.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc train --model NAME --out FILE.h5 [options]

  --model NAME            zoo model (flashmc models): resnet20, resnet18, vgg16, alexnet, tiny
  --init FILE.h5          start from a trained model (e.g. the FP32 model for 4-bit fine-tuning, or
                          a quantized one, e.g. from flashmc quantize, to fine-tune it without --quant)
  --quant SPEC            quantization-aware training: w4a4 (default method of the paper),
                          w4a4-fl8 (first/last layers 8-bit), w4a4-pc (per-channel weight scales)
  --layer-bits NAME=N     per-layer bit width (repeatable): weight bits of conv/FC node NAME, or the
                          bits of activation/input node NAME (node names: flashmc models --layers MODEL)
  --device-aware FILE.toml
                          device-aware fine-tuning of a quantized --init model (repeatable): every
                          point of each sweep file is a condition (card, programming, variation,
                          retention, reads, read temperature, calibration, read noise); each step
                          draws one and replaces every analog weight by a sample of what chips
                          sampled by flashmc's device model realize for its code (README:
                          "Device-aware fine-tuning")
  --device-chips N        chips sampled per condition for the tables (4)
  --device-reads N        noisy reads per chip when the file has read noise (4)
  --device-samples N      samples kept per layer and code (4096)
  --epochs N              (30)          --batch N        (128)
  --lr X                  peak learning rate (0.1)
  --schedule S            onecycle | cosine (onecycle); --warmup-epochs X (1, cosine only)
  --momentum X            Nesterov momentum (0.9)      --weight-decay X (5e-4)
  --label-smoothing X     (0.1)         --seed N         (1)
  --train-limit N         use the first N training images (all)
  --test-limit N          evaluate on the first N test images (all)
  --data DIR              CIFAR-10 binary directory (data/cifar-10-batches-bin or $FLASHMC_DATA)
  --log FILE.csv          per-epoch log (default: FILE.h5 with .csv)
  --checkpoint FILE.h5    checkpoint path (default: ~/.cache/flashmc/checkpoints/<out name>.ckpt.h5)
  --checkpoint-every N    also checkpoint every N steps within an epoch (0: epoch ends only)
  --resume                continue from the checkpoint if it exists
  --stop-after-steps N    checkpoint and stop after N steps (testing interruption)
  --threads N             OpenMP threads
  --quiet                 no progress output)";

std::string default_checkpoint(const std::string& out) {
    const char* home = std::getenv("HOME");
    std::filesystem::path base = home && *home ? std::filesystem::path(home) / ".cache" : std::filesystem::temp_directory_path();
    return (base / "flashmc" / "checkpoints" / (std::filesystem::path(out).stem().string() + ".ckpt.h5")).string();
}

int run(Args& a) {
    nn::TrainConfig c;
    c.model = a.str("model", c.model);
    c.init_path = a.str("init", "");
    c.quant = a.str("quant", "");
    nn::QuantConfig overrides;
    for (const auto& lb : a.all("layer-bits")) nn::add_layer_bits(overrides, lb);
    c.layer_bits = overrides.layer_bits;
    c.epochs = static_cast<int>(a.integer("epochs", c.epochs));
    c.batch = static_cast<int>(a.integer("batch", c.batch));
    c.lr = a.number("lr", c.lr);
    c.schedule = a.str("schedule", c.schedule);
    c.warmup_epochs = a.number("warmup-epochs", c.warmup_epochs);
    c.momentum = a.number("momentum", c.momentum);
    c.weight_decay = a.number("weight-decay", c.weight_decay);
    c.label_smoothing = a.number("label-smoothing", c.label_smoothing);
    const long seed = a.integer("seed", 1), train_limit = a.integer("train-limit", 0), test_limit = a.integer("test-limit", 0);
    if (seed < 0 || train_limit < 0 || test_limit < 0)
        fail("train: --seed, --train-limit and --test-limit expect integers >= 0, got ", seed, ", ", train_limit, ", ", test_limit);
    c.seed = static_cast<std::uint64_t>(seed);
    c.train_limit = static_cast<std::size_t>(train_limit);
    c.test_limit = static_cast<std::size_t>(test_limit);
    c.data_dir = a.str("data", "");
    c.out = a.required("out");
    c.log_csv = a.str("log", std::filesystem::path(c.out).replace_extension(".csv").string());
    c.checkpoint = a.str("checkpoint", default_checkpoint(c.out));
    c.checkpoint_every_steps = a.integer("checkpoint-every", 0);
    c.resume = a.flag("resume");
    c.stop_after_steps = a.integer("stop-after-steps", 0);
    c.quiet = a.flag("quiet");
    const std::vector<std::string> device_files = a.all("device-aware");
    mc::DeviceErrorOptions dopt;
    dopt.chips = static_cast<int>(a.integer("device-chips", dopt.chips));
    dopt.reads = static_cast<int>(a.integer("device-reads", dopt.reads));
    dopt.max_samples = static_cast<std::size_t>(a.integer("device-samples", static_cast<long>(dopt.max_samples)));
    a.threads();
    a.finish();
    if (c.epochs < 1 || c.batch < 1 || c.lr <= 0 || c.momentum < 0 || c.momentum >= 1 || c.weight_decay < 0 ||
        c.label_smoothing < 0 || c.label_smoothing >= 1 || c.warmup_epochs < 0)
        fail("train: --epochs and --batch must be positive, --lr > 0, 0 <= --momentum < 1, --weight-decay >= 0, 0 <= --label-smoothing < 1, --warmup-epochs >= 0");
    if (c.init_path.empty() && !c.quant.empty())
        std::fprintf(stderr, "train: note: quantization-aware training from scratch; the paper's method fine-tunes an FP32 model (--init)\n");
    for (const auto& s : a.positional()) fail("train: unexpected argument '", s, "'");
    c.command_line = a.command_line();
    if (!device_files.empty()) {
        if (c.init_path.empty() || !c.quant.empty())
            fail("train: --device-aware fine-tunes a quantized model: give --init M_w4a4.h5 and no --quant");
        if (dopt.chips < 1 || dopt.chips > 1000 || dopt.reads < 1 || dopt.reads > 1000 ||
            dopt.max_samples < mc::kMinSamples || dopt.max_samples > (1u << 24))
            fail("train: --device-chips and --device-reads must be 1..1000, --device-samples ", mc::kMinSamples, "..", 1u << 24);
        nn::ModelFile init = nn::load_model_file(c.init_path);
        if (!init.quantized) fail("train: --device-aware: ", c.init_path, " is not a quantized model (fine-tune it with --quant first)");
        init.float_graph(c.init_path, "train --init");  // refuses a deployable file before the tables are sampled
        std::vector<mc::SweepSpec> specs;
        for (const auto& f : device_files) {
            specs.push_back(mc::load_sweep_spec(f));
            c.device_aware += (c.device_aware.empty() ? "" : "; ") + f + " (sha256 " + sha256_file(f).substr(0, 16) + ")";
        }
        c.device_aware += "; chips " + std::to_string(dopt.chips) + ", reads " + std::to_string(dopt.reads) + ", samples " + std::to_string(dopt.max_samples);
        auto tables = std::make_shared<nn::WeightErrors>(mc::device_error_tables(*init.quantized, specs, dopt));
        const auto summary = mc::code_error_summary(*tables);
        // Per condition, each code's mean error and RMS error (effective − code, in codes).
        for (std::size_t k = 0; k < tables->conditions.size(); ++k) {
            std::fprintf(stderr, "train: device condition %zu: %s (%zu layers)\n  code       ", k + 1, tables->conditions[k].c_str(),
                         tables->tables[k].size());
            const int q = static_cast<int>(summary[k].size() / 2);
            for (int code = -q; code <= q; ++code) std::fprintf(stderr, "%6d", code);
            for (int row = 0; row < 2; ++row) {
                std::fprintf(stderr, "\n  %-11s", row == 0 ? "mean error" : "RMS error");
                for (const auto& [mean, rms] : summary[k]) std::fprintf(stderr, "%6.2f", row == 0 ? mean : rms);
            }
            std::fprintf(stderr, "\n");
        }
        c.device_errors = std::move(tables);
    }
    std::fprintf(stderr, "train: %s%s%s, %d epochs, checkpoint %s\n", c.init_path.empty() ? c.model.c_str() : c.init_path.c_str(),
                 c.quant.empty() ? "" : " quantized ", c.quant.c_str(), c.epochs, c.checkpoint.c_str());
    double acc = nn::train(c);
    if (acc >= 0) std::printf("final test accuracy (training graph: float32, or fake-quantized for a quantized model): %.2f%%\nwrote %s and %s\n", 100 * acc, c.out.c_str(), c.log_csv.c_str());
    return 0;
}

const Registration reg({"train", "train a zoo model on CIFAR-10 (FP32 or 4-bit quantization-aware)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
