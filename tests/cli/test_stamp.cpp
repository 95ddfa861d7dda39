// flashmc stamp: a model file without the integrity block (another tool's, or one written before
// the block) is refused by every command, naming the remedy; stamped, it loads to the same model.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../test_util.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

TEST_CASE("flashmc stamp gives a trusted HDF5 file the integrity block; damaged files stay refused", "[cli][hdf5]") {
    test::TempDir dir("stamp");
    test::write_synthetic_cifar(dir / "data", 20);
    nn::ModelFile f;
    f.model = nn::build_model("tiny", 1);
    nn::save_model_file(dir / "m.h5", f);
    const std::string eval = " --data " + dir / "data --limit 20 --threads 1";
    const auto original = run_cli("eval --model " + dir / "m.h5" + eval);
    REQUIRE(original.code == 0);

    // The same HDF5 data without the block, as a file from before the block would be.
    std::ifstream in(dir / "m.h5", std::ios::binary);
    const std::string bytes(std::istreambuf_iterator<char>(in), {});
    std::ofstream(dir / "old.h5", std::ios::binary) << bytes.substr(h5::kIntegrityBlockBytes);
    const auto refused = run_cli("eval --model " + dir / "old.h5" + eval);
    REQUIRE(refused.code == 1);
    REQUIRE_THAT(refused.output, Catch::Contains("old.h5: an HDF5 file without flashmc's integrity block") &&
                                     Catch::Contains("flashmc stamp " + dir / "old.h5"));

    const auto stamped = run_cli("stamp " + dir / "old.h5" + " " + dir / "m.h5");
    REQUIRE(stamped.code == 0);
    REQUIRE_THAT(stamped.output, Catch::Contains("old.h5: integrity block added") &&
                                     Catch::Contains("m.h5: already has a valid integrity block"));
    std::ifstream again(dir / "old.h5", std::ios::binary);
    REQUIRE(std::string(std::istreambuf_iterator<char>(again), {}) == bytes);  // the same file, byte for byte
    const auto after = run_cli("eval --model " + dir / "old.h5" + eval);
    REQUIRE(after.code == 0);
    REQUIRE(after.output.substr(after.output.find("accuracy:")).substr(0, 16) ==
            original.output.substr(original.output.find("accuracy:")).substr(0, 16));

    // A damaged file is not blessed, and the command fails.
    std::string damaged = bytes;
    damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x40);
    std::ofstream(dir / "bad.h5", std::ios::binary) << damaged;
    const auto bad = run_cli("stamp " + dir / "bad.h5");
    REQUIRE(bad.code == 1);
    REQUIRE_THAT(bad.output, Catch::Contains("bad.h5: corrupted"));
    REQUIRE(run_cli("stamp").code == 1);
}
