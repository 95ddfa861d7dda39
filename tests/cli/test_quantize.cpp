// flashmc quantize: post-training W4A4 from an FP32 file, as a user meets it: a file that eval,
// sweep and train --init take, the same for any thread count, refusing what it cannot do.
#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "../test_util.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"
#include "../../fuzz/seeds.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {
// The "NN.NN%" after `label` in a command's output.
std::string percent_after(const std::string& out, const std::string& label) {
    std::smatch m;
    REQUIRE(std::regex_search(out, m, std::regex(label + R"(\s*([0-9.]+)%)")));
    return m[1];
}
}  // namespace

TEST_CASE("flashmc quantize: a post-training W4A4 model that eval, sweep and train --init take", "[cli][quant]") {
    test::TempDir dir("quantize");
    test::write_synthetic_cifar(dir / "data", 120);
    const std::string fp32 = fuzz::write_model_seeds(dir.path)[0], data = " --data " + dir / "data";
    const std::string cmd = "quantize --model " + fp32 + data + " --calib-images 300";

    auto q = run_cli(cmd + " --out " + dir / "q.h5 --threads 1");
    INFO(q.output);
    REQUIRE(q.code == 0);
    REQUIRE_THAT(q.output, Catch::Contains("W4A4, input 8-bit, per-layer weights, post-training, 300 calibration images, bias correction"));
    const nn::ModelFile f = nn::load_model_file(dir / "q.h5");
    REQUIRE(f.quantized);
    REQUIRE(nn::is_quantized(f.model));
    REQUIRE(f.storage == nn::Storage::Float32);
    REQUIRE_THAT(f.provenance.at("quantization"), Catch::Contains("post-training"));
    REQUIRE(f.provenance.at("source_model_sha256") == h5::content_sha256(fp32));
    REQUIRE(f.provenance.at("test_images") == "120");

    // eval measures what quantize reported.
    auto e = run_cli("eval --model " + dir / "q.h5" + data + " --threads 1");
    INFO(e.output);
    REQUIRE(e.code == 0);
    REQUIRE_THAT(e.output, Catch::Contains("integer-only inference"));
    REQUIRE(percent_after(e.output, "accuracy:") == percent_after(q.output, "integer-only accuracy:"));

    // Same bits on two threads; bias correction changes the model.
    REQUIRE(run_cli(cmd + " --out " + dir / "q2.h5 --threads 2").code == 0);
    auto biases = [](const std::string& path) {
        std::vector<std::int32_t> b;
        const nn::ModelFile m = nn::load_model_file(path);
        for (const auto& n : m.quantized->nodes) b.insert(b.end(), n.bias_q.begin(), n.bias_q.end());
        return b;
    };
    REQUIRE(biases(dir / "q2.h5") == biases(dir / "q.h5"));
    REQUIRE(run_cli(cmd + " --no-bias-correction --out " + dir / "nb.h5").code == 0);
    REQUIRE(biases(dir / "nb.h5") != biases(dir / "q.h5"));

    // QAT fine-tuning continues from it (no --quant: the file is quantized already).
    auto t = run_cli("train --init " + dir / "q.h5" + data + " --epochs 1 --batch 50 --lr 0.01 --quiet --threads 1 --out " + dir / "t.h5 --checkpoint " +
                     dir / "t.ckpt.h5");
    INFO(t.output);
    REQUIRE(t.code == 0);
    REQUIRE(nn::load_model_file(dir / "t.h5").quantized);

    // The sweep runs on it.
    auto s = run_cli("sweep " + test::source_dir() + "/experiments/test_tiny.toml --quiet --checkpoint-s 0 --threads 1 --set data.dir=" + dir / "data" +
                     " --set device.card=" + test::source_dir() + "/devices/nor40_cim.toml --set sweep.trials=1 --set model.file=" + dir / "q.h5" +
                     " --out " + dir / "sweep.h5");
    INFO(s.output);
    REQUIRE(s.code == 0);

    for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
             {"quantize --model " + dir / "q.h5" + data + " --out " + dir / "x.h5", "is already quantized"},
             {"quantize --model " + fp32 + data + " --calib-images 0 --out " + dir / "x.h5", "--calib-images expects 1 to 50000, got 0"},
             {cmd + " --quant w9a4 --out " + dir / "x.h5", "bit widths must be 2..8"},
             {cmd + " --layer-bits conv1 --out " + dir / "x.h5", "--layer-bits expects NAME=BITS, got 'conv1'"},
             {cmd + " --layer-bits nope=3 --out " + dir / "x.h5", "no quantizable node 'nope'"},
             {cmd, "quantize: missing required option --out"}}) {
        INFO(args);
        auto r = run_cli(args);
        REQUIRE(r.code == 1);
        REQUIRE_THAT(r.output, Catch::Contains(message));
    }
    REQUIRE(!std::filesystem::exists(dir / "x.h5"));
}
