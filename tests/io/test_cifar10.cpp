#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/cifar10.hpp"

using namespace flashmc;

namespace {
Cifar10 tiny(int n) {
    Cifar10 d;
    for (int i = 0; i < n; ++i) {
        d.labels.push_back(static_cast<std::uint8_t>(i % 10));
        for (int p = 0; p < Cifar10::kImageBytes; ++p) d.pixels.push_back(static_cast<std::uint8_t>((i * 7 + p) % 256));
    }
    return d;
}
}  // namespace

TEST_CASE("CIFAR-10 files round-trip", "[io][cifar]") {
    test::TempDir dir("cifar-rt");
    Cifar10 d = tiny(13);
    write_cifar10_file(dir / "a.bin", d);
    REQUIRE(std::filesystem::file_size(dir / "a.bin") == 13u * 3073u);
    Cifar10 r = read_cifar10_file(dir / "a.bin");
    REQUIRE(r.labels == d.labels);
    REQUIRE(r.pixels == d.pixels);
}

TEST_CASE("CIFAR-10 reader rejects bad files with the file and record named", "[io][cifar]") {
    test::TempDir dir("cifar-bad");
    REQUIRE_THROWS_WITH(read_cifar10_file(dir / "missing.bin"), Catch::Contains("missing.bin") && Catch::Contains("not found"));
    write_cifar10_file(dir / "t.bin", tiny(3));
    std::filesystem::resize_file(dir / "t.bin", 3 * 3073 - 5);
    REQUIRE_THROWS_WITH(read_cifar10_file(dir / "t.bin"), Catch::Contains("t.bin") && Catch::Contains("whole number"));
    Cifar10 d = tiny(4);
    d.labels[2] = 11;
    write_cifar10_file(dir / "l.bin", d);
    REQUIRE_THROWS_WITH(read_cifar10_file(dir / "l.bin"), Catch::Contains("l.bin") && Catch::Contains("record 2") && Catch::Contains("label 11"));
}

TEST_CASE("real CIFAR-10 data, when prepared, has 50,000 + 10,000 images of 10 balanced classes", "[io][cifar][data]") {
    std::string dir = test::source_dir() + "/data/cifar-10-batches-bin";
    if (!std::filesystem::exists(dir + "/test_batch.bin")) {
        WARN("real CIFAR-10 not prepared (scripts/prepare-cifar10.sh); skipped");
        return;
    }
    Cifar10 test = read_cifar10_test(dir);
    REQUIRE(test.size() == 10000);
    int counts[10] = {};
    for (auto l : test.labels) counts[l]++;
    for (int c : counts) REQUIRE(c == 1000);
    REQUIRE(read_cifar10_train(dir).size() == 50000);
}

TEST_CASE("CIFAR-10 reader refuses a file larger than the whole data set before reading it", "[io][cifar]") {
    test::TempDir dir("cifar-huge");
    write_cifar10_file(dir / "h.bin", tiny(1));
    std::filesystem::resize_file(dir / "h.bin", std::uintmax_t{1000000} * 3073);  // sparse: nothing written
    REQUIRE_THROWS_WITH(read_cifar10_file(dir / "h.bin"), Catch::Contains("h.bin: 1000000 records, more than the whole CIFAR-10 set"));
}
