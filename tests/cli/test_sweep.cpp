// End to end through the CLI: a tiny W4A4 model trained on synthetic data, swept over a 2 × 2 grid
// (experiments/test_tiny.toml), the HDF5 read back; thread counts, kill + resume and shards + merge
// must all give bit-identical results.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../test_util.hpp"
#include "sweep_fixture.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/sweep.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {
void require_same_results(const mc::SweepResults& a, const mc::SweepResults& b) {
    REQUIRE(a.done == b.done);
    REQUIRE(a.accuracy == b.accuracy);
    REQUIRE(a.predictions == b.predictions);
    REQUIRE(a.stream_keys == b.stream_keys);
    REQUIRE(a.ideal_predictions == b.ideal_predictions);
    // layer errors: NaN-free here, so == is exact comparison
    REQUIRE(a.layer_error == b.layer_error);
}
}  // namespace

TEST_CASE("flashmc sweep: end to end, deterministic over threads, resume and shards", "[mc][cli][sweep]") {
    test::TempDir dir("sweep");
    const std::string spec = test::tiny_sweep_args(dir);
    auto a = run_cli("sweep " + spec + " --threads 1 --out " + dir / "a.h5");
    INFO(a.output);
    REQUIRE(a.code == 0);
    REQUIRE_THAT(a.output, Catch::Contains("12 units run, 12 in file; complete"));
    const mc::SweepResults ra = mc::read_results(dir / "a.h5");
    REQUIRE(ra.points == 4);
    REQUIRE(ra.capacity == 3);
    REQUIRE(ra.images == 100);
    REQUIRE(ra.complete());
    REQUIRE(ra.layer_names.size() == 4);
    INFO(run_cli("inspect " + dir / "a.h5 --layers").output);
    for (double e : ra.layer_error) REQUIRE((e > 0.0 && std::isfinite(e)));
    {
        h5::Group root = h5::open_read(dir / "a.h5");
        REQUIRE(root.attr_string("filetype") == "flashmc.sweep");
        REQUIRE(root.attr_int("schema_version") == 1);
        REQUIRE(root.attr_string("sweep_text").find("[axis.read_t]") != std::string::npos);
        REQUIRE(root.attr_string("card_text").find("sigma_vth_v") != std::string::npos);
        REQUIRE(root.attr_string("model_sha256").size() == 64);
        REQUIRE(root.attr_string("dataset_sha256").size() == 64);
        REQUIRE(root.attr_int("seed") == 7);
        REQUIRE(root.attr_int("complete") == 1);
        REQUIRE(root.has("git_commit") == false);  // an attribute, not a dataset
        REQUIRE(root.has_attr("git_commit"));
        REQUIRE(root.open("stats").read<double>("mean").size() == 4);
        REQUIRE(root.shape("accuracy") == h5::Dims{4, 3});
    }

    SECTION("two threads give the same bits") {
        auto b = run_cli("sweep " + spec + " --threads 2 --out " + dir / "b.h5");
        INFO(b.output);
        REQUIRE(b.code == 0);
        require_same_results(ra, mc::read_results(dir / "b.h5"));
    }
    SECTION("a run stopped after 5 units and resumed equals an uninterrupted run") {
        auto s = run_cli("sweep " + spec + " --threads 1 --stop-after-units 5 --out " + dir / "c.h5");
        INFO(s.output);
        REQUIRE(s.code == 3);
        const mc::SweepResults partial = mc::read_results(dir / "c.h5");
        REQUIRE(partial.units_done() == 5);
        REQUIRE_FALSE(partial.complete());
        // no temporary files left beside the output
        int files = 0;
        for (auto& e : std::filesystem::directory_iterator(dir.path)) files += e.path().string().find("c.h5") != std::string::npos;
        REQUIRE(files == 1);
        auto r = run_cli("sweep " + spec + " --threads 2 --resume --out " + dir / "c.h5");
        INFO(r.output);
        REQUIRE(r.code == 0);
        REQUIRE_THAT(r.output, Catch::Contains("7 units run, 12 in file"));
        require_same_results(ra, mc::read_results(dir / "c.h5"));
        // resuming a different sweep into the file is refused
        auto x = run_cli("sweep " + spec + " --set sweep.seed=8 --resume --out " + dir / "c.h5");
        REQUIRE(x.code != 0);
        REQUIRE_THAT(x.output, Catch::Contains("different sweep"));
    }
    SECTION("a device card edited between stop and --resume is refused") {
        std::filesystem::copy_file(test::source_dir() + "/devices/nor40_cim.toml", dir / "card.toml");
        const std::string with_card = spec + " --set device.card=" + dir / "card.toml";
        REQUIRE(run_cli("sweep " + with_card + " --stop-after-units 5 --out " + dir / "e.h5").code == 3);
        std::ofstream(dir / "card.toml", std::ios::app) << "\n# edited after the stop\n";
        auto x = run_cli("sweep " + with_card + " --resume --out " + dir / "e.h5");
        INFO(x.output);
        REQUIRE(x.code != 0);
        REQUIRE_THAT(x.output, Catch::Contains("different sweep (device card text differs)"));
    }
    SECTION("shards merged equal a single run; inspect prints the table") {
        REQUIRE(run_cli("sweep " + spec + " --shard 0/2 --out " + dir / "s0.h5").code == 0);
        REQUIRE(run_cli("sweep " + spec + " --shard 1/2 --out " + dir / "s1.h5").code == 0);
        REQUIRE(mc::read_results(dir / "s0.h5").complete());  // a shard is complete on its own
        auto m = run_cli("merge " + dir / "s0.h5 " + dir / "s1.h5 -o " + dir / "m.h5");
        INFO(m.output);
        REQUIRE(m.code == 0);
        const mc::SweepResults rm = mc::read_results(dir / "m.h5");
        require_same_results(ra, rm);
        REQUIRE(rm.complete());
        // options a command does not take are errors (--threads too)
        auto t = run_cli("inspect " + dir / "m.h5 --threads 4");
        REQUIRE(t.code == 1);
        REQUIRE_THAT(t.output, Catch::Contains("unknown option --threads"));
        auto i = run_cli("inspect " + dir / "m.h5 --layers");
        INFO(i.output);
        REQUIRE(i.code == 0);
        REQUIRE_THAT(i.output, Catch::Contains("sigma_vth"));
        REQUIRE_THAT(i.output, Catch::Contains("12 of 12 units done (complete)"));
        REQUIRE_THAT(i.output, Catch::Contains("RMS relative MVM error"));
    }
    // The sweep `args` on 1 and 2 threads (into NAME1.h5, NAME2.h5): the same results, returned.
    auto same_over_threads = [&](const std::string& args, const std::string& name) {
        auto x1 = run_cli("sweep " + args + " --threads 1 --out " + dir / (name + "1.h5"));
        INFO(x1.output);
        REQUIRE(x1.code == 0);
        auto x2 = run_cli("sweep " + args + " --threads 2 --out " + dir / (name + "2.h5"));
        REQUIRE(x2.code == 0);
        mc::SweepResults r1 = mc::read_results(dir / (name + "1.h5"));
        require_same_results(r1, mc::read_results(dir / (name + "2.h5")));
        return r1;
    };
    SECTION("the array path (IR drop, ADC, per-batch read noise) is deterministic over threads") {
        const std::string arr = spec + " --set array.tile_rows=64 --set array.r_bl_ohm=20 --set array.r_sl_ohm=20" +
                                " --set array.ir_model=\"linear\" --set array.read_noise=\"per_batch\"" +
                                " --set array.adc_range=\"calibration\" --set array.calibration_images=8" +
                                " --set axis.read_t.parameter=\"array.adc_bits\" --set axis.read_t.values=[4,8]";
        const mc::SweepResults r1 = same_over_threads(arr, "x");
        REQUIRE(r1.point_values[3] == 8.0);  // [point][axis]: point 1 = (σ 0, 8 bits)
        REQUIRE(r1.accuracy != ra.accuracy);
        // coarser ADCs, larger MVM errors (layer errors averaged over the chips of a point)
        for (long l = 0; l < r1.layers(); ++l)
            REQUIRE(mc::point_stats(r1, 0).layer_error_mean[l] > mc::point_stats(r1, 1).layer_error_mean[l]);
    }
    SECTION("conversion noise (array.read_window_s) is deterministic over threads and changes the results") {
        const std::string arr = spec + " --set array.read_window_s=3e-9 --set axis.read_t.parameter=\"array.tile_rows\"" +
                                " --set axis.read_t.values=[16,256]";
        const mc::SweepResults r1 = same_over_threads(arr, "w");
        auto x0 = run_cli("sweep " + arr + " --set array.read_window_s=0 --threads 2 --out " + dir / "w0.h5");
        REQUIRE(x0.code == 0);
        const mc::SweepResults r0 = mc::read_results(dir / "w0.h5");
        for (long l = 0; l < r1.layers(); ++l)  // the noise adds to every layer's MVM error
            REQUIRE(mc::point_stats(r1, 0).layer_error_mean[l] > mc::point_stats(r0, 0).layer_error_mean[l]);
    }
    SECTION("a bad sweep file stops with file, key and value") {
        auto e = run_cli("sweep " + spec + " --set axis.read_t.values=[25.0,999.0]");
        REQUIRE(e.code != 0);
        REQUIRE_THAT(e.output, Catch::Contains("chip.read_temperature_c = 999 is out of range"));
    }
}

TEST_CASE("flashmc sweep: chips with every error source off predict what the digital model predicts", "[mc][cli][sweep]") {
    test::TempDir dir("sweep-ideal");
    std::string spec = test::tiny_sweep_args(dir);
    // The tiny sweep's model and images; the card's errors off (no variation, exact open-loop
    // placement, no read noise), fresh chips read at the verify temperature; both mappings, on the
    // static path and (with a per-batch read of zero noise) on the array path, over one tile and
    // over 16-row tiles.
    {
        std::ofstream t(dir / "ideal.toml");
        t << "[sweep]\nname = \"ideal\"\nseed = 3\ntrials = 2\noutput = \"ideal.h5\"\naxes = [\"rows\"]\n"
             "[model]\nfile = \"q.h5\"\n[data]\ndir = \"data\"\ntest_images = 100\nbatch = 50\n"
             "[device]\ncard = \"nor40_cim.toml\"\nset = [\"variation.sigma_vth_v=0\", \"variation.sigma_slope_n=0\", "
             "\"variation.sigma_vth_tile_v=0\", \"variation.sigma_vth_column_v=0\", \"program.efficiency_sigma=0\", "
             "\"program.injection_fano=0\", \"read_noise.rtn_traps_mean=0\", \"read_noise.current_sigma_rel=0\"]\n"
             "[chip]\nprogram = \"open-loop\"\n[axis.rows]\nparameter = \"array.tile_rows\"\nvalues = [256, 16]\n";
    }
    spec.replace(0, spec.find(' '), dir / "ideal.toml");
    for (const char* mapping : {"differential", "offset"})
        for (const char* noise : {"off", "per_batch"}) {
            CAPTURE(mapping, noise);
            const std::string out = dir / (std::string(mapping) + noise + ".h5");
            auto r = run_cli("sweep " + spec + " --set 'array.mapping=\"" + mapping + "\"' --set 'array.read_noise=\"" + noise +
                             "\"' --threads 2 --out " + out);
            INFO(r.output);
            REQUIRE(r.code == 0);
            const mc::SweepResults res = mc::read_results(out);
            REQUIRE(res.points == 2);
            const std::size_t images = static_cast<std::size_t>(res.images);
            REQUIRE(res.predictions.size() == 2 * 2 * images);
            for (std::size_t u = 0; u < res.predictions.size(); ++u) REQUIRE(res.predictions[u] == res.ideal_predictions[u % images]);
        }
}
