#include "flashmc/nn/model_file.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/nn/qat.hpp"

namespace flashmc::nn {

const char* storage_name(Storage s) {
    switch (s) {
        case Storage::Float32: return "float32";
        case Storage::Half: return "half";
        case Storage::Scaled: return "scaled";
        case Storage::Deployable: return "deployable";
    }
    return "?";
}

namespace {
Storage read_storage(const h5::Group& root, const std::string& path) {
    if (!root.has_attr("storage")) return Storage::Float32;  // written before the attribute
    const std::string s = root.attr_string("storage");
    for (Storage k : {Storage::Float32, Storage::Half, Storage::Scaled, Storage::Deployable})
        if (s == storage_name(k)) return k;
    fail(path, ": attribute 'storage' = '", abbreviate(s), "' is not one of float32, half, scaled, deployable");
}
}  // namespace

Model& ModelFile::float_graph(const std::string& path, const std::string& purpose) {
    if (storage == Storage::Deployable)
        fail(path, ": a deployable file: it holds only the integer model (/quantized), not the float graph (/model) that ",
             purpose, " needs; use the full model file it was converted from");
    return model;
}

void save_model_file(const std::string& path, ModelFile& f) {
    // The float graph gives the root's arch and parameters, even when it is not written.
    if (f.model.nodes.empty()) fail(path, ": no float graph to save (a deployable file is converted from the full model)");
    if (is_quantized(f.model) && !f.quantized) f.quantized = export_quantized(f.model);
    if (f.storage == Storage::Deployable && !f.quantized) fail(path, ": an FP32 model has no integer model to deploy alone");
    h5::AtomicWrite w(path);
    auto& root = w.root();
    h5::stamp(root, kModelFiletype, kModelSchemaVersion);
    root.set_attr("arch", f.model.arch);
    root.set_attr("parameters", static_cast<std::int64_t>(f.model.parameter_count()));
    root.set_attr("storage", storage_name(f.storage));
    for (const auto& [k, v] : f.provenance) root.set_attr(k, v);
    if (f.storage != Storage::Deployable)
        f.model.save(root, f.storage == Storage::Half     ? h5::FloatStorage::Half
                           : f.storage == Storage::Scaled ? h5::FloatStorage::Scaled
                                                          : h5::FloatStorage::Float32);
    if (f.quantized) f.quantized->save(root);
    w.commit();
}

ModelFile load_model_file(const std::string& path) {
    auto root = h5::open_read(path);
    if (!root.has_attr("filetype") || root.attr_string("filetype") != kModelFiletype)
        fail(path, ": not a flashmc model file (filetype attribute missing or different)");
    ModelFile f;
    try {
        const auto version = root.attr_int("schema_version");
        if (version != kModelSchemaVersion)
            fail(path, ": model schema version ", version, " is not supported (this flashmc reads version ", kModelSchemaVersion, ")");
        f.storage = read_storage(root, path);
        if (f.storage == Storage::Deployable) {
            if (root.has("model")) fail(path, ": storage is 'deployable', but the file holds a float graph (/model)");
            if (!root.has("quantized")) fail(path, ": storage is 'deployable', but the file holds no integer model (/quantized)");
        } else {
            f.model = Model::load(root);
        }
        if (root.has("quantized")) f.quantized = QuantModel::load(root);
    } catch (const Error& e) {
        std::string msg = e.what();
        if (msg.rfind(path, 0) == 0) throw;
        fail(path, ": ", msg);
    }
    for (const char* k : {"command", "seed", "training", "dataset_sha256_test_batch", "train_images",
                          "test_accuracy_float_graph", "test_images", "test_accuracy_integer", "quantization",
                          "source_model_sha256", "device_aware"})
        if (root.has_attr(k)) f.provenance[k] = root.attr_string(k);
    return f;
}

}  // namespace flashmc::nn
