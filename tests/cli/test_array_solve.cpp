#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "../test_util.hpp"

using namespace flashmc;

namespace {
const std::string kExample = test::source_dir() + "/examples/array-solve";

void write(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
}
// A 3 x 2 tile in `dir` with the given overrides of the TOML body and CSVs.
std::string tile(const test::TempDir& dir, const std::string& r_bl = "2.0", const std::string& vth =
                 "1.2,1.3\n1.25,1.1\n1.4,1.0\n", const std::string& inputs = "1\n0.5\n1\n",
                 const std::string& r_sl = "1.0") {
    write(dir / "vth.csv", vth);
    write(dir / "in.csv", inputs);
    write(dir / "tile.toml", "rows = 3\ncols = 2\nr_bl_ohm = " + r_bl +
                                 "\nr_sl_ohm = " + r_sl + "\nread_vgs_v = 1.2\nread_vds_v = 0.1\ntemperature_c = 25.0\n"
                                 "device = \"" + test::source_dir() + "/devices/nor40_cim.toml\"\n"
                                 "vth_csv = \"vth.csv\"\ninputs_csv = \"in.csv\"\n");
    return dir / "tile.toml";
}
}  // namespace

TEST_CASE("flashmc array-solve runs the shipped example and writes one line per bit line", "[cli][array]") {
    test::TempDir dir("array-solve");
    const auto r = test::run_cli("array-solve --tile " + kExample + "/tile.toml --out " + (dir / "c.csv"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE(r.output.find("largest relative error of the fast model") != std::string::npos);
    std::ifstream f(dir / "c.csv");
    std::string line;
    std::getline(f, line);
    REQUIRE(line == "column,ideal_current_a,exact_current_a,fast_current_a");
    int n = 0;
    while (std::getline(f, line)) {
        int col = -1;
        double ideal = 0, exact = 0, fast = 0;
        REQUIRE(std::sscanf(line.c_str(), "%d,%lf,%lf,%lf", &col, &ideal, &exact, &fast) == 4);
        REQUIRE(col == n++);
        REQUIRE(exact > 0);
        REQUIRE(exact < ideal);  // wire resistance only ever lowers the bit-line current
        // The fast model recovers most of the drop (example: 17 % drop on column 3, model error 5 %).
        REQUIRE(std::abs(fast - exact) < 0.5 * (ideal - exact));
    }
    REQUIRE(n == 4);
}

TEST_CASE("flashmc array-solve with zero resistance reproduces the ideal currents", "[cli][array]") {
    test::TempDir dir("array-solve-zero");
    const auto r = test::run_cli("array-solve --tile " + tile(dir, "0.0", "1.2,1.3\n1.25,1.1\n1.4,1.0\n", "1\n0.5\n1\n", "0.0") + " --out " + (dir / "c.csv"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    std::ifstream f(dir / "c.csv");
    std::string line;
    std::getline(f, line);
    while (std::getline(f, line)) {
        int col = -1;
        double ideal = 0, exact = 0, fast = 0;
        REQUIRE(std::sscanf(line.c_str(), "%d,%lf,%lf,%lf", &col, &ideal, &exact, &fast) == 4);
        REQUIRE(exact == Approx(ideal).epsilon(1e-12));
        REQUIRE(fast == Approx(exact).epsilon(1e-6));  // float accumulation
    }
}

TEST_CASE("flashmc array-solve rejects bad tiles with clear errors", "[cli][array]") {
    test::TempDir dir("array-solve-bad");
    auto run = [&](const std::string& toml) { return test::run_cli("array-solve --tile " + toml + " --out " + (dir / "c.csv")); };
    auto r = run(tile(dir, "-1.0"));
    REQUIRE(r.code != 0);
    REQUIRE(r.output.find("r_bl_ohm") != std::string::npos);
    REQUIRE(r.output.find("out of range") != std::string::npos);
    r = run(tile(dir, "2.0", "1.2,1.3\n1.25,1.1\n"));
    REQUIRE(r.code != 0);
    REQUIRE(r.output.find("vth.csv: expected 3 rows of 2 values, got 2 rows") != std::string::npos);
    r = run(tile(dir, "2.0", "1.2,1.3\n1.25,1.1,1.0\n1.4,1.0\n"));
    REQUIRE(r.code != 0);
    REQUIRE(r.output.find("vth.csv: line 2: expected 2 values, got 3") != std::string::npos);
    r = run(tile(dir, "2.0", "1.2,1.3\n1.25,abc\n1.4,1.0\n"));
    REQUIRE(r.output.find("'abc' is not a number") != std::string::npos);
    r = run(tile(dir, "2.0", "1.2,1.3\n1.25,1.1\n1.4,1.0\n", "1\n1\n"));
    REQUIRE(r.code != 0);
    REQUIRE(r.output.find("in.csv: expected 3 rows of 1 values, got 2 rows") != std::string::npos);
    r = run(tile(dir, "2.0", "1.2,1.3\n1.25,1.1\n1.4,1.0\n", "1\n1.5\n0\n"));
    REQUIRE(r.code != 0);
    REQUIRE(r.output.find("input of row 1 = 1.5 is out of range [0, 1]") != std::string::npos);
    write(dir / "typo.toml", "rows = 3\ncols = 2\nr_bl_ohms = 1\n");
    r = run(dir / "typo.toml");
    REQUIRE(r.code != 0);
    REQUIRE(r.output.find("r_bl_ohm") != std::string::npos);
}

TEST_CASE("flashmc array-solve flags a fast result outside the model's range for every model, as a sweep would stop (auto: solve exactly)",
          "[cli][array]") {
    test::TempDir dir("array-solve-range");
    // 64 rows of top-level cells on the µA card at 10 ohm per pitch: the linear first pass loses
    // far more than 20 %, where the corrections diverge (feedback once printed a drop of 0 here).
    std::string vth, inputs;
    for (int r = 0; r < 64; ++r) vth += "1.378,1.378\n", inputs += "1\n";
    write(dir / "vth.csv", vth);
    write(dir / "in.csv", inputs);
    write(dir / "tile.toml", "rows = 64\ncols = 2\nr_bl_ohm = 10.0\nr_sl_ohm = 10.0\nread_vgs_v = 1.6\nread_vds_v = 0.1\n"
                             "temperature_c = 25.0\ndevice = \"" + test::source_dir() + "/devices/nor_cim_ua.toml\"\n"
                             "vth_csv = \"vth.csv\"\ninputs_csv = \"in.csv\"\n");
    for (const char* model : {"linear", "curvature", "feedback", "auto"}) {
        CAPTURE(model);
        const auto r = test::run_cli("array-solve --tile " + dir / "tile.toml --out " + dir / "c.csv --fast-model " + model);
        INFO(r.output);
        REQUIRE(r.code == 0);
        REQUIRE_THAT(r.output, std::string(model) == "auto" ? Catch::Contains("OUTSIDE the fast models' range: a sweep solves this tile exactly")
                                                            : Catch::Contains("OUTSIDE its range: a sweep stops here"));
    }
    // Bit-line-dominated wiring: a sweep refuses it for every fast model but auto (which solves exactly).
    write(dir / "bl.toml", "rows = 64\ncols = 2\nr_bl_ohm = 10.0\nr_sl_ohm = 1.0\nread_vgs_v = 1.6\nread_vds_v = 0.1\n"
                           "temperature_c = 25.0\ndevice = \"" + test::source_dir() + "/devices/nor_cim_ua.toml\"\n"
                           "vth_csv = \"vth.csv\"\ninputs_csv = \"in.csv\"\n");
    for (const char* model : {"linear", "auto"}) {
        CAPTURE(model);
        const auto r = test::run_cli("array-solve --tile " + dir / "bl.toml --out " + dir / "c.csv --fast-model " + model);
        INFO(r.output);
        REQUIRE(r.code == 0);
        REQUIRE_THAT(r.output, std::string(model) == "auto" ? Catch::Contains("a sweep solves this tile exactly")
                                                            : Catch::Contains("validated wiring (r_BL > 3 r_SL): a sweep refuses it"));
    }
}
