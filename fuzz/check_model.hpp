#pragma once
// What the model targets do with a file: load it as `flashmc eval` does and, when it loads, run one
// image through each graph (a model that loads must also run). Only flashmc::Error may come out.
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/nn/model_file.hpp"
#include "fuzz_util.hpp"

namespace flashmc::fuzz {

inline void check_model_file(const std::string& path) {
    static const std::vector<std::uint8_t> image = [] {
        std::vector<std::uint8_t> v(3072);
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 37);
        return v;
    }();
    try {
        nn::ModelFile f = nn::load_model_file(path);
        // (only models small enough to keep the fuzzer fast; the limits of a loadable one are far larger)
        if (!f.model.nodes.empty() && f.model.macs_per_image() <= 20'000'000) {  // (empty: a deployable file)
            Tensor x(1, f.model.input_shape[0], f.model.input_shape[1], f.model.input_shape[2]);
            for (std::size_t i = 0; i < x.size(); ++i) x.data[i] = static_cast<float>(image[i % image.size()]) / 64.0f - 2.0f;
            f.model.forward(x, nn::Context{});
        }
        if (f.quantized && f.quantized->macs_per_image() <= 20'000'000) {
            Tensor logits;
            f.quantized->forward(image.data(), 1, logits);
            (void)f.quantized->predict(image.data(), 1);
        }
    } catch (const Error&) {
        // the clean rejection of a bad file
    }
    require_no_open_hdf5_objects();
}

}  // namespace flashmc::fuzz
