// Training, resume, quantization-aware training and integer inference, run as a user would.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <sstream>

#include "../test_util.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/trainer.hpp"
#include "flashmc/nn/quant_model.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {
std::string read_text(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
// The log without its last column (wall seconds).
std::string log_without_seconds(const std::string& p) {
    std::stringstream in(read_text(p));
    std::string line, out;
    while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
}
std::vector<float> all_weights(const std::string& path) {
    auto f = nn::load_model_file(path);
    std::vector<float> w;
    for (auto& p : f.model.params()) w.insert(w.end(), p.value->data.begin(), p.value->data.end());
    for (auto& n : f.model.nodes)
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(n.layer.get()))
            w.insert(w.end(), bn->running_var.data.begin(), bn->running_var.data.end());
    return w;
}
}  // namespace


TEST_CASE("a killed training run resumes bit-identically", "[nn][train][cli]") {
    test::TempDir dir("resume");
    test::write_synthetic_cifar(dir / "data", 120);
    const std::string common = "train --model tiny --epochs 2 --batch 40 --lr 0.05 --train-limit 400 --test-limit 100 --threads 2 --quiet --data " + dir / "data";
    auto a = run_cli(common + " --out " + dir / "a.h5 --checkpoint " + dir / "a.ckpt");
    REQUIRE(a.code == 0);
    // Interrupted mid-epoch 2 (step 13 of 20), then resumed.
    auto b1 = run_cli(common + " --out " + dir / "b.h5 --checkpoint " + dir / "b.ckpt --stop-after-steps 13");
    REQUIRE(b1.code == 0);
    REQUIRE_FALSE(std::filesystem::exists(dir / "b.h5"));
    auto b2 = run_cli(common + " --out " + dir / "b.h5 --checkpoint " + dir / "b.ckpt --resume");
    INFO(b2.output);
    REQUIRE(b2.code == 0);
    REQUIRE(all_weights(dir / "a.h5") == all_weights(dir / "b.h5"));
    REQUIRE(log_without_seconds(dir / "a.csv") == log_without_seconds(dir / "b.csv"));
    // A different setting is refused rather than silently mixed.
    auto c = run_cli(common + " --seed 2 --out " + dir / "b.h5 --checkpoint " + dir / "b.ckpt --resume");
    REQUIRE(c.code == 1);
    REQUIRE_THAT(c.output, Catch::Contains("different settings"));
    // An option given twice is an error, not a silent choice.
    auto d = run_cli(common + " --lr 0.07 --out " + dir / "c.h5");
    REQUIRE(d.code == 1);
    REQUIRE_THAT(d.output, Catch::Contains("--lr given more than once"));
}

TEST_CASE("folding batch norm preserves the inference function", "[nn][quant]") {
    nn::Model m = nn::build_model("tiny", 7);
    // Give BN non-trivial statistics.
    Stream r = Streams(2).at({1});
    for (auto& n : m.nodes)
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(n.layer.get()))
            for (int c = 0; c < bn->channels; ++c) {
                bn->gamma.data[c] = static_cast<float>(1 + 0.2 * r.normal());
                bn->beta.data[c] = static_cast<float>(0.1 * r.normal());
                bn->running_mean.data[c] = static_cast<float>(0.3 * r.normal());
                bn->running_var.data[c] = static_cast<float>(0.5 + r.uniform());
            }
    Tensor x(4, 3, 32, 32);
    for (auto& v : x.data) v = static_cast<float>(r.normal());
    nn::Context ctx;
    Tensor before = m.forward(x, ctx);
    nn::Model folded = m;
    REQUIRE(nn::fold_batchnorm(folded) == 3);  // stem and the two convs of the block
    Tensor after = folded.forward(x, ctx);
    for (std::size_t i = 0; i < before.size(); ++i) REQUIRE(after.data[i] == Approx(before.data[i]).margin(1e-4));
}

TEST_CASE("fixed-point multipliers round like the real product", "[nn][quant]") {
    Stream r = Streams(3).at({2});
    for (int t = 0; t < 2000; ++t) {
        const double real = std::exp(r.normal() * 4);
        const auto fm = nn::FixedMultiplier::from(real);
        const std::int64_t v = static_cast<std::int64_t>(r.normal() * 1e5);
        const double exact = static_cast<double>(v) * real;
        // |error| <= 0.5 plus the multiplier's relative precision 2^-31.
        REQUIRE(std::abs(static_cast<double>(fm.apply(v)) - exact) <= 0.5 + std::abs(exact) * 1e-9 + 1e-9);
    }
}

TEST_CASE("W4A4 fine-tune, export and integer-only inference agree with the training graph", "[nn][quant][cli]") {
    test::TempDir dir("qat");
    test::write_synthetic_cifar(dir / "data", 200);
    const std::string data = " --data " + dir / "data --threads 2 --quiet --test-limit 200";
    REQUIRE(run_cli("train --model tiny --epochs 3 --batch 50 --lr 0.05" + data + " --out " + dir / "fp.h5 --checkpoint " + dir / "fp.ckpt").code == 0);
    auto q = run_cli("train --init " + dir / "fp.h5 --quant w4a4 --epochs 1 --batch 50 --lr 0.01" + data + " --out " + dir / "q.h5 --checkpoint " + dir / "q.ckpt");
    INFO(q.output);
    REQUIRE(q.code == 0);
    auto f = nn::load_model_file(dir / "q.h5");
    REQUIRE(f.quantized.has_value());
    // Provenance holds the command as given.
    REQUIRE_THAT(f.provenance.at("command"), Catch::StartsWith("flashmc train --init " + dir / "fp.h5 --quant w4a4 --epochs 1"));
    // Every conv/FC has 4-bit codes; every activation is a 4-bit requantizer.
    for (const auto& n : f.quantized->nodes) {
        if (n.is_mvm()) {
            REQUIRE(n.weight_bits == 4);
            for (auto c : n.codes) REQUIRE(std::abs(int(c)) <= 7);
        }
        if (n.op == nn::QNode::Op::Requant) REQUIRE(n.bits == 4);
    }
    auto e = run_cli("eval --model " + dir / "q.h5 --compare --data " + dir / "data");
    INFO(e.output);
    REQUIRE(e.code == 0);
    REQUIRE_THAT(e.output, Catch::Contains("integer-only inference"));
    // The synthetic task is easy: the quantized model must have learned it.
    const auto pos = e.output.find("accuracy: ");
    REQUIRE(std::stod(e.output.substr(pos + 10)) > 60.0);
    const auto d = e.output.find("differing from integer inference: ");
    REQUIRE(std::stoi(e.output.substr(d + 34)) <= 4);  // of 200
    auto b = run_cli("eval --model " + dir / "q.h5 --batch 0 --data " + dir / "data");
    REQUIRE(b.code == 1);
    REQUIRE_THAT(b.output, Catch::Contains("--batch expects 1 to 100000 images, got 0"));
}

TEST_CASE("truncated, corrupted or inconsistent model files give one clear error", "[nn][cli]") {
    test::TempDir dir("badmodel");
    nn::ModelFile f;
    f.model = nn::build_model("tiny", 1);
    nn::save_model_file(dir / "m.h5", f);
    // Truncated.
    std::filesystem::copy_file(dir / "m.h5", dir / "t.h5");
    std::filesystem::resize_file(dir / "t.h5", std::filesystem::file_size(dir / "m.h5") / 2);
    auto t = run_cli("eval --model " + dir / "t.h5");
    REQUIRE(t.code == 1);
    REQUIRE_THAT(t.output, Catch::Contains("t.h5") && Catch::Contains("error"));
    // Not HDF5 at all.
    std::ofstream(dir / "x.h5") << "not a model";
    auto x = run_cli("eval --model " + dir / "x.h5");
    REQUIRE(x.code == 1);
    REQUIRE_THAT(x.output, Catch::Contains("not a flashmc HDF5 file"));
    // Layers that do not fit together: the FC's input size changed.
    h5::edit_file(dir / "m.h5", [](const h5::Group& root) {
        auto g = root.open("model");
        for (const auto& k : g.children())
            if (k.find("_fc") != std::string::npos) g.open(k).set_attr("in_features", 17);
    });
    auto m = run_cli("eval --model " + dir / "m.h5");
    REQUIRE(m.code == 1);
    REQUIRE_THAT(m.output, Catch::Contains("m.h5") && Catch::Contains("dataset 'weight' has shape"));
}

TEST_CASE("bit widths are configurable per layer and for first/last layers", "[nn][quant]") {
    Tensor calib(8, 3, 32, 32);
    Stream r = Streams(4).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    auto bits_of = [](nn::Model& m) {
        nn::QuantModel q = nn::export_quantized(m);
        std::map<std::string, int> b;
        for (auto& n : q.nodes) b[n.name] = n.is_mvm() ? n.weight_bits : n.bits;
        return b;
    };
    nn::Model a = nn::build_model("tiny", 1);
    nn::prepare_qat(a, nn::parse_quant("w4a4-fl8"), calib);
    auto ba = bits_of(a);
    REQUIRE(ba["conv1"] == 8);
    REQUIRE(ba["fc"] == 8);
    REQUIRE(ba["gap_act"] == 8);   // the last layer's input activation
    REQUIRE(ba["b1_conv1"] == 4);
    REQUIRE(ba["b1_act"] == 4);
    REQUIRE(ba["input"] == 8);
    nn::Model b = nn::build_model("tiny", 1);
    nn::QuantConfig q = nn::parse_quant("w4a4");
    q.layer_bits = {{"b1_conv2", 6}, {"b1_conv1_act", 3}};
    nn::prepare_qat(b, q, calib);
    auto bb = bits_of(b);
    REQUIRE(bb["b1_conv2"] == 6);
    REQUIRE(bb["b1_conv1_act"] == 3);
    REQUIRE(bb["conv1"] == 4);
    q.layer_bits = {{"nope", 4}};
    nn::Model c = nn::build_model("tiny", 1);
    REQUIRE_THROWS_WITH(nn::prepare_qat(c, q, calib), Catch::Contains("no quantizable node 'nope'"));
    REQUIRE_THROWS_WITH(nn::parse_quant("w4x4"), Catch::Contains("not understood"));
}

TEST_CASE("a corrupted training checkpoint stops --resume with one clear error", "[nn][train][cli]") {
    test::TempDir dir("badckpt");
    test::write_synthetic_cifar(dir / "data", 60);
    const std::string common = "train --model tiny --epochs 2 --batch 40 --lr 0.05 --train-limit 120 --test-limit 40 --threads 2 --quiet --data " +
                               dir / "data --out " + dir / "m.h5 --checkpoint " + dir / "c.ckpt";
    REQUIRE(run_cli(common + " --stop-after-steps 2").code == 0);
    auto resume_after = [&](const std::function<void(const h5::Group&)>& edit) {
        std::filesystem::copy_file(dir / "c.ckpt", dir / "e.ckpt", std::filesystem::copy_options::overwrite_existing);
        h5::edit_file(dir / "e.ckpt", edit);
        std::string args = common;
        args.replace(args.find(dir / "c.ckpt"), (dir / "c.ckpt").size(), dir / "e.ckpt");
        return run_cli(args + " --resume");
    };
    // A velocity of the wrong size was indexed as the parameter's: a heap overflow at the first step.
    auto v = resume_after([](const h5::Group& root) {
        const auto g = root.open("velocity");
        const std::string key = g.children().front();
        H5Ldelete(g.id(), key.c_str(), H5P_DEFAULT);
        g.write(key, std::vector<float>(3, 0.0f));
    });
    REQUIRE(v.code == 1);
    REQUIRE_THAT(v.output, Catch::Contains("e.ckpt/velocity: dataset '") && Catch::Contains("' has shape [3], expected"));
    // A position past the end of the epoch read images past the end of the data set.
    auto b = resume_after([](const h5::Group& root) { root.set_attr("batch", 1000000); });
    REQUIRE(b.code == 1);
    REQUIRE_THAT(b.output, Catch::Contains("checkpoint is at batch 1000000 of an epoch of 3 batches"));
    auto e = resume_after([](const h5::Group& root) { root.set_attr("epoch", -1); });
    REQUIRE_THAT(e.output, Catch::Contains("attribute 'epoch' = -1 is out of range [0, 2]"));
    auto f = resume_after([](const h5::Group& root) { root.set_attr("filetype", "flashmc.model"); });
    REQUIRE_THAT(f.output, Catch::Contains("e.ckpt: not a flashmc checkpoint"));
}

TEST_CASE("an SGD step never drives a PACT clip to zero or below", "[nn][train]") {
    // A W4A4 fine-tune from an under-trained model once drove conv1_act's alpha negative, and
    // export then failed. A step that overshoots lands on the floor instead.
    nn::Activation act(4, 0.5f);
    auto params = act.params();
    REQUIRE(params.size() == 1);
    params[0].grad->data[0] = 100.0f;  // lr·g = 10 >> alpha
    Tensor velocity;
    velocity.resize_like(*params[0].value);
    nn::sgd_step(params[0], velocity, 0.1, 0.9, 5e-4);
    CHECK(act.clip() == nn::Activation::kMinClip);
    // A parameter without a floor takes the full step (the floor is the only change).
    Tensor w, g, v;
    w.resize(1, 1), g.resize(1, 1), v.resize(1, 1);
    w.data[0] = 0.5f, g.data[0] = 100.0f;
    nn::sgd_step({"weight", &w, &g, false}, v, 0.1, 0.9, 0.0);
    CHECK(w.data[0] == Approx(0.5 - 0.1 * (100.0 + 0.9 * 100.0)));
}
