// The command line: unknown help topics and stray arguments fail, an empty option value is an error
// (never the default), and messages abbreviate the values they echo.
#include <catch2/catch.hpp>

#include "../test_util.hpp"

using flashmc::test::run_cli;

TEST_CASE("flashmc help and commands refuse unknown topics and stray arguments", "[cli][args]") {
    auto h = run_cli("help nosuch");
    REQUIRE(h.code == 2);
    REQUIRE_THAT(h.output, Catch::Contains("unknown command 'nosuch'"));
    REQUIRE(run_cli("help models").code == 0);
    auto m = run_cli("models nosuch");
    REQUIRE(m.code == 1);
    REQUIRE_THAT(m.output, Catch::Contains("models: unexpected argument 'nosuch'"));
    REQUIRE(run_cli("version extra").code == 1);
    REQUIRE(run_cli("models").code == 0);
}

TEST_CASE("flashmc: an empty option value is an error, not the default", "[cli][args]") {
    for (const char* args : {"models --layers ''", "eval --model x.h5 --threads=", "eval --model x.h5 --limit ''",
                             "merge a.h5 --out ''", "cells --device '' --level 1"}) {
        INFO(args);
        auto r = run_cli(args);
        REQUIRE(r.code == 1);
        REQUIRE_THAT(r.output, Catch::Contains("needs a value"));
    }
}

TEST_CASE("flashmc: error messages abbreviate long values", "[cli][args]") {
    const std::string huge(20000, '7');
    auto r = run_cli("eval --model x.h5 --limit 1" + huge + "x");
    REQUIRE(r.code == 1);
    REQUIRE_THAT(r.output, Catch::Contains("expects an integer") && Catch::Contains("\u2026 (20002 bytes)"));
    REQUIRE(r.output.size() < 400);
    auto u = run_cli("models --" + huge);
    REQUIRE(u.code == 1);
    REQUIRE(u.output.size() < 400);
}
