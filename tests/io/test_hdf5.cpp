// The HDF5 readers check what they read: one clear error naming file, object and value instead of
// a crash, a silent conversion or an attempt to allocate gigabytes (issue 14, item 4).
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <fstream>
#include <iterator>
#include <functional>
#include <string>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/core/sha256.hpp"
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

namespace {
std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void put_bytes(const std::string& path, const std::string& b) { std::ofstream(path, std::ios::binary) << b; }
void write_small(const std::string& path) {
    h5::AtomicWrite w(path);
    w.root().set_attr("filetype", "test");
    w.root().create("g").write("x", std::vector<double>{1.5, -2.0, 3.25});
    w.commit();
}
}  // namespace

TEST_CASE("every HDF5 file carries an integrity block that readers check before libhdf5 parses it", "[io][hdf5]") {
    test::TempDir dir("h5block");
    const std::string path = dir / "f.h5";
    write_small(path);
    const std::string b = bytes_of(path);
    REQUIRE(b.size() > h5::kIntegrityBlockBytes);
    // The block: magic, the size and the SHA-256 of the rest, NUL padding; the superblock follows.
    const std::string body = b.substr(h5::kIntegrityBlockBytes);
    const std::string head = "flashmc-hdf5-integrity 1\nbytes " + std::to_string(body.size()) + "\nsha256 " +
                             sha256_hex(body.data(), body.size()) + "\n";
    REQUIRE(b.substr(0, head.size()) == head);
    REQUIRE(b.substr(head.size(), h5::kIntegrityBlockBytes - head.size()) == std::string(h5::kIntegrityBlockBytes - head.size(), '\0'));
    REQUIRE(body.substr(0, 8) == "\x89HDF\r\n\x1a\n");
    REQUIRE(h5::open_read(path).open("g").read<double>("x") == std::vector<double>{1.5, -2.0, 3.25});

    // One flipped bit anywhere (the block, HDF5's metadata, the data, the padding) is refused.
    for (std::size_t at : {std::size_t{3}, head.size() + 5, h5::kIntegrityBlockBytes, h5::kIntegrityBlockBytes + 40,
                           b.size() / 2, b.size() - 1}) {
        std::string c = b;
        c[at] = static_cast<char>(c[at] ^ 0x10);
        put_bytes(dir / "c.h5", c);
        const auto e = error_of([&] { h5::open_read(dir / "c.h5"); });
        INFO("byte " << at << ": " << e);
        REQUIRE_THAT(e, Catch::Contains("c.h5: "));
        REQUIRE_THAT(e, Catch::Contains("corrupted") || Catch::Contains("truncated"));
    }
    put_bytes(dir / "t.h5", b.substr(0, b.size() - 100));
    REQUIRE_THAT(error_of([&] { h5::open_read(dir / "t.h5"); }),
                 Catch::Contains("t.h5: truncated or extended: its integrity block states " + std::to_string(body.size())));
    put_bytes(dir / "t.h5", b.substr(0, 100));
    REQUIRE_THAT(error_of([&] { h5::open_read(dir / "t.h5"); }), Catch::Contains("t.h5: truncated (100 bytes"));
    put_bytes(dir / "t.h5", b + "x");
    REQUIRE_THAT(error_of([&] { h5::open_read(dir / "t.h5"); }), Catch::Contains("truncated or extended"));
    put_bytes(dir / "t.h5", "");
    REQUIRE_THAT(error_of([&] { h5::open_read(dir / "t.h5"); }), Catch::Contains("t.h5: not a flashmc HDF5 file"));
    REQUIRE_THAT(error_of([&] { h5::open_read(dir / "none.h5"); }), Catch::Contains("none.h5: no such file"));
    REQUIRE_THAT(error_of([&] { h5::open_read(dir.path.string()); }), Catch::Contains("is a directory"));
}

TEST_CASE("edit_file rewrites a file with a fresh integrity block; stamp blesses files without one", "[io][hdf5]") {
    test::TempDir dir("h5stamp");
    const std::string path = dir / "f.h5";
    write_small(path);
    h5::edit_file(path, [](const h5::Group& root) { root.set_attr("count", 3); });
    REQUIRE(h5::open_read(path).attr_int("count") == 3);
    REQUIRE(h5::open_read(path).open("g").read<double>("x").size() == 3);
    REQUIRE_FALSE(h5::add_integrity_block(path));  // already valid: untouched

    // A file of another tool (no user block), with attributes of several types, groups and data.
    const std::string foreign = dir / "foreign.h5";
    {
        h5::Handle f(H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        h5::Group root(h5::Handle(H5Gopen2(f.id(), "/", H5P_DEFAULT)), foreign);
        root.set_attr("filetype", "test");
        root.set_attr("list", std::vector<std::int64_t>{-1, 3});
        root.set_attr("real", 2.5);
        root.create("g").create("h").write("x", std::vector<float>{1.0f, 2.0f});
    }
    REQUIRE_THAT(error_of([&] { h5::open_read(foreign); }),
                 Catch::Contains("foreign.h5: an HDF5 file without flashmc's integrity block") && Catch::Contains("flashmc stamp"));
    REQUIRE(h5::add_integrity_block(foreign));
    const auto root = h5::open_read(foreign);
    REQUIRE(root.attr_string("filetype") == "test");
    REQUIRE(root.attr_ints("list", -9, 9) == std::vector<std::int64_t>{-1, 3});
    REQUIRE(root.attr_double("real") == 2.5);
    REQUIRE(root.open("g").open("h").read<float>("x") == std::vector<float>{1.0f, 2.0f});
    REQUIRE_FALSE(h5::add_integrity_block(foreign));

    // A file whose block no longer matches is corrupted: never blessed.
    std::string b = bytes_of(path);
    b[b.size() - 1] = static_cast<char>(b[b.size() - 1] ^ 1);
    put_bytes(path, b);
    REQUIRE_THAT(error_of([&] { h5::add_integrity_block(path); }), Catch::Contains("corrupted"));
    REQUIRE_THAT(error_of([&] { h5::edit_file(path, [](const h5::Group&) {}); }), Catch::Contains("corrupted"));
    REQUIRE(bytes_of(path) == b);
    put_bytes(dir / "text.h5", "hello");
    REQUIRE_THAT(error_of([&] { h5::add_integrity_block(dir / "text.h5"); }), Catch::Contains("text.h5: not an HDF5 file"));
}

namespace {
// Every finite IEEE binary16 value, from its bits (sign, 5-bit exponent with bias 15, 10-bit mantissa).
std::vector<float> all_finite_halves() {
    std::vector<float> v;
    for (unsigned bits = 0; bits < 0x10000; ++bits) {
        const unsigned exponent = (bits >> 10) & 31, mantissa = bits & 1023;
        if (exponent == 31) continue;  // infinities and NaNs
        const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, static_cast<int>(exponent) - 25);
        v.push_back(static_cast<float>(bits & 0x8000 ? -magnitude : magnitude));
    }
    return v;
}
}  // namespace

TEST_CASE("half storage: binary16 values round-trip exactly, others round to nearest even, in the float16 layout of h5py", "[io][hdf5]") {
    test::TempDir dir("h5half");
    const std::string path = dir / "h.h5";
    const std::vector<float> halves = all_finite_halves();
    REQUIRE(halves.size() == 63488);
    // Ties go to the even neighbour; below half the smallest subnormal (2^-24) to zero.
    const std::vector<float> in{1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 0x1p-25f, 3 * 0x1p-25f, 0x1p-26f, 0.1f, -2049.0f, 65519.0f, 3.0e-8f};
    const std::vector<float> rne{1.0f, 1 + 0x1p-9f, 0.0f, 0x1p-23f, 0.0f, 0.0999755859375f, -2048.0f, 65504.0f, 0x1p-25f * 2};
    {
        h5::AtomicWrite w(path);
        auto& root = w.root();
        root.set_float_storage(h5::FloatStorage::Half);
        const auto g = root.create("graph");  // inherits the storage
        g.write("halves", halves);
        g.write("rounded", in);
        g.write("codes", std::vector<std::int8_t>{1, -2, 3});  // integers stay as they are
        REQUIRE_THAT(error_of([&] { g.write("big", std::vector<float>{1.0f, 65520.0f}); }),
                     Catch::Contains("dataset 'big' holds 65520 at index 1, beyond the half-precision range"));
        root.set_float_storage(h5::FloatStorage::Float32);
        root.write("plain", in);
        w.commit();
    }
    const auto root = h5::open_read(path);
    const auto g = root.open("graph");
    REQUIRE(g.read<float>("halves") == halves);
    REQUIRE(g.read<float>("rounded") == rne);
    REQUIRE(g.read<double>("rounded") == std::vector<double>(rne.begin(), rne.end()));
    REQUIRE(g.read<std::int8_t>("codes") == std::vector<std::int8_t>{1, -2, 3});
    REQUIRE(root.read<float>("plain") == in);
    REQUIRE_THAT(error_of([&] { g.read<std::int16_t>("rounded"); }), Catch::Contains("holds 16-bit floats, expected 16-bit integers"));
    auto stored = [&](const h5::Group& parent, const char* name) {
        h5::Handle ds(H5Dopen2(parent.id(), name, H5P_DEFAULT));
        h5::Handle type(H5Dget_type(ds.id()));
        std::size_t fields[5];
        REQUIRE(H5Tget_fields(type.id(), &fields[0], &fields[1], &fields[2], &fields[3], &fields[4]) >= 0);
        return std::vector<std::size_t>{H5Tget_size(type.id()), fields[0], fields[1], fields[2], fields[3], fields[4], H5Tget_ebias(type.id())};
    };
    // Size 2; sign bit 15, exponent at 10 (5 bits), mantissa at 0 (10 bits), bias 15.
    REQUIRE(stored(g, "halves") == std::vector<std::size_t>{2, 15, 10, 5, 0, 10, 15});
    REQUIRE(stored(root, "plain") == std::vector<std::size_t>{4, 31, 23, 8, 0, 23, 127});
}

TEST_CASE("scaled storage: tensors round to a decimal step of at most max/256 through the scale-offset filter, vectors go in binary16", "[io][hdf5]") {
    test::TempDir dir("h5scaled");
    const std::string path = dir / "s.h5";
    // Weight-like tensors over several decades of magnitude: the step is a power of ten between
    // max/2560 and max/256 (max 0.0731 -> 1e-4; max 3.9 -> 1e-2; max 400 -> 1).
    Stream r = Streams(5).at({1});
    std::vector<std::vector<float>> tensors;
    for (float scale : {0.0731f, 3.9f, 400.0f}) {
        std::vector<float> t(64 * 3 * 3 * 3);
        for (auto& v : t) v = scale * static_cast<float>(2 * r.uniform() - 1);
        t[17] = -scale;  // the largest magnitude is exactly `scale`
        tensors.push_back(t);
    }
    const std::vector<double> steps{1e-4, 1e-2, 1.0};
    const std::vector<float> vec{0.1f, 1 + 0x1p-11f, 3.0e-8f};  // rank 1: binary16
    std::vector<float> small(4 * 255, 0.123456f);               // rank 2 but under 4 KiB: binary16
    std::vector<float> zeros(64 * 27, 0.0f);
    {
        h5::AtomicWrite w(path);
        auto& root = w.root();
        root.set_float_storage(h5::FloatStorage::Scaled);
        const auto g = root.create("graph");
        for (std::size_t k = 0; k < tensors.size(); ++k) g.write("t" + std::to_string(k), tensors[k].data(), {64, 3, 3, 3});
        g.write("vec", vec);
        g.write("small", small.data(), {4, 255});
        g.write("zeros", zeros.data(), {64, 27});
        std::vector<float> bad = tensors[0];
        bad[5] = std::numeric_limits<float>::quiet_NaN();
        REQUIRE_THAT(error_of([&] { g.write("nan", bad.data(), {64, 27}); }),
                     Catch::Contains("dataset 'nan' holds nan at index 5, beyond the range of scaled storage"));
        bad[5] = 70000.0f;
        REQUIRE_THAT(error_of([&] { g.write("big", bad.data(), {64, 27}); }), Catch::Contains("dataset 'big' holds 70000 at index 5"));
        w.commit();
    }
    const auto g = h5::open_read(path).open("graph");
    for (std::size_t k = 0; k < tensors.size(); ++k) {
        const auto got = g.read<float>("t" + std::to_string(k));
        REQUIRE(got.size() == tensors[k].size());
        // HDF5 counts the steps from each chunk's minimum and rounds in float32: most values land
        // within half a step, every one within a step; never finer than the step chosen.
        double worst = 0;
        for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - double(tensors[k][i])));
        INFO("tensor " << k);
        REQUIRE(worst <= steps[k] * 1.001);
        REQUIRE(worst > 0.25 * steps[k]);
    }
    std::vector<float> vec_half, small_half;
    for (float v : vec) vec_half.push_back(static_cast<float>(Eigen::half(v)));
    for (float v : small) small_half.push_back(static_cast<float>(Eigen::half(v)));
    REQUIRE(g.read<float>("vec") == vec_half);
    REQUIRE(g.read<float>("small") == small_half);
    REQUIRE(g.read<float>("zeros") == zeros);
}

TEST_CASE("datasets from 4 KiB on are chunked, shuffled (floats) or packed (integers) and deflated, and a corrupted chunk is an Error", "[io][hdf5]") {
    test::TempDir dir("h5deflate");
    std::vector<float> weights(300 * 100);  // compressible
    for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>((i / 7) % 50) * 0.25f;
    const std::vector<std::int32_t> small(1023, 7);  // 4092 bytes: contiguous
    // 4-bit weight codes, uniform in [-7, 7] (no deflate gain to speak of: the packing does the work),
    // packed; integers over (nearly) the whole range of their type, shuffled instead (see write()).
    Stream r = Streams(11).at({1});
    std::vector<std::int8_t> codes(64 * 1024);
    for (auto& c : codes) c = static_cast<std::int8_t>(static_cast<int>(r.below(15)) - 7);
    std::vector<std::int64_t> wide(600);
    for (auto& v : wide) v = static_cast<std::int64_t>(r());
    wide[0] = std::numeric_limits<std::int64_t>::min();
    wide[1] = std::numeric_limits<std::int64_t>::max();
    std::vector<std::int32_t> negative(2000, -5);
    negative[3] = -1000000;
    std::vector<std::int8_t> codes8(8192, 3);  // 8-bit codes: range 254, one bit short of packing
    codes8[5] = -127, codes8[9] = 127;
    std::vector<std::int16_t> half_range(4096, 0);  // range 2^15 - 2: the widest range packed
    half_range[1] = -16383, half_range[2] = 16383;
    auto write = [&](const h5::Group& g) {
        g.write("weights", weights.data(), {300, 100});
        g.write("small", small);
        g.write("codes", codes.data(), {64, 1024});
        g.write("wide", wide);
        g.write("negative", negative);
        g.write("codes8", codes8);
        g.write("half_range", half_range);
    };
    {
        h5::AtomicWrite w(dir / "c.h5");
        write(w.root());
        w.commit();
    }
    const auto root = h5::open_read(dir / "c.h5");
    REQUIRE(root.read_shaped<float>("weights", {300, 100}) == weights);
    REQUIRE(root.read<std::int32_t>("small") == small);
    auto stored_bytes = [&](const char* name) {
        h5::Handle ds(H5Dopen2(root.id(), name, H5P_DEFAULT));
        return static_cast<std::size_t>(H5Dget_storage_size(ds.id()));
    };
    REQUIRE(stored_bytes("weights") < weights.size() * sizeof(float) / 4);
    auto layout = [&](const char* name) {
        h5::Handle ds(H5Dopen2(root.id(), name, H5P_DEFAULT));
        h5::Handle plist(H5Dget_create_plist(ds.id()));
        std::vector<int> filters;
        for (int i = 0; i < H5Pget_nfilters(plist.id()); ++i) {
            unsigned flags = 0, level = 0;
            std::size_t n = 1;
            filters.push_back(H5Pget_filter2(plist.id(), static_cast<unsigned>(i), &flags, &n, &level, 0, nullptr, nullptr));
        }
        return std::make_pair(H5Pget_layout(plist.id()), filters);
    };
    REQUIRE(layout("weights") == std::make_pair(H5D_CHUNKED, std::vector<int>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}));
    REQUIRE(layout("small") == std::make_pair(H5D_CONTIGUOUS, std::vector<int>{}));
    for (const char* name : {"codes", "negative", "half_range"})
        REQUIRE(layout(name) == std::make_pair(H5D_CHUNKED, std::vector<int>{H5Z_FILTER_SCALEOFFSET, H5Z_FILTER_DEFLATE}));
    for (const char* name : {"wide", "codes8"})
        REQUIRE(layout(name) == std::make_pair(H5D_CHUNKED, std::vector<int>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}));
    REQUIRE(root.read_shaped<std::int8_t>("codes", {64, 1024}) == codes);
    REQUIRE(root.read<std::int64_t>("wide") == wide);
    REQUIRE(root.read<std::int32_t>("negative") == negative);
    REQUIRE(root.read<std::int8_t>("codes8") == codes8);
    REQUIRE(root.read<std::int16_t>("half_range") == half_range);
    // 15 equally likely codes: log2(15) = 3.91 bits of information, stored in 4 bits (plus a few
    // bytes a chunk).
    REQUIRE(stored_bytes("codes") <= codes.size() / 2 + 256);

    // A file without flashmc's integrity block (which would catch the damage first), its
    // compressed chunk overwritten in the middle: the read fails with an Error naming the dataset.
    const std::string raw = dir / "raw.h5";
    haddr_t chunk_at = 0;
    hsize_t chunk_bytes = 0;
    {
        h5::Handle file(H5Fcreate(raw.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        write(h5::Group(h5::Handle(H5Gopen2(file.id(), "/", H5P_DEFAULT)), raw));
    }
    {
        h5::Handle file(H5Fopen(raw.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
        h5::Handle ds(H5Dopen2(file.id(), "weights", H5P_DEFAULT));
        h5::Handle space(H5Dget_space(ds.id()));
        unsigned mask = 0;
        REQUIRE(H5Dget_chunk_info(ds.id(), space.id(), 0, nullptr, &mask, &chunk_at, &chunk_bytes) >= 0);
    }
    REQUIRE(chunk_bytes > 64);
    {
        std::fstream f(raw, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(chunk_at + chunk_bytes / 2));
        const std::string junk(32, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    h5::Handle file(H5Fopen(raw.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    const h5::Group g(h5::Handle(H5Gopen2(file.id(), "/", H5P_DEFAULT)), raw);
    REQUIRE_THAT(error_of([&] { g.read<float>("weights"); }), Catch::Contains("raw.h5: cannot read dataset 'weights'"));
    REQUIRE(g.read<std::int32_t>("small") == small);
}
