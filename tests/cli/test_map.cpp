#include <catch2/catch.hpp>

#include "../test_util.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;

TEST_CASE("flashmc map reports tiles, cells and utilization per layer", "[cli][array]") {
    test::TempDir dir("map");
    Tensor calib(8, 3, 32, 32);
    Stream r = Streams(5).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::ModelFile f;
    f.model = nn::build_model("resnet20", 1);
    nn::prepare_qat(f.model, nn::parse_quant("w4a4"), calib);
    nn::save_model_file(dir / "q.h5", f);
    auto out = test::run_cli("map --model " + dir / "q.h5");
    INFO(out.output);
    REQUIRE(out.code == 0);
    // s3b1_conv2: K = 64·9 = 576 rows -> 3 row tiles; 64 outputs on 128 bit lines -> 1 column tile;
    // cells used = 576 · 128.
    REQUIRE_THAT(out.output, Catch::Contains("s3b1_conv2") && Catch::Contains("576") && Catch::Contains("73728"));
    auto off = test::run_cli("map --model " + dir / "q.h5 --mapping offset --tile-rows 128 --tile-cols 64");
    REQUIRE(off.code == 0);
    REQUIRE_THAT(off.output, Catch::Contains("offset mapping"));
    auto bad = test::run_cli("map --model " + dir / "q.h5 --mapping diagonal");
    REQUIRE(bad.code == 1);
    REQUIRE_THAT(bad.output, Catch::Contains("diagonal"));
    nn::ModelFile fp;
    fp.model = nn::build_model("tiny", 1);
    nn::save_model_file(dir / "fp.h5", fp);
    auto notq = test::run_cli("map --model " + dir / "fp.h5");
    REQUIRE(notq.code == 1);
    REQUIRE_THAT(notq.output, Catch::Contains("not a quantized model"));
}
