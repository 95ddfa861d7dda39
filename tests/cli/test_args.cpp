// The command line: unknown help topics and stray arguments fail, an empty option value is an error
// (never the default), messages abbreviate the values they echo, and NaN, infinity and values out
// of an option's domain are refused with the option named.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

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

TEST_CASE("flashmc: numbers and counts out of their domain are refused with the option named", "[cli][args]") {
    // NaN and infinity mean nothing for any option (a NaN --checkpoint-s would never checkpoint).
    for (const char* args : {"sweep x.toml --checkpoint-s nan", "sweep x.toml --checkpoint-s inf", "train --out x.h5 --lr nan",
                             "train --out x.h5 --lr inf", "train --out x.h5 --momentum -nan", "check x.toml --checkpoint-s nan"}) {
        INFO(args);
        auto r = run_cli(args);
        REQUIRE(r.code == (std::string(args).starts_with("check") ? 4 : 1));  // check: exit 4 on any error
        REQUIRE_THAT(r.output, Catch::Contains("expects a finite number"));
    }
    const std::string card = flashmc::test::source_dir() + "/devices/nor40_cim.toml";
    for (const std::string& args : std::vector<std::string>{"sweep x.toml --checkpoint-s -1", "train --out x.h5 --seed -1", "train --out x.h5 --train-limit -5",
                                                             "train --out x.h5 --warmup-epochs -1", "cells --device " + card + " --level 1 --count 1000000000"}) {
        INFO(args);
        auto r = run_cli(args);
        REQUIRE(r.code == 1);
        const std::string option = args.substr(args.rfind("--"), args.rfind(' ') - args.rfind("--"));
        REQUIRE_THAT(r.output, Catch::Contains(option) && !Catch::Contains("internal error"));
    }
}
