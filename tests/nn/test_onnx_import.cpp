// ONNX import: the committed fixture (tests/data/onnx, written by scripts/make_onnx_fixture.py with
// PyTorch) reproduces PyTorch's logits; unsupported and malformed models stop with one clear error;
// an imported model goes through import, eval and quantization-aware training from the command
// line; and the generator itself, where python3-torch is installed.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "flashmc/core/error.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/data.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/onnx_import.hpp"
#include "../test_util.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {

std::string fixture(const std::string& f) { return test::source_dir() + "/tests/data/onnx/" + f; }

// The fixture's graph input is p/255 (torchvision's ToTensor; its Normalize is inside the graph).
nn::InputNormalization pixels_over_255() {
    nn::InputNormalization n;
    n.scale = 255;
    n.mean = {0, 0, 0};
    n.std = {1, 1, 1};
    return n;
}

struct Expected {
    std::vector<int> labels;
    std::vector<std::vector<float>> logits;
};

Expected read_logits(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    Expected e;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream s(line);
        int index = 0, label = 0;
        s >> index >> label;
        REQUIRE(index == static_cast<int>(e.labels.size()));
        std::vector<float> l(10);
        for (auto& v : l) s >> v;
        REQUIRE(s);
        e.labels.push_back(label);
        e.logits.push_back(l);
    }
    return e;
}

// flashmc's FP32 logits of `m` on the images of a CIFAR-10 file.
Tensor logits_of(nn::Model& m, const std::string& images) {
    const Cifar10 data = read_cifar10_file(images);
    std::vector<std::uint32_t> idx(data.size());
    for (std::uint32_t i = 0; i < idx.size(); ++i) idx[i] = i;
    Tensor x;
    std::vector<std::uint8_t> labels;
    nn::make_batch(data, {idx.data(), static_cast<int>(idx.size())}, Streams(1), x, labels);
    return m.forward(x, nn::Context{});
}

// Each logit within 1e-4 of PyTorch's, relative to the image's largest |logit|.
void require_logits_match(const Tensor& got, const Expected& e) {
    REQUIRE(got.n() == static_cast<int>(e.logits.size()));
    REQUIRE(got.c() == 10);
    for (int i = 0; i < got.n(); ++i) {
        float scale = 0;
        for (float v : e.logits[static_cast<std::size_t>(i)]) scale = std::max(scale, std::abs(v));
        for (int c = 0; c < 10; ++c) {
            INFO("image " << i << " logit " << c);
            REQUIRE(std::abs(got.image(i)[c] - e.logits[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)]) <= 1e-4f * scale);
        }
    }
}

onnx::ModelProto load_fixture() {
    std::ifstream in(fixture("net.onnx"), std::ios::binary);
    onnx::ModelProto mp;
    REQUIRE(mp.ParseFromIstream(&in));
    return mp;
}

// The error import_onnx gives for `mp` written to a file (empty if none).
std::string import_error(const onnx::ModelProto& mp, const test::TempDir& dir, const nn::InputNormalization& n = pixels_over_255()) {
    const std::string path = dir / "edited.onnx";
    {
        std::ofstream out(path, std::ios::binary);
        REQUIRE(mp.SerializeToOstream(&out));
    }
    try {
        nn::import_onnx(path, n);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

onnx::NodeProto* find_node(onnx::ModelProto& mp, const std::string& op) {
    for (auto& n : *mp.mutable_graph()->mutable_node())
        if (n.op_type() == op) return &n;
    FAIL("fixture has no " << op << " node");
    return nullptr;
}

}  // namespace

TEST_CASE("ONNX import reproduces PyTorch's logits on the fixture", "[nn][onnx]") {
    nn::OnnxImport r = nn::import_onnx(fixture("net.onnx"), pixels_over_255());
    nn::Model& m = r.model;
    REQUIRE(m.arch == "onnx:net");
    REQUIRE(r.opset == 13);
    // The graph's own Sub/Div normalization on p/255 becomes the input node's affine: close to
    // identity (torchvision's CIFAR statistics are flashmc's to 3 digits) but not equal to it.
    auto* in = dynamic_cast<nn::InputQuant*>(m.nodes[0].layer.get());
    REQUIRE(in != nullptr);
    REQUIRE(in->has_affine());
    for (std::size_t c = 0; c < 3; ++c) {
        REQUIRE(in->affine_scale[c] == Approx(kCifarStd[c] / 255.0 / std::array{0.2470, 0.2435, 0.2616}[c]).epsilon(1e-6));
        REQUIRE(in->affine_scale[c] != 1.0f);
    }
    std::map<std::string, int> kinds;
    for (const auto& n : m.nodes) ++kinds[n.layer->kind()];
    REQUIRE(kinds["conv2d"] == 5);
    REQUIRE(kinds["add"] == 1);
    REQUIRE(kinds["batchnorm"] == 1);
    REQUIRE(kinds["maxpool"] == 1);
    REQUIRE(kinds["avgpool"] == 1);
    REQUIRE(kinds["global_avgpool"] == 1);
    REQUIRE(kinds["linear"] == 2);

    const Expected e = read_logits(fixture("logits.txt"));
    REQUIRE(e.logits.size() == 4);
    require_logits_match(logits_of(m, fixture("images.bin")), e);

    // Saved and loaded as a regular model file: the same logits, bit for bit.
    test::TempDir dir("onnx-roundtrip");
    nn::ModelFile f;
    f.model = m;
    nn::save_model_file(dir / "net.h5", f);
    nn::ModelFile g = nn::load_model_file(dir / "net.h5");
    const Tensor a = logits_of(m, fixture("images.bin")), b = logits_of(g.model, fixture("images.bin"));
    REQUIRE(std::equal(a.data.begin(), a.data.end(), b.data.begin()));

    // Without the input description the network sees another input: the logits differ.
    nn::OnnxImport plain = nn::import_onnx(fixture("net.onnx"));
    const Tensor wrong = logits_of(plain.model, fixture("images.bin"));
    REQUIRE(std::abs(wrong.image(0)[1] - e.logits[0][1]) > 1e-3f);
}

TEST_CASE("ONNX import refuses unsupported and malformed models with one clear error", "[nn][onnx]") {
    test::TempDir dir("onnx-errors");
    const std::string supported = "Conv (group 1), Gemm, MatMul";

    SECTION("an unsupported operator names the node, the operator and the supported list") {
        auto mp = load_fixture();
        onnx::NodeProto* relu = find_node(mp, "Relu");
        relu->set_op_type("Sigmoid");
        const std::string err = import_error(mp, dir);
        REQUIRE_THAT(err, Catch::Contains("edited.onnx: node '" + relu->name() + "' (Sigmoid): operator not supported"));
        REQUIRE_THAT(err, Catch::Contains(supported));
    }
    SECTION("a grouped convolution") {
        auto mp = load_fixture();
        onnx::NodeProto* conv = nullptr;
        for (auto& n : *mp.mutable_graph()->mutable_node())
            if (n.name() == "/conv2/Conv") conv = &n;
        REQUIRE(conv != nullptr);
        onnx::AttributeProto* g = nullptr;
        for (auto& a : *conv->mutable_attribute())
            if (a.name() == "group") g = &a;  // torch writes group = 1
        if (!g) g = conv->add_attribute();
        g->set_name("group");
        g->set_type(onnx::AttributeProto::INT);
        g->set_i(2);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("node '/conv2/Conv' (Conv): grouped convolution (group = 2) is not supported"));
    }
    SECTION("ReLU6 (Clip with a max)") {
        auto mp = load_fixture();
        onnx::NodeProto* clip = find_node(mp, "Clip");
        onnx::TensorProto* six = mp.mutable_graph()->add_initializer();
        six->set_name("six");
        six->set_data_type(onnx::TensorProto::FLOAT);
        six->add_float_data(6.0f);
        while (clip->input_size() < 3) clip->add_input("");
        clip->set_input(2, "six");
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("(Clip): Clip(min 0.000000, max 6.000000) is not supported"));
    }
    SECTION("a wrong input shape") {
        auto mp = load_fixture();
        mp.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(2)->set_dim_value(64);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("input 'input' has shape [batch, 3, 64, 32]; flashmc imports CIFAR-10 classifiers, N x 3 x 32 x 32"));
    }
    SECTION("a weight whose data does not match its shape") {
        auto mp = load_fixture();
        for (auto& t : *mp.mutable_graph()->mutable_initializer())
            if (t.name() == "conv2.weight") t.mutable_raw_data()->resize(10);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("initializer 'conv2.weight': 10 bytes of data for 324 float32 values"));
    }
    SECTION("an opset outside the supported range") {
        auto mp = load_fixture();
        mp.mutable_opset_import(0)->set_version(7);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("ONNX opset 7; flashmc imports opsets 9 to 17"));
    }
    SECTION("truncated, garbage, empty and missing files") {
        std::ifstream in(fixture("net.onnx"), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (std::size_t cut : {bytes.size() / 2, bytes.size() - 7, std::size_t{3}, std::size_t{0}}) {
            std::ofstream(dir / "cut.onnx", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
            INFO("cut at " << cut);
            REQUIRE_THROWS_WITH(nn::import_onnx(dir / "cut.onnx"), Catch::StartsWith(dir / "cut.onnx: not an ONNX model"));
        }
        std::ofstream(dir / "text.onnx") << "this is not a protobuf, just some text\n";
        REQUIRE_THROWS_WITH(nn::import_onnx(dir / "text.onnx"), Catch::StartsWith(dir / "text.onnx: not an ONNX model"));
        REQUIRE_THROWS_WITH(nn::import_onnx(fixture("images.bin")), Catch::Contains("images.bin: not an ONNX model"));
        REQUIRE_THROWS_WITH(nn::import_onnx(dir / "absent.onnx"), Catch::Contains("absent.onnx: cannot open"));
    }
}

// Findings of the ONNX fuzz targets (fuzz/README.md) and the checks written with them: each edited
// model is one clear Error, never a crash, undefined behaviour or a huge allocation.
TEST_CASE("ONNX import refuses absurd shapes, values and attributes before using them", "[nn][onnx][fuzz]") {
    test::TempDir dir("onnx-fuzz");
    auto initializer = [](onnx::ModelProto& mp, const std::string& name) -> onnx::TensorProto& {
        for (auto& t : *mp.mutable_graph()->mutable_initializer())
            if (t.name() == name) return t;
        FAIL("fixture has no initializer " << name);
        return *mp.mutable_graph()->mutable_initializer(0);
    };
    SECTION("dims claiming 1e12 values are refused before anything is allocated") {
        auto mp = load_fixture();
        auto& t = initializer(mp, "conv2.weight");
        t.clear_dims();
        for (std::int64_t d : {1'000'000, 1'000'000}) t.add_dims(d);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("initializer 'conv2.weight' has shape [1000000, 1000000]: more than the limit of 268435456 values"));
        t.clear_dims();
        for (std::int64_t d : {std::int64_t{1} << 62, std::int64_t{1} << 62, std::int64_t{4}}) t.add_dims(d);  // the product overflows int64
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("more than the limit of 268435456 values"));
    }
    SECTION("a negative dimension, and hundreds of dimensions") {
        auto mp = load_fixture();
        auto& t = initializer(mp, "conv2.weight");
        t.set_dims(1, -6);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("initializer 'conv2.weight' has a negative dimension -6"));
        t.clear_dims();
        t.add_dims(0);
        for (int i = 0; i < 300; ++i) t.add_dims(std::int64_t{1} << 62);  // 0 x (2^62)^300: no NaN element count
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("initializer 'conv2.weight' has 301 dimensions; flashmc reads tensors of up to 64"));
    }
    SECTION("float data whose count differs from the dims") {
        auto mp = load_fixture();
        auto& t = initializer(mp, "conv2.bias");
        t.clear_raw_data();
        for (int i = 0; i < 5; ++i) t.add_float_data(0.5f);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("initializer 'conv2.bias': 5 float values for shape [6]"));
    }
    SECTION("a Reshape or Pad given non-integral, huge or NaN float values") {
        for (double bad : {std::nan(""), 1e30, 2.5}) {
            INFO(bad);
            auto mp = load_fixture();
            onnx::NodeProto* flat = find_node(mp, "Flatten");
            flat->set_op_type("Reshape");
            flat->clear_attribute();
            flat->add_input("bad_shape");
            onnx::TensorProto* t = mp.mutable_graph()->add_initializer();
            t->set_name("bad_shape");
            t->set_data_type(onnx::TensorProto::FLOAT);
            t->add_dims(2);
            t->add_float_data(static_cast<float>(bad));
            t->add_float_data(-1.0f);
            REQUIRE_THAT(import_error(mp, dir), Catch::Contains("(Reshape): shape [") && Catch::Contains("holds a value that is not an integer"));

            auto mp2 = load_fixture();
            for (auto& n : *mp2.mutable_graph()->mutable_node())
                if (n.op_type() == "Constant" && n.output(0) == "/pool2/Constant_output_0") {
                    onnx::TensorProto* v = n.mutable_attribute(0)->mutable_t();
                    const int count = static_cast<int>(v->dims(0));
                    v->Clear();
                    v->set_data_type(onnx::TensorProto::FLOAT);
                    v->add_dims(count);
                    for (int i = 0; i < count; ++i) v->add_float_data(i == 3 ? static_cast<float>(bad) : 0.0f);
                }
            REQUIRE_THAT(import_error(mp2, dir), Catch::Contains("(Pad): padding [0, 0, 0, ") && Catch::Contains("is not supported"));
        }
    }
    SECTION("a Gemm with an infinite alpha, or one that overflows float32") {
        auto mp = load_fixture();
        onnx::NodeProto* gemm = find_node(mp, "Gemm");
        for (auto& a : *gemm->mutable_attribute())
            if (a.name() == "alpha") a.set_f(std::numeric_limits<float>::infinity());
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("(Gemm): alpha inf, beta 1.000000: both must be finite"));
        for (auto& a : *gemm->mutable_attribute())
            if (a.name() == "alpha") a.set_f(3e38f);
        REQUIRE_THAT(import_error(mp, dir), Catch::Contains("(Gemm): alpha ") && Catch::Contains("times the weight overflows float32"));
    }
    SECTION("an input normalization beyond float32") {
        auto mp = load_fixture();
        for (auto& t : *mp.mutable_graph()->mutable_initializer())
            if (t.name() == "std") {
                t.clear_raw_data();
                for (int i = 0; i < 3; ++i) t.add_float_data(1e-38f);  // divided by 1e-38: a scale of about 1e35
            }
        const std::string err = import_error(mp, dir);
        REQUIRE_THAT(err, Catch::Contains("the input normalization gives channel 0 the affine"));
    }
}

TEST_CASE("flashmc import: the imported model evaluates and fine-tunes to W4A4", "[cli][nn][onnx]") {
    test::TempDir dir("onnx-cli");
    std::filesystem::create_directories(dir / "fixture");
    std::filesystem::copy_file(fixture("images.bin"), dir / "fixture/test_batch.bin");

    auto imp = run_cli("import " + fixture("net.onnx") + " --out " + dir / "net.h5 --input-scale 255");
    INFO(imp.output);
    REQUIRE(imp.code == 0);
    REQUIRE_THAT(imp.output, Catch::Contains("24 ONNX nodes (pytorch 1.13"));
    REQUIRE_THAT(imp.output, Catch::Contains("FP32 model 'onnx:net' written"));

    // eval's predictions are PyTorch's argmaxes, its logits PyTorch's.
    auto ev = run_cli("eval --model " + dir / "net.h5 --data " + dir / "fixture --predictions " + dir / "p.csv");
    INFO(ev.output);
    REQUIRE(ev.code == 0);
    const Expected e = read_logits(fixture("logits.txt"));
    std::ifstream p(dir / "p.csv");
    std::string line;
    REQUIRE(std::getline(p, line));
    for (std::size_t i = 0; i < e.logits.size(); ++i) {
        REQUIRE(std::getline(p, line));
        const auto& l = e.logits[i];
        const int argmax = static_cast<int>(std::max_element(l.begin(), l.end()) - l.begin());
        REQUIRE(line.rfind(std::to_string(i) + "," + std::to_string(e.labels[i]) + "," + std::to_string(argmax) + ",", 0) == 0);
    }

    // Quantization-aware fine-tuning from it, and integer inference of the result.
    test::write_synthetic_cifar(dir / "syn", 32);
    auto tr = run_cli("train --init " + dir / "net.h5 --quant w4a4 --epochs 1 --batch 16 --lr 0.01 --data " + dir / "syn" +
                      " --out " + dir / "q.h5 --checkpoint " + dir / "q.ckpt.h5 --quiet");
    INFO(tr.output);
    REQUIRE(tr.code == 0);
    nn::ModelFile q = nn::load_model_file(dir / "q.h5");
    REQUIRE(q.quantized.has_value());
    REQUIRE(q.quantized->nodes[0].affine_scale.size() == 3);  // the input normalization reaches the integer model
    auto qe = run_cli("eval --model " + dir / "q.h5 --data " + dir / "syn --compare");
    INFO(qe.output);
    REQUIRE(qe.code == 0);

    // Bad options and files are one-line errors.
    auto bad = run_cli("import " + fixture("net.onnx") + " --out " + dir / "x.h5 --mean 1,2");
    REQUIRE(bad.code == 1);
    REQUIRE_THAT(bad.output, Catch::Contains("--mean expects three comma-separated numbers"));
    auto garbage = run_cli("import " + fixture("images.bin") + " --out " + dir / "x.h5");
    REQUIRE(garbage.code == 1);
    REQUIRE_THAT(garbage.output, Catch::Contains("images.bin: not an ONNX model"));
    REQUIRE(!std::filesystem::exists(dir / "x.h5"));
}

TEST_CASE("scripts/make_onnx_fixture.py: a freshly exported network imports with PyTorch's logits", "[nn][onnx][python]") {
    std::string py;
    for (const char* c : {"/usr/bin/python3", "python3"})
        if (test::run_shell(std::string(c) + " -c 'import torch, onnx, numpy'").code == 0) {
            py = c;
            break;
        }
    if (py.empty()) {
        WARN("skipped: no python3 with torch and onnx (Debian: python3-torch python3-onnx)");
        return;
    }
    test::TempDir dir("onnx-gen");
    auto gen = test::run_shell(py + " " + test::source_dir() + "/scripts/make_onnx_fixture.py --images " + fixture("images.bin") +
                               " --count 3 --out-dir " + dir / "out");
    INFO(gen.output);
    REQUIRE(gen.code == 0);
    nn::OnnxImport r = nn::import_onnx(dir / "out/net.onnx", pixels_over_255());
    require_logits_match(logits_of(r.model, dir / "out/images.bin"), read_logits(dir / "out/logits.txt"));
}
