#include <catch2/catch.hpp>

#include <fstream>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"

using namespace flashmc;

namespace {
const char* kText = R"(
title = "sweep"
[variation]
sigma_vth_v = 0.05
count = 3
enabled = true
mode = "verify"
temps_c = [25, 85.5]
[outer.inner]
x = 1
)";

struct Read {
    std::string title, mode;
    double sigma = 0;
    int count = 0;
    bool enabled = false;
    std::vector<double> temps;
    double x = 0, absent = 42;
};

Read read_all(TomlDocument& doc) {
    Read r;
    doc.root().read("title", r.title);
    auto v = doc.section("variation");
    v.read("sigma_vth_v", r.sigma, Range{0, 1});
    v.read("count", r.count, Range{1, 10});
    v.read("enabled", r.enabled);
    v.read("mode", r.mode, {"verify", "open-loop"});
    v.read("temps_c", r.temps, Range{-60, 200});
    v.read("absent", r.absent, Range{0, 100});
    doc.section("outer").section("inner").read("x", r.x, Range{0, 2});
    doc.finish();
    return r;
}
}  // namespace

TEST_CASE("strict TOML reads typed values and keeps defaults for absent keys", "[io][toml]") {
    auto doc = TomlDocument::from_string(kText, "s.toml");
    const Read r = read_all(doc);
    REQUIRE(r.title == "sweep");
    REQUIRE(r.sigma == 0.05);
    REQUIRE(r.count == 3);
    REQUIRE(r.enabled);
    REQUIRE(r.mode == "verify");
    REQUIRE(r.temps == std::vector<double>{25, 85.5});
    REQUIRE(r.x == 1.0);  // an integer is a valid number
    REQUIRE(r.absent == 42);
    REQUIRE(doc.text() == kText);
}

TEST_CASE("strict TOML names unknown keys and sections with the closest valid one", "[io][toml]") {
    auto doc = TomlDocument::from_string(std::string(kText) + "[variation2]\n", "s.toml");
    REQUIRE_THROWS_WITH(read_all(doc), Catch::Contains("s.toml: unknown section [variation2]; did you mean [variation]?"));
    REQUIRE_THROWS_WITH(TomlDocument::from_string(std::string(kText) + "[outer.inner]\ny = 2\n", "dup.toml"),
                        Catch::Contains("dup.toml:"));  // a table defined twice is a parse error with a position
    auto doc3 = TomlDocument::from_string(std::string(kText) + "[variation.extra]\nsigma_vht_v = 1\n", "s.toml");
    REQUIRE_THROWS_WITH(read_all(doc3), Catch::Contains("unknown section [variation.extra]"));
    auto doc4 = TomlDocument::from_string("titel = \"x\"\n", "t.toml");
    REQUIRE_THROWS_WITH(read_all(doc4), Catch::Contains("t.toml: unknown key 'titel' at top level; did you mean 'title'?"));
    auto doc5 = TomlDocument::from_string("[variation]\nzzzzzz = 1\n", "t.toml");
    REQUIRE_THROWS_WITH(read_all(doc5), Catch::Contains("unknown key 'zzzzzz' in [variation]; valid keys: absent, count"));
}

TEST_CASE("strict TOML rejects wrong types and out-of-range values with key, value and range", "[io][toml]") {
    auto bad = [](const std::string& from, const std::string& to) {
        std::string t = kText;
        t.replace(t.find(from), from.size(), to);
        return TomlDocument::from_string(t, "s.toml");
    };
    auto d1 = bad("sigma_vth_v = 0.05", "sigma_vth_v = 1.5");
    REQUIRE_THROWS_WITH(read_all(d1), Catch::Equals("s.toml: key 'variation.sigma_vth_v' = 1.5 is out of range [0, 1]"));
    auto d2 = bad("count = 3", "count = 2.5");
    REQUIRE_THROWS_WITH(read_all(d2), Catch::Contains("key 'variation.count' must be an integer, got floating-point 2.5"));
    auto d3 = bad("enabled = true", "enabled = 1");
    REQUIRE_THROWS_WITH(read_all(d3), Catch::Contains("key 'variation.enabled' must be true or false"));
    auto d4 = bad("mode = \"verify\"", "mode = \"verfiy\"");
    REQUIRE_THROWS_WITH(read_all(d4), Catch::Contains("= \"verfiy\" is not one of: verify, open-loop"));
    auto d5 = bad("temps_c = [25, 85.5]", "temps_c = [25, 850]");
    REQUIRE_THROWS_WITH(read_all(d5), Catch::Contains("key 'variation.temps_c[1]' = 850 is out of range [-60, 200]"));
    auto d6 = bad("sigma_vth_v = 0.05", "sigma_vth_v = nan");
    REQUIRE_THROWS_WITH(read_all(d6), Catch::Contains("is out of range"));
    auto d7 = bad("count = 3", "count = 11");
    REQUIRE_THROWS_WITH(read_all(d7), Catch::Contains("key 'variation.count' = 11 is out of range [1, 10]"));
}

TEST_CASE("strict TOML overrides are validated like file values and named in errors", "[io][toml]") {
    auto doc = TomlDocument::from_string(kText, "s.toml");
    doc.set_all({"variation.sigma_vth_v=0.2", "variation.mode=open-loop", "outer.inner.x = 2", "variation.absent=7"});
    const Read r = read_all(doc);
    REQUIRE(r.sigma == 0.2);
    REQUIRE(r.mode == "open-loop");  // a bare word is a string
    REQUIRE(r.x == 2.0);
    REQUIRE(r.absent == 7.0);
    REQUIRE(doc.text().find("# --set variation.sigma_vth_v=0.2") != std::string::npos);

    auto d1 = TomlDocument::from_string(kText, "s.toml");
    d1.set("variation.sigma_vth_v=2");
    REQUIRE_THROWS_WITH(read_all(d1), Catch::Equals("s.toml (--set variation.sigma_vth_v=2): key 'variation.sigma_vth_v' = 2 is out of range [0, 1]"));
    auto d2 = TomlDocument::from_string(kText, "s.toml");
    d2.set("variation.sigma_vt_v=0.1");
    REQUIRE_THROWS_WITH(read_all(d2), Catch::Contains("s.toml (--set variation.sigma_vt_v=0.1): unknown key 'sigma_vt_v' in [variation]; did you mean 'sigma_vth_v'?"));
    auto d3 = TomlDocument::from_string(kText, "s.toml");
    REQUIRE_THROWS_WITH(d3.set("title.x=1"), Catch::Contains("'title' is a value, not a table"));
    REQUIRE_THROWS_WITH(d3.set("=1"), Catch::Contains("not of the form section.key=value"));
    REQUIRE_THROWS_WITH(d3.set("a..b=1"), Catch::Contains("not of the form section.key=value"));
    // Text that is not TOML is a string (a path too), unless it was meant as an array, a table, a
    // quoted string or a number and does not parse, or holds control characters.
    auto d4 = TomlDocument::from_string(kText, "s.toml");
    d4.set("variation.mode=a/b-c.h5");
    REQUIRE_THROWS_WITH(read_all(d4), Catch::Contains("'variation.mode' = \"a/b-c.h5\" is not one of"));  // read as a string
    d4.set("variation.mode=2024-model_1.h5");  // starts like a number, but is a name: a string
    for (const char* typo : {"variation.mode=[1, 2", "variation.mode={x = 1", "variation.mode=\"open", "variation.mode='open",
                             "variation.seed=18446744073709551615", "variation.sigma_vth_v=1..5", "variation.sigma_vth_v=1e"})
        REQUIRE_THROWS_WITH(d4.set(typo), Catch::Contains("the value does not parse as TOML"));
    REQUIRE_THROWS_WITH(d4.set(std::string("variation.mode=a") + '\x01' + "b"), Catch::Contains("the value does not parse as TOML"));
}

TEST_CASE("strict TOML reports parse errors and missing files with their position and path", "[io][toml]") {
    REQUIRE_THROWS_WITH(TomlDocument::from_string("a = 1\nb = = 2\n", "p.toml"), Catch::StartsWith("p.toml:2:") && Catch::Contains("TOML parse error"));
    REQUIRE_THROWS_WITH(TomlDocument::from_file("/nonexistent/x.toml"), Catch::Contains("/nonexistent/x.toml: cannot open"));
    test::TempDir dir("toml");
    std::ofstream(dir / "f.toml") << "[s]\nk = 1\n";
    auto doc = TomlDocument::from_file(dir / "f.toml");
    long k = 0;
    doc.section("s").require("k", k, Range{0, 5});
    double m = 0;
    REQUIRE_THROWS_WITH(doc.section("s").require("missing", m, Range{0, 1}), Catch::Contains("missing required key 's.missing'"));
    REQUIRE(k == 1);
    REQUIRE(edit_distance("sigma_vt_v", "sigma_vth_v") == 1);
    REQUIRE(edit_distance("", "abc") == 3);
}

TEST_CASE("strict TOML echoes at most a short excerpt of a value, and refuses endless files", "[io][toml]") {
    const std::string huge(1 << 20, 'z');
    auto doc = TomlDocument::from_string("[variation]\nsigma_vth_v = \"" + huge + "\"\nmode = \"" + huge + "\"\n" + huge + " = 1\n", "s.toml");
    std::string message;
    try {
        double sigma = 0;
        doc.section("variation").read("sigma_vth_v", sigma, Range{0, 1});
    } catch (const Error& e) {
        message = e.what();
    }
    REQUIRE_THAT(message, Catch::Contains("must be a number, got string") && Catch::Contains("\u2026"));
    REQUIRE(message.size() < 300);
    std::string mode;
    REQUIRE_THROWS_WITH(doc.section("variation").read("mode", mode, {"verify"}), Catch::Contains("is not one of: verify") && !Catch::Contains(huge));
    REQUIRE_THROWS_WITH(doc.finish(), Catch::Contains("unknown key 'zzz") && !Catch::Contains(huge));
    REQUIRE_THROWS_WITH(TomlDocument::from_file("/dev/zero"), Catch::Contains("/dev/zero: more than 16777216 bytes"));
}
