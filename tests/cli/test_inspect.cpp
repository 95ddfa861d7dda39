// flashmc inspect on a committed retention sweep: the refresh intervals per temperature, the
// --yield targets, and their checks.
#include <catch2/catch.hpp>

#include "../test_util.hpp"
#include "flashmc/mc/refresh.hpp"

using namespace flashmc;

TEST_CASE("flashmc inspect prints a retention sweep's refresh intervals, for --yield targets too", "[cli][refresh]") {
    const std::string file = test::source_dir() + "/results/retention.h5";
    const auto r = test::run_cli("inspect " + file);
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE_THAT(r.output, Catch::Contains("refresh interval: retention time at which the yield (accuracy >= 85.00%)"));
    // The printed median of 25 °C at 90 % is the stored one, in days.
    const auto stored = mc::refresh_intervals(mc::read_results(file), std::vector<double>{0.9});
    REQUIRE(stored.size() == 3);
    char want[64];
    std::snprintf(want, sizeof want, "yield  90.00%%: %.3g d", stored[0].time_s / 86400);
    REQUIRE_THAT(r.output, Catch::Contains("temperature = 25") && Catch::Contains(want));
    const auto y = test::run_cli("inspect " + file + " --yield 0.5 --yield 0.8");
    REQUIRE(y.code == 0);
    REQUIRE_THAT(y.output, Catch::Contains("yield  50.00%") && Catch::Contains("yield  80.00%"));
    REQUIRE_THAT(y.output, !Catch::Contains("yield  90.00%"));
    const auto bad = test::run_cli("inspect " + file + " --yield 1.5");
    REQUIRE(bad.code == 1);
    REQUIRE_THAT(bad.output, Catch::Contains("--yield '1.5' is not a yield in (0, 1]"));
    // A sweep without a time axis prints none.
    const auto none = test::run_cli("inspect " + test::source_dir() + "/results/read_temperature.h5");
    REQUIRE(none.code == 0);
    REQUIRE_THAT(none.output, !Catch::Contains("refresh interval"));
}
