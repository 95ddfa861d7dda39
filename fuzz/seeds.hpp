#pragma once
// Valid files of each HDF5 kind, written by flashmc itself: the bases the structure-aware targets
// edit, and (through make_corpus.cpp) the seed corpus of the raw targets.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/sweep.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"

namespace flashmc::fuzz {

// The tiny zoo network in `dir`: FP32, W4A4 (float graph and integer export), and the W4A4 file with
// its index attributes stored as float64, as model files were written before they became int64.
// Returns the three paths.
inline std::vector<std::string> write_model_seeds(const std::filesystem::path& dir) {
    const std::string fp32 = (dir / "fp32_tiny.h5").string(), w4a4 = (dir / "w4a4_tiny.h5").string(),
                      legacy = (dir / "w4a4_tiny_float_indices.h5").string();
    nn::ModelFile fp;
    fp.model = nn::build_model("tiny", 1);
    nn::save_model_file(fp32, fp);
    Tensor calib(8, 3, 32, 32);
    Stream r = Streams(3).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::ModelFile q;
    q.model = nn::build_model("tiny", 1);
    nn::prepare_qat(q.model, nn::parse_quant("w4a4"), calib);
    nn::save_model_file(w4a4, q);
    std::filesystem::copy_file(w4a4, legacy, std::filesystem::copy_options::overwrite_existing);
    h5::edit_file(legacy, [](const h5::Group& root) {
        for (const char* group : {"model", "quantized"}) {
            const auto g = root.open(group);
            if (g.has_attr("input_shape")) g.set_attr("input_shape", g.attr_doubles("input_shape"));
            for (const auto& key : g.children()) {
                const auto n = g.open(key);
                n.set_attr("inputs", n.attr_doubles("inputs"));
            }
        }
    });
    return {fp32, w4a4, legacy};
}

// A sweep of 2 points × 2 chips × 5 images with one analog layer; the last unit not done.
inline mc::SweepResults tiny_sweep_results() {
    mc::SweepResults r;
    r.source = "sweep.toml", r.sweep_text = "[sweep]\n", r.card_text = "[card]\n", r.name = "seed";
    r.seed = 7;
    r.spec_accuracy = 0.5;
    r.adaptive_ci_half_width = NAN;
    r.trials = 2, r.points = 2, r.capacity = 2, r.images = 5;
    r.axes = {{"sigma", "device.variation.sigma_vth_v", "values", {0.0, 0.02}}};
    r.point_values = {0.0, 0.02};
    r.layer_names = {"fc"};
    r.layer_nodes = {9};
    r.labels = {1, 2, 3, 4, 5};
    r.ideal_predictions = {1, 2, 3, 4, 0};
    r.done = {1, 1, 1, 0};
    r.accuracy = {0.8, 0.6, 0.4, NAN};
    r.predictions = {1, 2, 3, 4, 0, 1, 2, 3, 0, 0, 1, 2, 0, 0, 0, -1, -1, -1, -1, -1};
    r.layer_error = {0.01, 0.02, 0.03, NAN};
    r.stream_keys = {11, 12, 13, 0};
    r.unit_seconds = {0.1, 0.1, 0.1, NAN};
    return r;
}

// tiny_sweep_results() written into `dir`; returns the path.
inline std::string write_result_seed(const std::filesystem::path& dir) {
    const mc::SweepResults r = tiny_sweep_results();
    const std::string path = (dir / "tiny.h5").string();
    mc::write_results(path, r);
    return path;
}

}  // namespace flashmc::fuzz
