#pragma once
// The model file (HDF5, filetype "flashmc.model"; schema in docs/model-format.md):
//   /            attributes: filetype, schema_version, flashmc_version, git_commit, created, and
//                provenance (command, seed, dataset checksum, accuracies, ...)
//   /model       the trainable graph (float weights, quantizer state): for fine-tuning
//   /quantized   the deployable integer model (present for quantized models): for inference
#include <map>
#include <optional>
#include <string>

#include "flashmc/nn/model.hpp"
#include "flashmc/nn/quant_model.hpp"

namespace flashmc::nn {

inline constexpr const char* kModelFiletype = "flashmc.model";
// Version 1. Index-valued attributes (`inputs`, `input_shape`) are written as int64; earlier
// version-1 files hold them as float64, which the loader still reads (exact integers only).
inline constexpr int kModelSchemaVersion = 1;

struct ModelFile {
    Model model;
    std::optional<QuantModel> quantized;
    std::map<std::string, std::string> provenance;
};

// Writes atomically. A quantized (QAT) model gets its integer export in /quantized.
void save_model_file(const std::string& path, ModelFile& f);
// Throws Error naming the file for a missing, truncated, corrupted or inconsistent model.
ModelFile load_model_file(const std::string& path);

}  // namespace flashmc::nn
