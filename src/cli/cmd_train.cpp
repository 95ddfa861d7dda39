#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "command.hpp"
#include "flashmc/core/error.hpp"
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
    c.seed = static_cast<std::uint64_t>(a.integer("seed", 1));
    c.train_limit = static_cast<std::size_t>(a.integer("train-limit", 0));
    c.test_limit = static_cast<std::size_t>(a.integer("test-limit", 0));
    c.data_dir = a.str("data", "");
    c.out = a.required("out");
    c.log_csv = a.str("log", std::filesystem::path(c.out).replace_extension(".csv").string());
    c.checkpoint = a.str("checkpoint", default_checkpoint(c.out));
    c.checkpoint_every_steps = a.integer("checkpoint-every", 0);
    c.resume = a.flag("resume");
    c.stop_after_steps = a.integer("stop-after-steps", 0);
    c.quiet = a.flag("quiet");
    a.threads();
    a.finish();
    if (c.epochs < 1 || c.batch < 1 || c.lr <= 0 || c.momentum < 0 || c.momentum >= 1 || c.weight_decay < 0 ||
        c.label_smoothing < 0 || c.label_smoothing >= 1)
        fail("train: --epochs and --batch must be positive, --lr > 0, 0 <= --momentum < 1, --weight-decay >= 0, 0 <= --label-smoothing < 1");
    if (c.init_path.empty() && !c.quant.empty())
        std::fprintf(stderr, "train: note: quantization-aware training from scratch; the paper's method fine-tunes an FP32 model (--init)\n");
    for (const auto& s : a.positional()) fail("train: unexpected argument '", s, "'");
    c.command_line = a.command_line();
    std::fprintf(stderr, "train: %s%s%s, %d epochs, checkpoint %s\n", c.init_path.empty() ? c.model.c_str() : c.init_path.c_str(),
                 c.quant.empty() ? "" : " quantized ", c.quant.c_str(), c.epochs, c.checkpoint.c_str());
    double acc = nn::train(c);
    if (acc >= 0) std::printf("final test accuracy (training graph: float32, or fake-quantized for a quantized model): %.2f%%\nwrote %s and %s\n", 100 * acc, c.out.c_str(), c.log_csv.c_str());
    return 0;
}

const Registration reg({"train", "train a zoo model on CIFAR-10 (FP32 or 4-bit quantization-aware)", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
