#pragma once
// What the ONNX targets do with a file: import it as `flashmc import` does and, when it imports, run
// one image through the model (a model that imports must also run). With FLASHMC_FUZZ_ONNX_SAVE=1
// the model is first written and read back as a model file, as `flashmc import` then `eval` do (about
// ten times slower: libhdf5 creates a file per input). Only flashmc::Error may come out of the import;
// an imported model that fails later is a finding too.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/onnx_import.hpp"
#include "fuzz_util.hpp"

namespace flashmc::fuzz {

inline void check_onnx_file(const std::string& path) {
    nn::OnnxImport r;
    try {
        r = nn::import_onnx(path);
    } catch (const Error&) {
        return;  // the clean rejection of a bad file
    }
    static const bool save = std::getenv("FLASHMC_FUZZ_ONNX_SAVE") && std::string(std::getenv("FLASHMC_FUZZ_ONNX_SAVE")) == "1";
    try {
        nn::ModelFile g;
        g.model = std::move(r.model);
        if (save) {
            g.provenance["training"] = "imported from ONNX (" + r.producer + ", opset " + std::to_string(r.opset) + ")";
            const std::string h5 = (scratch() / "imported.h5").string();
            nn::save_model_file(h5, g);
            g = nn::load_model_file(h5);
            require_no_open_hdf5_objects();
        }
        if (g.model.macs_per_image() <= 20'000'000) {
            Tensor x(1, 3, 32, 32);
            for (std::size_t i = 0; i < x.size(); ++i) x.data[i] = static_cast<float>((i * 37) % 256) / 64.0f - 2.0f;
            const Tensor y = g.model.forward(x, nn::Context{});
            if (y.size() != 10) std::abort();
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "fuzz: an imported model does not save, load or run: %s\n", e.what());
        std::abort();
    }
}

}  // namespace flashmc::fuzz
