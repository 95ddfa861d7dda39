#include "flashmc/nn/model_file.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/nn/qat.hpp"

namespace flashmc::nn {

void save_model_file(const std::string& path, ModelFile& f) {
    if (is_quantized(f.model) && !f.quantized) f.quantized = export_quantized(f.model);
    h5::AtomicWrite w(path);
    auto& root = w.root();
    h5::stamp(root, kModelFiletype, kModelSchemaVersion);
    root.set_attr("arch", f.model.arch);
    root.set_attr("parameters", static_cast<std::int64_t>(f.model.parameter_count()));
    for (const auto& [k, v] : f.provenance) root.set_attr(k, v);
    f.model.save(root);
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
        f.model = Model::load(root);
        if (root.has("quantized")) f.quantized = QuantModel::load(root);
    } catch (const Error& e) {
        std::string msg = e.what();
        if (msg.rfind(path, 0) == 0) throw;
        fail(path, ": ", msg);
    }
    for (const char* k : {"command", "seed", "training", "dataset_sha256_test_batch", "train_images",
                          "test_accuracy_float_graph", "test_images", "test_accuracy_integer"})
        if (root.has_attr(k)) f.provenance[k] = root.attr_string(k);
    return f;
}

}  // namespace flashmc::nn
