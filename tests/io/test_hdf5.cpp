// The HDF5 readers check what they read: one clear error naming file, object and value instead of
// a crash, a silent conversion or an attempt to allocate gigabytes (issue 14, item 4).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/hdf5.hpp"

using namespace flashmc;

namespace {
// Writes attributes and datasets with the raw C API, in shapes and types the writers never use.
void raw_attr(const h5::Group& g, const std::string& name, hid_t type, const h5::Dims& dims, const void* data) {
    h5::Handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    h5::Handle a(H5Acreate2(g.id(), name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT));
    REQUIRE(H5Awrite(a.id(), type, data) >= 0);
}
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("HDF5 attribute readers check shape, type and range", "[io][hdf5]") {
    test::TempDir dir("h5attr");
    const std::string path = dir / "a.h5";
    {
        h5::AtomicWrite w(path);
        const auto& g = w.root();
        const std::int64_t three[3] = {4, 5, 6};
        raw_attr(g, "array", H5T_NATIVE_INT64, {3}, three);
        const double two_and_half = 2.5, inf = INFINITY, big = 1e9, exact = 7.0;
        raw_attr(g, "half", H5T_NATIVE_DOUBLE, {}, &two_and_half);
        raw_attr(g, "inf", H5T_NATIVE_DOUBLE, {}, &inf);
        raw_attr(g, "big", H5T_NATIVE_DOUBLE, {}, &big);
        raw_attr(g, "exact", H5T_NATIVE_DOUBLE, {}, &exact);
        const std::uint64_t huge = ~std::uint64_t{0};
        raw_attr(g, "huge", H5T_NATIVE_UINT64, {}, &huge);
        h5::Handle strs(H5Tcopy(H5T_C_S1));
        H5Tset_size(strs.id(), 2);
        raw_attr(g, "strings", strs.id(), {2}, "abcd");
        g.set_attr("name", std::string(5000, 'x'));
        g.set_attr("count", 12);
        g.set_attr("list", std::vector<std::int64_t>{-1, 3});
        w.commit();
    }
    const auto g = h5::open_read(path);
    // An array where one value is expected: before, HDF5 wrote all of it over the scalar (stack overflow).
    REQUIRE_THAT(error_of([&] { g.attr_int("array"); }), Catch::Contains("a.h5: attribute 'array' holds 3 values, expected one"));
    REQUIRE_THAT(error_of([&] { g.attr_double("array"); }), Catch::Contains("holds 3 values, expected one"));
    REQUIRE_THAT(error_of([&] { g.attr_string("strings"); }), Catch::Contains("attribute 'strings' holds 2 values, expected one string"));
    // Integers: ranges, and floats only when they hold an exact integer.
    REQUIRE(g.attr_int("count", 1, 12) == 12);
    REQUIRE_THAT(error_of([&] { g.attr_int("count", 1, 8); }), Catch::Contains("attribute 'count' = 12 is out of range [1, 8]"));
    REQUIRE(g.attr_int("exact", 0, 10) == 7);
    REQUIRE_THAT(error_of([&] { g.attr_int("half", 0, 10); }), Catch::Contains("attribute 'half' = 2.5 is not an integer"));
    REQUIRE_THAT(error_of([&] { g.attr_int("inf", 0, 10); }), Catch::Contains("attribute 'inf' = inf is not an integer"));
    REQUIRE_THAT(error_of([&] { g.attr_int("big", 0, 64); }), Catch::Contains("attribute 'big' = 1000000000 is out of range [0, 64]"));
    REQUIRE_THAT(error_of([&] { g.attr_int("huge"); }), Catch::Contains("is out of range"));
    REQUIRE_THAT(error_of([&] { g.attr_double("inf", 0, 1); }), Catch::Contains("attribute 'inf' = inf is out of range [0, 1]"));
    REQUIRE(std::isinf(g.attr_double("inf")));
    REQUIRE_THAT(error_of([&] { g.attr_int("name"); }), Catch::Contains("attribute 'name' holds strings, expected a number"));
    REQUIRE_THAT(error_of([&] { g.attr_string("count"); }), Catch::Contains("attribute 'count' is not a string"));
    REQUIRE(g.attr_ints("list", -1, 3) == std::vector<std::int64_t>{-1, 3});
    REQUIRE_THAT(error_of([&] { g.attr_ints("list", 0, 3); }), Catch::Contains("attribute 'list'[0] = -1 is out of range [0, 3]"));
    REQUIRE_THAT(error_of([&] { g.attr_ints("array", 0, 9, 2); }), Catch::Contains("attribute 'array' has shape [3]: too large"));
    REQUIRE_THAT(error_of([&] { g.attr_int("nope"); }), Catch::Contains("missing attribute 'nope'"));
}

TEST_CASE("HDF5 dataset readers check shape and type before allocating", "[io][hdf5]") {
    test::TempDir dir("h5data");
    const std::string path = dir / "d.h5";
    {
        h5::AtomicWrite w(path);
        const auto& g = w.root();
        const float m[6] = {1, 2, 3, 4, 5, 6};
        g.write("m", m, {2, 3});
        g.write("wide", std::vector<std::int32_t>{1, 300});
        // A flipped extent: 2^40 values announced, none stored (a chunked dataset allocates lazily).
        const h5::Dims huge{hsize_t{1} << 40};
        h5::Handle space(H5Screate_simple(1, huge.data(), nullptr));
        h5::Handle plist(H5Pcreate(H5P_DATASET_CREATE));
        const hsize_t chunk = 1024;
        H5Pset_chunk(plist.id(), 1, &chunk);
        h5::Handle ds(H5Dcreate2(g.id(), "huge", H5T_NATIVE_DOUBLE, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT));
        REQUIRE(ds.id() >= 0);
        w.commit();
    }
    const auto g = h5::open_read(path);
    REQUIRE(g.read_shaped<float>("m", {2, 3}).size() == 6);
    // A transposed dataset has the right number of values but the wrong shape.
    REQUIRE_THAT(error_of([&] { g.read_shaped<float>("m", {3, 2}); }), Catch::Contains("d.h5: dataset 'm' has shape [2, 3], expected [3, 2]"));
    REQUIRE_THAT(error_of([&] { g.read_shaped<double>("huge", {16}); }), Catch::Contains("has shape [1099511627776], expected [16]"));
    REQUIRE_THAT(error_of([&] { g.read<double>("huge"); }), Catch::Contains("dataset 'huge' has shape [1099511627776]: too large to read"));
    // Types: floats never read as integers; integers only into a type that holds them.
    REQUIRE_THAT(error_of([&] { g.read<std::int8_t>("m"); }), Catch::Contains("dataset 'm' holds 32-bit floats, expected 8-bit integers"));
    REQUIRE_THAT(error_of([&] { g.read<std::int8_t>("wide"); }), Catch::Contains("holds 32-bit integers, expected 8-bit integers"));
    REQUIRE(g.read<std::int64_t>("wide") == std::vector<std::int64_t>{1, 300});
    REQUIRE(g.read<double>("wide") == std::vector<double>{1, 300});
}

TEST_CASE("error messages abbreviate the values they echo", "[io][hdf5]") {
    REQUIRE(abbreviate("short") == "short");
    const std::string cut = abbreviate(std::string(1 << 20, 'a'));
    REQUIRE(cut.size() < 120);
    REQUIRE_THAT(cut, Catch::Contains("\u2026 (1048576 bytes)"));
    // Never inside a UTF-8 character.
    std::string mu;
    for (int i = 0; i < 100; ++i) mu += "\u03bc";
    REQUIRE(abbreviate(mu, 81).rfind(mu.substr(0, 80) + "\u2026", 0) == 0);
}
