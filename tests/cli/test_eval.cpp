// flashmc eval: the per-image predictions file, and the model format's independent
// re-implementation (scripts/check_model_format.py, written from docs/model-format.md) agreeing
// with it, so that the page and the code cannot drift apart silently.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {

struct Row {
    int index = 0, label = 0, prediction = 0;
    std::vector<float> logits;
};

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> f;
    std::stringstream s(line);
    for (std::string x; std::getline(s, x, ',');) f.push_back(x);
    return f;
}

// Reads a --predictions file, checking its header.
std::vector<Row> read_predictions(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    std::string line;
    REQUIRE(std::getline(in, line));
    REQUIRE(line == "index,label,prediction,logit0,logit1,logit2,logit3,logit4,logit5,logit6,logit7,logit8,logit9");
    std::vector<Row> rows;
    while (std::getline(in, line)) {
        const auto f = split(line);
        REQUIRE(f.size() == 13);
        Row r{std::stoi(f[0]), std::stoi(f[1]), std::stoi(f[2]), {}};
        for (std::size_t j = 3; j < f.size(); ++j) r.logits.push_back(std::strtof(f[j].c_str(), nullptr));
        rows.push_back(r);
    }
    return rows;
}

// The tiny zoo network with non-trivial batch-norm statistics (FP32), and its W4A4 version.
void write_tiny_models(const test::TempDir& dir) {
    nn::ModelFile fp;
    fp.model = nn::build_model("tiny", 3);
    Stream r = Streams(4).at({1});
    for (auto& n : fp.model.nodes)
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(n.layer.get()))
            for (int c = 0; c < bn->channels; ++c) {
                bn->gamma.data[c] = static_cast<float>(1 + 0.2 * r.normal());
                bn->beta.data[c] = static_cast<float>(0.1 * r.normal());
                bn->running_mean.data[c] = static_cast<float>(0.2 * r.normal());
                bn->running_var.data[c] = static_cast<float>(1 + 0.3 * std::abs(r.normal()));
            }
    nn::ModelFile q;
    q.model = fp.model;
    nn::save_model_file(dir / "fp.h5", fp);
    Tensor calib(16, 3, 32, 32);
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::prepare_qat(q.model, nn::parse_quant("w4a4"), calib);
    nn::save_model_file(dir / "q.h5", q);
}

// A python3 with numpy and h5py ("" if none): the Debian interpreter first, then the PATH's.
std::string python_with_h5py() {
    for (const char* py : {"/usr/bin/python3", "python3"})
        if (test::run_shell(std::string(py) + " -c 'import numpy, h5py'").code == 0) return py;
    return "";
}

}  // namespace

TEST_CASE("flashmc eval --predictions writes one row per image", "[cli][nn][eval]") {
    test::TempDir dir("eval");
    test::write_synthetic_cifar(dir / "data", 24);
    write_tiny_models(dir);
    const std::string data = " --data " + dir / "data";

    // Integer inference: the file holds exactly QuantModel::forward's logits and their argmax.
    auto out = run_cli("eval --model " + dir / "q.h5" + data + " --predictions " + dir / "sub/q.csv");
    INFO(out.output);
    REQUIRE(out.code == 0);
    REQUIRE_THAT(out.output, Catch::Contains("integer-only inference"));
    REQUIRE_THAT(out.output, Catch::Contains("predictions: "));
    const auto rows = read_predictions(dir / "sub/q.csv");
    for (const auto& e : std::filesystem::directory_iterator(dir / "sub")) REQUIRE(e.path().filename() == "q.csv");  // no temporary left
    const Cifar10 test_set = read_cifar10_test(dir / "data");
    REQUIRE(rows.size() == test_set.size());
    const nn::ModelFile q = nn::load_model_file(dir / "q.h5");
    Tensor logits;
    q.quantized->forward(test_set.image(0), static_cast<int>(test_set.size()), logits);
    long hits = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        REQUIRE(rows[i].index == static_cast<int>(i));
        REQUIRE(rows[i].label == test_set.labels[i]);
        const float* z = logits.image(static_cast<int>(i));
        for (int c = 0; c < 10; ++c) REQUIRE(rows[i].logits[static_cast<std::size_t>(c)] == z[c]);  // %.9g round-trips float32
        REQUIRE(rows[i].prediction == static_cast<int>(std::max_element(z, z + 10) - z));
        hits += rows[i].prediction == rows[i].label;
    }
    char acc[64];
    std::snprintf(acc, sizeof acc, "accuracy: %.2f%% on %zu", 100.0 * hits / rows.size(), rows.size());
    REQUIRE_THAT(out.output, Catch::Contains(acc));

    // The float graphs: --limit, FP32 and --float.
    for (const std::string m : {"fp.h5", "q.h5 --float --compare"}) {
        auto f = run_cli("eval --model " + dir / m + data + " --limit 10 --batch 4 --predictions " + dir / "f.csv");
        INFO(f.output);
        REQUIRE(f.code == 0);
        const auto fr = read_predictions(dir / "f.csv");
        REQUIRE(fr.size() == 10);
        for (const auto& r : fr) {
            REQUIRE(r.label == test_set.labels[static_cast<std::size_t>(r.index)]);
            REQUIRE(r.prediction == static_cast<int>(std::max_element(r.logits.begin(), r.logits.end()) - r.logits.begin()));
        }
    }

    // A file that cannot be written is an error that names it, and leaves nothing behind.
    std::ofstream(dir / "plain").put('x');
    auto bad = run_cli("eval --model " + dir / "q.h5" + data + " --predictions " + dir / "plain/p.csv");
    REQUIRE(bad.code == 1);
    REQUIRE_THAT(bad.output, Catch::Contains("plain/p.csv"));
    auto empty = run_cli("eval --model " + dir / "q.h5" + data + " --predictions ''");
    REQUIRE(empty.code == 1);
}

TEST_CASE("docs/model-format.md, re-implemented in Python, reproduces flashmc eval", "[cli][nn][eval][python]") {
    const std::string py = python_with_h5py();
    if (py.empty()) {
        WARN("skipped: no python3 with numpy and h5py (Debian: python3-numpy python3-h5py)");
        return;
    }
    test::TempDir dir("evalpy");
    test::write_synthetic_cifar(dir / "data", 40);
    write_tiny_models(dir);
    const std::string script = py + " " + test::source_dir() + "/scripts/check_model_format.py ";
    const std::string common = " --data " + dir / "data --limit 40 --flashmc " + FLASHMC_BINARY;
    // The integer model exactly, the fake-quantized graph and the --compare count.
    auto q = test::run_shell(script + dir / "q.h5 --mode both" + common);
    INFO(q.output);
    REQUIRE(q.code == 0);
    REQUIRE_THAT(q.output, Catch::Contains("integer model (/quantized): 40 images"));
    REQUIRE_THAT(q.output, Catch::Contains("predictions differing: 0;"));
    REQUIRE_THAT(q.output, !Catch::Contains("FAIL"));
    // The FP32 graph (batch norm, ReLU, max pool, option-A shortcut, global average pool).
    auto f = test::run_shell(script + dir / "fp.h5" + common);
    INFO(f.output);
    REQUIRE(f.code == 0);
    REQUIRE_THAT(f.output, Catch::Contains("FP32 graph (/model): 40 images"));
    REQUIRE_THAT(f.output, !Catch::Contains("FAIL"));
    // Converted files (flashmc convert): the integer model alone; the float graph in binary16.
    REQUIRE(run_cli("convert " + dir / "q.h5 " + dir / "qd.h5 --deployable").code == 0);
    REQUIRE(run_cli("convert " + dir / "fp.h5 " + dir / "fph.h5 --half").code == 0);
    auto d = test::run_shell(script + dir / "qd.h5" + common);
    INFO(d.output);
    REQUIRE(d.code == 0);
    REQUIRE_THAT(d.output, Catch::Contains("integer model (/quantized): 40 images") && Catch::Contains("predictions differing: 0;"));
    REQUIRE_THAT(d.output, !Catch::Contains("FAIL"));
    REQUIRE(test::run_shell(script + dir / "qd.h5 --mode float" + common).code == 2);
    auto h = test::run_shell(script + dir / "fph.h5" + common);
    INFO(h.output);
    REQUIRE(h.code == 0);
    REQUIRE_THAT(h.output, Catch::Contains("FP32 graph (/model): 40 images"));
    REQUIRE_THAT(h.output, !Catch::Contains("FAIL"));
}
