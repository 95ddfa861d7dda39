#pragma once
// Training: SGD with Nesterov momentum and weight decay, one-cycle or cosine learning rate,
// random crop + flip, label smoothing. Deterministic from the seed for a given thread count.
// Checkpoints (model, optimizer, position) are written atomically every epoch and every
// `checkpoint_every_steps` steps; resume continues bit-identically.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/model.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/weight_errors.hpp"

namespace flashmc::nn {

struct TrainConfig {
    std::string model = "resnet20";     // zoo name (ignored when init_path is set)
    std::string init_path;              // start from this model file (e.g. FP32 for QAT)
    std::string quant;                  // "" (FP32) or e.g. "w4a4"
    std::map<std::string, int> layer_bits;  // per-node bit overrides (quantized runs)
    int epochs = 30;
    int batch = 128;
    double lr = 0.1;                    // peak learning rate
    std::string schedule = "onecycle";  // onecycle | cosine
    double warmup_epochs = 1.0;         // cosine: linear warm-up
    double momentum = 0.9;
    double weight_decay = 5e-4;
    double label_smoothing = 0.1;
    std::uint64_t seed = 1;
    std::size_t train_limit = 0;        // 0: all 50,000
    std::size_t test_limit = 0;         // 0: all 10,000
    std::string data_dir;
    std::string out;                    // final model file (.h5)
    std::string log_csv;                // per-epoch log
    std::string checkpoint;             // checkpoint file path
    bool resume = false;
    long checkpoint_every_steps = 0;    // 0: only at epoch ends
    long stop_after_steps = 0;          // >0: stop (after checkpointing) at this global step; for tests
    // Device-aware fine-tuning (nn/weight_errors.hpp): chip tables per condition, made by the caller
    // from the device model (flashmc train --device-aware); null: none. Needs a quantized model
    // whose tabled layers carry the tables' names.
    std::shared_ptr<const WeightErrors> device_errors;
    std::string device_aware;           // what the tables were made from (provenance)
    std::string command_line;           // provenance
    bool quiet = false;
};

double learning_rate(const TrainConfig& c, long step, long total_steps, long steps_per_epoch);

// One SGD step with Nesterov momentum (Sutskever et al. 2013, PyTorch form) on one parameter:
// g += wd·w (when p.decay); v = μv + g; w -= lr·(g + μv); then w = max(w, p.min_value).
void sgd_step(const Param& p, Tensor& velocity, double lr, double momentum, double weight_decay);

// Top-1 accuracy of the float (or fake-quantized) graph on `data`.
double evaluate(Model& m, const Cifar10& data, int batch = 250);

// Runs the training; returns the final test accuracy (float graph).
double train(const TrainConfig& c);

}  // namespace flashmc::nn
