// scripts/train-seed-nets.sh on the tiny model: a campaign stopped inside its first stage and
// again inside its second epoch, then run to its end, gives the same models as an uninterrupted
// one; finished stages are skipped; --status names each stage's state; results/models gets the
// compact forms, and a stage starts from the full file beside the checkpoints while it is there;
// a stage whose warm restart (NAME_r<k>) is done counts as replaced.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "../test_util.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/nn/model_file.hpp"

using namespace flashmc;

namespace {
std::vector<FloatVec> parameters(const std::string& path) {
    nn::ModelFile f = nn::load_model_file(path);
    std::vector<FloatVec> p;
    for (auto& q : f.model.params()) p.push_back(q.value->data);
    return p;
}
}  // namespace

TEST_CASE("train-seed-nets.sh: resumable stage by stage, same models as an uninterrupted campaign", "[scripts][train]") {
    test::TempDir dir("seed-nets");
    test::write_synthetic_cifar(dir / "data", 100);
    {
        std::ofstream plan(dir / "plan");
        plan << "# test plan\n"
                "tiny_fp32  tiny       -     2  0.05  onecycle  -    1\n"
                "tiny_w4a4  tiny_fp32  w4a4  1  0.01  cosine    0.5  2\n"
                "tiny_fp32_r2  tiny_fp32  -  1  0.01  cosine    -    3\n";
    }
    auto campaign = [&](const std::string& name, const std::string& extra, const std::string& option = "") {
        return test::run_shell("FLASHMC_CAMPAIGN_PLAN=" + dir / "plan" + " FLASHMC_MODELS_DIR=" + dir / (name + "-models") +
                               " FLASHMC_CHECKPOINT_DIR=" + dir / (name + "-ck") + " FLASHMC_BIN=" + FLASHMC_BINARY +
                               " FLASHMC_DATA=" + dir / "data" + " FLASHMC_THREADS=1 FLASHMC_TRAIN_ARGS='--quiet --test-limit 100" +
                               extra + "' " + test::source_dir() + "/scripts/train-seed-nets.sh " + option);
    };
    auto whole = campaign("a", "");
    INFO(whole.output);
    REQUIRE(whole.code == 0);
    REQUIRE_THAT(whole.output, Catch::Contains("all stages done"));

    // 500 training images at batch 128: 4 steps an epoch. Stop at step 3 (inside epoch 1), then at
    // step 6 (inside epoch 2), then run to the end.
    auto s1 = campaign("b", " --stop-after-steps 3");
    INFO(s1.output);
    REQUIRE(s1.code == 3);
    REQUIRE_THAT(s1.output, Catch::Contains("stage tiny_fp32 stopped before its end"));
    auto st = campaign("b", "", "--status");
    INFO(st.output);
    REQUIRE(st.code == 0);
    REQUIRE_THAT(st.output, Catch::Matches("(.|\n)*tiny_fp32 +stopped +0/2(.|\n)*tiny_w4a4 +pending +0/1(.|\n)*"));
    auto s2 = campaign("b", " --stop-after-steps 6");
    INFO(s2.output);
    REQUIRE(s2.code == 3);
    auto s3 = campaign("b", "");
    INFO(s3.output);
    REQUIRE(s3.code == 0);
    // The W4A4 stage started from the full FP32 model beside the checkpoints.
    REQUIRE_THAT(whole.output, Catch::Contains("--init " + dir / "a-ck/seed-nets/tiny_fp32.h5"));
    for (const char* stage : {"tiny_fp32", "tiny_w4a4"}) {
        CAPTURE(stage);
        REQUIRE(parameters(dir / "a-ck/seed-nets/" + stage + ".h5") == parameters(dir / "b-ck/seed-nets/" + stage + ".h5"));
        // The per-epoch log of the resumed stage has one row per epoch, like the uninterrupted one.
        auto rows = [](const std::string& p) {
            std::ifstream in(p);
            std::string line;
            int n = 0;
            while (std::getline(in, line)) ++n;
            return n;
        };
        REQUIRE(rows(dir / "b-models/" + std::string(stage) + ".csv") == rows(dir / "a-models/" + std::string(stage) + ".csv"));
    }
    // results/models holds the compact forms: the FP32 model in half precision, the W4A4 one's
    // integer model alone (the same as the full file's).
    REQUIRE(h5::open_read(dir / "b-models/tiny_fp32.h5").attr_string("storage") == "scaled");
    REQUIRE(h5::open_read(dir / "b-models/tiny_w4a4.h5").attr_string("storage") == "deployable");
    auto codes = [](const std::string& path) {
        const nn::ModelFile f = nn::load_model_file(path);
        std::vector<std::int8_t> c;
        for (const auto& n : f.quantized->nodes) c.insert(c.end(), n.codes.begin(), n.codes.end());
        return c;
    };
    REQUIRE(codes(dir / "b-models/tiny_w4a4.h5") == codes(dir / "b-ck/seed-nets/tiny_w4a4.h5"));
    auto done = campaign("b", "", "--status");
    INFO(done.output);
    REQUIRE_THAT(done.output, Catch::Matches("(.|\n)*tiny_fp32 +done +2/2(.|\n)*tiny_w4a4 +done +1/1(.|\n)*"));
    // A finished campaign is skipped stage by stage.
    auto again = campaign("b", "");
    REQUIRE(again.code == 0);
    REQUIRE_THAT(again.output, !Catch::Contains("stage tiny_fp32:"));
    REQUIRE_THAT(campaign("b", "", "--nosuch").output, Catch::Contains("unknown option"));
    // Without the full FP32 file (a fresh checkpoint directory), the W4A4 stage starts from the
    // half-precision one in results/models.
    for (const char* f : {"b-models/tiny_w4a4.h5", "b-ck/seed-nets/tiny_fp32.h5", "b-ck/seed-nets/tiny_w4a4.ckpt.h5"})
        std::filesystem::remove(dir / f);
    auto fresh = campaign("b", "");
    INFO(fresh.output);
    REQUIRE(fresh.code == 0);
    REQUIRE_THAT(fresh.output, Catch::Contains("--init " + dir / "b-models/tiny_fp32.h5"));
    // Once its warm restart tiny_fp32_r2 is done, tiny_fp32's model may leave results/models: the
    // stage counts as replaced and is not trained again.
    std::filesystem::remove(dir / "b-models/tiny_fp32.h5");
    auto replaced = campaign("b", "", "--status");
    INFO(replaced.output);
    REQUIRE_THAT(replaced.output, Catch::Matches("(.|\n)*tiny_fp32 +replaced +2/2(.|\n)*tiny_fp32_r2 +done +1/1(.|\n)*"));
    auto after = campaign("b", "");
    INFO(after.output);
    REQUIRE(after.code == 0);
    REQUIRE_THAT(after.output, !Catch::Contains("stage tiny_fp32:"));
}
