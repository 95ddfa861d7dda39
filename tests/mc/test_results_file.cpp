// A sweep result file is checked on read (attributes in range, dataset shapes from them, values the
// statistics index by), so that inspect, merge and resume stop with one clear error (issue 14, item 4).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/sweep.hpp"
#include "../../fuzz/seeds.hpp"

using namespace flashmc;

namespace {
mc::SweepResults tiny_results() { return fuzz::tiny_sweep_results(); }
std::string read_error(const test::TempDir& dir, const std::function<void(const h5::Group&)>& edit) {
    const std::string path = dir / "r.h5";
    mc::write_results(path, tiny_results());
    h5::edit_file(path, edit);
    try {
        mc::read_results(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
template <class T>
void replace(const h5::Group& g, const std::string& name, const std::vector<T>& v, const h5::Dims& dims) {
    H5Ldelete(g.id(), name.c_str(), H5P_DEFAULT);
    g.write(name, v.data(), dims);
}
}  // namespace

TEST_CASE("a sweep result file with bad attributes or datasets is refused with one error", "[mc][results]") {
    test::TempDir dir("results-bad");
    REQUIRE(read_error(dir, [](const h5::Group&) {}).empty());
    REQUIRE(mc::read_results(dir / "r.h5").units_done() == 3);
    // shard_count 0 divided by zero in complete() (inspect, resume).
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("shard_count", 0); }),
                 Catch::Contains("r.h5: attribute 'shard_count' = 0 is out of range [1, 1048576]"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("shard_index", 1); }), Catch::Contains("'shard_index' = 1 is out of range [0, 0]"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("schema_version", 9); }), Catch::Contains("sweep schema version 9 is not supported"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("points", std::vector<double>{2, 2}); }),
                 Catch::Contains("attribute 'points' holds 2 values, expected one"));
    // Sizes that would ask for gigabytes are refused before any dataset is read.
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("images", 1000000), g.set_attr("capacity", 100000); }),
                 Catch::Contains("200000 chips x 1000000 images exceed 1073741824 predictions"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("capacity", 3); }), Catch::Contains("dataset 'done' has shape [2, 2], expected [2, 3]"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("points", 3); }), Catch::Contains("the axes make 2 points, the file says 3"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("spec_accuracy", 2.0); }), Catch::Contains("'spec_accuracy' = 2 is neither NaN"));
    // Transposed predictions; values the statistics index by.
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { replace(g, "predictions", std::vector<std::int8_t>(20, 0), {5, 4}); }),
                 Catch::Contains("dataset 'predictions' has shape [5, 4], expected [4, 5]"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { replace(g, "labels", std::vector<std::uint8_t>{1, 2, 3, 4, 12}, {5}); }), Catch::Contains("image 4: label 12"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) {
                     H5Ldelete(g.id(), "done", H5P_DEFAULT);
                     const std::uint8_t done[4] = {1, 2, 1, 0};
                     g.write("done", done, {2, 2});
                 }),
                 Catch::Contains("dataset 'done' holds 2 for unit 1"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) {
                     H5Ldelete(g.id(), "accuracy", H5P_DEFAULT);
                     const double acc[4] = {0.8, NAN, 0.4, NAN};
                     g.write("accuracy", acc, {2, 2});
                 }),
                 Catch::Contains("unit 1 is done with accuracy nan"));
    // Content a sweep never writes (a forged or re-stamped file): a prediction that is no class, an
    // accuracy its predictions do not give, summary attributes that disagree, a NaN axis value.
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { replace(g, "predictions", std::vector<std::int8_t>(20, 100), {4, 5}); }),
                 Catch::Contains("unit 0, image 0: prediction 100 is not a class"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) {
                     auto acc = g.read<double>("accuracy");
                     acc[0] = acc[0] > 0.5 ? 0.0 : 1.0;
                     replace(g, "accuracy", acc, {2, 2});
                 }),
                 Catch::Contains("unit 0 is done with accuracy") && Catch::Contains("but its predictions give"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("complete", 7); }), Catch::Contains("disagree with the file's 3 units done"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.set_attr("units_done", 999); }), Catch::Contains("units_done = 999"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) {
                     const h5::Group axes = g.open("axes");
                     const std::string name = axes.attr_string("names");
                     auto v = axes.read<double>(name);
                     v[0] = NAN;
                     replace(axes, name, v, {v.size()});
                 }),
                 Catch::Contains("holds the value nan, expected a finite number"));
    REQUIRE_THAT(read_error(dir, [](const h5::Group& g) { g.open("layers").set_attr("names", std::string("fc,extra")); }),
                 Catch::Contains("dataset 'stream_keys' has shape [2, 2, 1], expected [2, 2, 2]"));
}
