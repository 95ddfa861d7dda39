#pragma once
// The model file (HDF5, filetype "flashmc.model"; schema in docs/model-format.md):
//   /            attributes: filetype, schema_version, flashmc_version, git_commit, created,
//                storage, and provenance (command, seed, dataset checksum, accuracies, ...)
//   /model       the trainable graph (float weights, quantizer state): for fine-tuning; absent
//                in a deployable file
//   /quantized   the deployable integer model (present for quantized models): for inference
#include <map>
#include <optional>
#include <string>

#include "flashmc/nn/model.hpp"
#include "flashmc/nn/quant_model.hpp"

namespace flashmc::nn {

inline constexpr const char* kModelFiletype = "flashmc.model";
// Version 1. Index-valued attributes (`inputs`, `input_shape`) are written as int64; earlier
// version-1 files hold them as float64, which the loader still reads (exact integers only). The
// compact storages below stay version 1: no version-1 reader misreads them (docs/model-format.md §3).
inline constexpr int kModelSchemaVersion = 1;

// How a model file stores its graphs (root attribute `storage`; absent in older files: float32).
//   Float32     /model's float datasets as float32 (what training writes)
//   Half        /model's float datasets as IEEE binary16, rounded to nearest even (half the size)
//   Scaled      /model's weight tensors to within a decimal step <= 1/256 of their largest
//               magnitude, packed by HDF5's scale-offset filter; its vectors in binary16
//               (h5::FloatStorage::Scaled; about 0.35 of float32)
//   Deployable  /quantized alone, without /model: the integer model, all that inference needs
enum class Storage { Float32, Half, Scaled, Deployable };
const char* storage_name(Storage s);

struct ModelFile {
    Model model;  // the float graph; empty (no nodes) when loaded from a deployable file
    std::optional<QuantModel> quantized;
    std::map<std::string, std::string> provenance;
    Storage storage = Storage::Float32;

    // The float graph, for `purpose` (an option or a command, for the message); throws Error
    // naming `path` when the file was deployable and holds only the integer model.
    Model& float_graph(const std::string& path, const std::string& purpose);
};

// Writes atomically, as f.storage says. A quantized (QAT) model gets its integer export in
// /quantized; a deployable file needs one.
void save_model_file(const std::string& path, ModelFile& f);
// Throws Error naming the file for a missing, truncated, corrupted or inconsistent model.
ModelFile load_model_file(const std::string& path);

}  // namespace flashmc::nn
