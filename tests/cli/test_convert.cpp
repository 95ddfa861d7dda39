// flashmc convert: a deployable file gives eval and sweep exactly what the full file gives, a half
// file the float graph of the half-rounded weights; what needs the float graph says that a
// deployable file lacks it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <Eigen/Core>

#include "../test_util.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/sweep.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/model_file.hpp"
#include "../../fuzz/seeds.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {
std::string text_of(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
// `flashmc eval ARGS --predictions P` must succeed; returns the predictions file's text.
std::string predictions(const std::string& args, const std::string& csv) {
    auto r = run_cli("eval " + args + " --threads 1 --predictions " + csv);
    INFO(r.output);
    REQUIRE(r.code == 0);
    return text_of(csv);
}
}  // namespace

TEST_CASE("flashmc convert --deployable: the integer model alone, with the same predictions and logits", "[cli][convert]") {
    test::TempDir dir("convert-deployable");
    test::write_synthetic_cifar(dir / "data", 100);
    const auto seeds = fuzz::write_model_seeds(dir.path);  // FP32, W4A4
    const std::string q = seeds[1], data = " --data " + dir / "data";
    h5::edit_file(q, [](const h5::Group& root) { root.set_attr("command", "flashmc train --quant w4a4 ..."); });
    auto c = run_cli("convert " + q + " " + dir / "d.h5 --deployable");
    INFO(c.output);
    REQUIRE(c.code == 0);
    REQUIRE_THAT(c.output, Catch::Contains("d.h5: deployable"));
    {
        const auto root = h5::open_read(dir / "d.h5");
        REQUIRE(!root.has("model"));
        REQUIRE(root.attr_string("storage") == "deployable");
        REQUIRE(root.attr_string("command") == "flashmc train --quant w4a4 ...");  // provenance carried over
    }
    REQUIRE(predictions("--model " + q + data, dir / "q.csv") == predictions("--model " + dir / "d.h5" + data, dir / "d.csv"));
    auto tiles = [](const std::string& model) {  // the map's table, after the line naming the file
        const std::string out = run_cli("map --model " + model).output;
        return out.substr(out.find('\n'));
    };
    REQUIRE(tiles(dir / "d.h5") == tiles(q));

    // The sweep runs on it, chip for chip the same.
    const std::string sweep = "sweep " + test::source_dir() + "/experiments/test_tiny.toml --quiet --checkpoint-s 0 --threads 1 --set data.dir=" +
                              dir / "data --set device.card=" + test::source_dir() + "/devices/nor40_cim.toml --set sweep.trials=1";
    for (const std::string m : {"q", "d"}) {
        auto s = run_cli(sweep + " --set model.file=" + (m == "q" ? q : dir / "d.h5") + " --out " + dir / (m + "-sweep.h5"));
        INFO(s.output);
        REQUIRE(s.code == 0);
    }
    const auto sq = mc::read_results(dir / "q-sweep.h5"), sd = mc::read_results(dir / "d-sweep.h5");
    REQUIRE(sd.accuracy == sq.accuracy);
    REQUIRE(sd.predictions == sq.predictions);

    // What needs the float graph names the file and what it lacks.
    for (const std::string& args : {"eval --model " + dir / "d.h5" + data + " --float", "eval --model " + dir / "d.h5" + data + " --compare",
                                   "train --init " + dir / "d.h5" + " --quant w4a4 --epochs 1" + data + " --out " + dir / "t.h5 --checkpoint " + dir / "t.ckpt",
                                   "models --layers " + dir / "d.h5", "convert " + dir / "d.h5 " + dir / "e.h5"}) {
        INFO(args);
        auto r = run_cli(args);
        REQUIRE(r.code == 1);
        REQUIRE_THAT(r.output, Catch::Contains("d.h5: a deployable file: it holds only the integer model (/quantized), not the float graph"));
    }
}

TEST_CASE("flashmc convert --half: the float graph of the half-rounded weights", "[cli][convert]") {
    test::TempDir dir("convert-half");
    test::write_synthetic_cifar(dir / "data", 40);
    const std::string data = " --data " + dir / "data";
    // An FP32 model with batch-norm statistics away from their defaults, and the same model with
    // every stored float rounded to binary16 (nearest, ties to even), stored as float32.
    nn::ModelFile f;
    f.model = nn::build_model("tiny", 4);
    for (auto& n : f.model.nodes)
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(n.layer.get()))
            for (int c = 0; c < bn->channels; ++c) {
                bn->running_mean.data[c] = 0.1f * static_cast<float>(c % 5) - 0.2f;
                bn->running_var.data[c] = 1.0f + 0.37f * static_cast<float>(c % 3);
            }
    nn::save_model_file(dir / "fp.h5", f);
    for (auto& n : f.model.nodes) {
        std::vector<Tensor*> stored;
        for (auto& p : n.layer->params()) stored.push_back(p.value);
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(n.layer.get())) stored.insert(stored.end(), {&bn->running_mean, &bn->running_var});
        for (Tensor* t : stored)
            for (auto& v : t->data) v = static_cast<float>(Eigen::half(v));
    }
    nn::save_model_file(dir / "rounded.h5", f);
    // A flag before the files keeps their order.
    auto c = run_cli("convert --half " + dir / "fp.h5 " + dir / "h.h5");
    INFO(c.output);
    REQUIRE(c.code == 0);
    REQUIRE(h5::open_read(dir / "h.h5").attr_string("storage") == "half");
    REQUIRE(std::filesystem::file_size(dir / "h.h5") < std::filesystem::file_size(dir / "fp.h5"));
    const std::string half = predictions("--model " + dir / "h.h5" + data, dir / "h.csv");
    REQUIRE(half == predictions("--model " + dir / "rounded.h5" + data, dir / "r.csv"));
    REQUIRE(half != predictions("--model " + dir / "fp.h5" + data, dir / "f.csv"));  // the logits tell half from float32

    // Argument checks.
    for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
             {"convert " + dir / "fp.h5", "expects IN.h5 and OUT.h5"},
             {"convert " + dir / "fp.h5 a.h5 b.h5", "unexpected argument 'b.h5'"},
             {"convert " + dir / "fp.h5 " + dir / "x.h5 --half --deployable", "--half, --scaled and --deployable exclude each other"},
             {"convert " + dir / "fp.h5 " + dir / "x.h5 --scaled --half", "--half, --scaled and --deployable exclude each other"},
             {"convert " + dir / "fp.h5 " + dir / "x.h5 --deployable", "fp.h5: an FP32 model; --deployable keeps the integer model"},
             {"convert " + dir / "fp.h5 " + dir / "x.h5 --float16", "unknown option --float16"},
             {"convert " + dir / "none.h5 " + dir / "x.h5", "none.h5: no such file"}}) {
        INFO(args);
        auto r = run_cli(args);
        REQUIRE(r.code == 1);
        REQUIRE_THAT(r.output, Catch::Contains(message));
    }
    REQUIRE(!std::filesystem::exists(dir / "x.h5"));
}
