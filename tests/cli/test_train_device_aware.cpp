// flashmc train --device-aware, as a user runs it: a W4A4 tiny model fine-tuned against chip
// tables of two sweep files (three conditions), interrupted and resumed bit-identically.
#include <catch2/catch.hpp>

#include <fstream>

#include "flashmc/nn/model_file.hpp"
#include "sweep_fixture.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {
std::vector<float> weights(const std::string& path) {
    auto f = nn::load_model_file(path);
    std::vector<float> w;
    for (auto& p : f.model.params()) w.insert(w.end(), p.value->data.begin(), p.value->data.end());
    return w;
}
std::string condition_file(const test::TempDir& dir, const std::string& name, const std::string& extra) {
    const std::string path = dir / (name + ".toml");
    std::ofstream(path) << "[sweep]\nname = \"" << name << "\"\nseed = 3\ntrials = 1\noutput = \"x.h5\"\naxes = [\"a\"]\n"
                        << "[model]\nfile = \"" << dir / "q.h5" << "\"\n[data]\ndir = \"" << dir / "data" << "\"\n"
                        << "[device]\ncard = \"" << test::source_dir() << "/devices/nor40_cim.toml\"\n" << extra;
    return path;
}
}  // namespace

TEST_CASE("device-aware fine-tuning runs from sweep files and resumes bit-identically", "[nn][train][cli][device-aware]") {
    test::TempDir dir("device_aware");
    test::tiny_sweep_args(dir);  // dir/q.h5: a W4A4 tiny model; dir/data
    const std::string vth = condition_file(dir, "vth", "[chip]\nprogram = \"open-loop\"\n[axis.a]\nparameter = \"device.variation.sigma_vth_v\"\nvalues = [0.01, 0.03]\n");
    const std::string rtn = condition_file(dir, "rtn", "[chip]\nprogram = \"statistical\"\n[array]\nread_noise = \"per_batch\"\n"
                                                       "[axis.a]\nparameter = \"device.read_noise.rtn_amplitude_mean_v\"\nvalues = [0.01]\n");
    const std::string common = "train --init " + dir / "q.h5 --device-aware " + vth + " --device-aware " + rtn +
                               " --device-reads 2 --epochs 2 --batch 20 --lr 0.01 --threads 2 --test-limit 100 --data " + dir / "data";
    auto a = run_cli(common + " --device-chips 2 --out " + dir / "a.h5 --checkpoint " + dir / "a.ckpt");
    INFO(a.output);
    REQUIRE(a.code == 0);
    REQUIRE_THAT(a.output, Catch::Contains("device condition 3: rtn: a=0.01"));
    REQUIRE_THAT(a.output, Catch::Contains("RMS error"));
    const auto f = nn::load_model_file(dir / "a.h5");
    REQUIRE(f.quantized.has_value());
    REQUIRE_THAT(f.provenance.at("device_aware"), Catch::Contains("vth.toml (sha256 ") && Catch::Contains("chips 2, reads 2"));
    // The noise changes the result: the same fine-tuning without tables ends elsewhere.
    auto plain = run_cli("train --init " + dir / "q.h5 --epochs 2 --batch 20 --lr 0.01 --threads 2 --test-limit 100 --quiet --data " + dir / "data --out " + dir / "p.h5 --checkpoint " + dir / "p.ckpt");
    REQUIRE(plain.code == 0);
    REQUIRE(weights(dir / "p.h5") != weights(dir / "a.h5"));
    // Killed after step 7 of 10, resumed: bit-identical.
    auto b1 = run_cli(common + " --device-chips 2 --quiet --out " + dir / "b.h5 --checkpoint " + dir / "b.ckpt --stop-after-steps 7");
    REQUIRE(b1.code == 0);
    auto b2 = run_cli(common + " --device-chips 2 --quiet --out " + dir / "b.h5 --checkpoint " + dir / "b.ckpt --resume");
    INFO(b2.output);
    REQUIRE(b2.code == 0);
    REQUIRE(weights(dir / "a.h5") == weights(dir / "b.h5"));
    // Other tables (another chip count) are another run: resume refuses to mix them.
    auto c = run_cli(common + " --device-chips 3 --quiet --out " + dir / "b.h5 --checkpoint " + dir / "b.ckpt --resume");
    REQUIRE(c.code == 1);
    REQUIRE_THAT(c.output, Catch::Contains("different settings"));
}

TEST_CASE("device-aware fine-tuning refuses what it cannot do", "[nn][train][cli][device-aware]") {
    test::TempDir dir("device_aware_refuse");
    test::tiny_sweep_args(dir);
    const std::string ok = condition_file(dir, "ok", "[chip]\nprogram = \"statistical\"\n[axis.a]\nparameter = \"chip.read_temperature_c\"\nvalues = [85.0]\n");
    const std::string ir = condition_file(dir, "ir", "[chip]\nprogram = \"statistical\"\n[array]\nr_bl_ohm = 2.0\nr_sl_ohm = 2.0\nir_model = \"linear\"\n"
                                                     "[axis.a]\nparameter = \"chip.read_temperature_c\"\nvalues = [85.0]\n");
    const std::string base = " --epochs 1 --batch 50 --threads 2 --quiet --data " + dir / "data --out " + dir / "o.h5 --checkpoint " + dir / "o.ckpt";
    auto fp = run_cli("train --init " + dir / "fp.h5 --device-aware " + ok + base);
    REQUIRE(fp.code == 1);
    REQUIRE_THAT(fp.output, Catch::Contains("is not a quantized model"));
    auto quant = run_cli("train --init " + dir / "fp.h5 --quant w4a4 --device-aware " + ok + base);
    REQUIRE(quant.code == 1);
    REQUIRE_THAT(quant.output, Catch::Contains("give --init M_w4a4.h5 and no --quant"));
    auto wires = run_cli("train --init " + dir / "q.h5 --device-aware " + ir + base);
    REQUIRE(wires.code == 1);
    REQUIRE_THAT(wires.output, Catch::Contains("not per-weight errors"));
    auto chips = run_cli("train --init " + dir / "q.h5 --device-aware " + ok + " --device-chips 0" + base);
    REQUIRE(chips.code == 1);
    REQUIRE_THAT(chips.output, Catch::Contains("--device-chips"));
    // A deployable file (no float graph) is refused before the device tables are sampled.
    REQUIRE(run_cli("convert " + dir / "q.h5 " + dir / "q_dep.h5 --deployable").code == 0);
    auto deployable = run_cli("train --init " + dir / "q_dep.h5 --device-aware " + ok + base);
    REQUIRE(deployable.code == 1);
    REQUIRE_THAT(deployable.output, Catch::Contains("a deployable file"));
    REQUIRE_THAT(deployable.output, !Catch::Contains("device condition"));
}
