#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "../test_util.hpp"
#include "flashmc/io/hdf5.hpp"

using namespace flashmc;

namespace {
const std::string kCard = test::source_dir() + "/devices/nor40_cim.toml";
}

TEST_CASE("flashmc cells writes per-cell CSV and prints a summary", "[cli][cells]") {
    test::TempDir dir("cells-csv");
    const auto r = test::run_cli("cells --device " + kCard + " --level 3 --count 200 --age-s 1e6 --temp-c 85 --out " + (dir / "c.csv"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE(r.output.find("I_read / I_target") != std::string::npos);
    REQUIRE(r.output.find("program failures") != std::string::npos);
    std::ifstream f(dir / "c.csv");
    std::string header, line;
    std::getline(f, header);
    REQUIRE(header.rfind("cell,level,slope_n,vth_offset_v,beta,vth_erased_v,vth_programmed_v,vth_aged_v,pulses", 0) == 0);
    int rows = 0;
    while (std::getline(f, line)) {
        ++rows;
        REQUIRE(std::count(line.begin(), line.end(), ',') == 12);
    }
    REQUIRE(rows == 200);
}

TEST_CASE("flashmc cells writes HDF5 that reads back with provenance", "[cli][cells]") {
    test::TempDir dir("cells-h5");
    const auto r = test::run_cli("cells --device " + kCard + " --level 7 --count 300 --program statistical --cycles 1000 " +
                                 "--read-temp-c 60 --set read_noise.current_sigma_rel=0.01 --out " + (dir / "c.h5"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    auto root = h5::open_read(dir / "c.h5");
    REQUIRE(root.attr_string("filetype") == "flashmc.cells");
    REQUIRE(root.attr_string("program") == "statistical");
    REQUIRE(root.attr_int("level") == 7);
    REQUIRE(root.attr_double("read_temperature_c") == 60.0);
    REQUIRE(root.attr_string("card_text").find("--set read_noise.current_sigma_rel=0.01") != std::string::npos);
    const auto current = root.read<float>("read_current_a");
    REQUIRE(current.size() == 300);
    const auto pulses = root.read<std::int32_t>("pulses");
    REQUIRE(pulses.size() == 300);
    for (float i : current) REQUIRE(i > 0);
    // A second, independent read of the same cells: only the read noise differs (1 % current noise and
    // RTN: every cell reads differently, none by more than a few σ).
    const auto second = root.read<float>("read_current_2_a");
    REQUIRE(second.size() == 300);
    int differ = 0;
    for (std::size_t i = 0; i < 300; ++i) {
        differ += second[i] != current[i];
        REQUIRE(std::abs(std::log(second[i] / current[i])) < 0.3);
    }
    REQUIRE(differ == 300);
}

TEST_CASE("flashmc cells: the read-to-read noise of two reads is one read's current noise", "[cli][cells]") {
    test::TempDir dir("cells-rtr");
    // RTN off, σ_I = 2 %: ln(I₂/I₁)/√2 = ln((1 + σz₂)/(1 + σz₁))/√2 has σ = σ_I (1 + O(σ²)).
    const int n = 20000;
    const auto r = test::run_cli("cells --device " + kCard + " --level 4 --count " + std::to_string(n) +
                                 " --program statistical --set read_noise.rtn_traps_mean=0 --set read_noise.current_sigma_rel=0.02 --out " +
                                 (dir / "c.h5"));
    INFO(r.output);
    REQUIRE(r.code == 0);
    REQUIRE(r.output.find("read noise ln(I2/I1)/√2") != std::string::npos);
    auto root = h5::open_read(dir / "c.h5");
    const auto a = root.read<float>("read_current_a"), b = root.read<float>("read_current_2_a");
    double m = 0, s2 = 0;
    for (int i = 0; i < n; ++i) m += std::log(b[i] / a[i]) / std::sqrt(2.0);
    m /= n;
    for (int i = 0; i < n; ++i) s2 += std::pow(std::log(b[i] / a[i]) / std::sqrt(2.0) - m, 2);
    const double sd = std::sqrt(s2 / (n - 1));
    // 5σ bounds from the sample size (the mean's σ is σ_I/√n, the sample σ's relative σ 1/√(2n)),
    // plus the O(σ²) = 0.04 % of the log's curvature.
    REQUIRE(std::abs(m) < 5 * 0.02 / std::sqrt(double(n)));
    REQUIRE(std::abs(sd / 0.02 - 1) < 5 / std::sqrt(2.0 * n) + 0.001);
}

TEST_CASE("flashmc cells rejects bad card overrides and levels with a one-line error", "[cli][cells]") {
    auto r = test::run_cli("cells --device " + kCard + " --level 3 --count 10 --set variation.sigma_vt_v=0.03");
    REQUIRE(r.code == 1);
    REQUIRE(r.output.find("unknown key 'sigma_vt_v' in [variation]; did you mean 'sigma_vth_v'?") != std::string::npos);
    r = test::run_cli("cells --device " + kCard + " --level 8 --count 10");
    REQUIRE(r.code == 1);
    REQUIRE(r.output.find("--level 8 is out of range [0, 7]") != std::string::npos);
    r = test::run_cli("cells --device " + kCard + " --level 1 --count 10 --program magic");
    REQUIRE(r.code == 1);
    REQUIRE(r.output.find("--program must be verify, open-loop or statistical") != std::string::npos);
}

TEST_CASE("flashmc cells --reads: read disturb raises V_th by the closed form's amount", "[cli][cells]") {
    test::TempDir dir("cells-reads");
    // A strong intrinsic disturb without spread: every top-level cell gains
    // V_F·ln(1 + r·t·e^{(V_ref − V_th)/V_F}/V_F) ≈ 0.06 V after 10^12 reads (t = 5e4 s).
    const std::string set = " --set read_disturb.reference_shift_v=0.2 --set read_disturb.rate_sigma_ln=0"
                            " --set retention.tail_fraction=0";
    const auto base = test::run_cli("cells --device " + kCard + " --level 7 --count 300 --program statistical --out " + (dir / "a.h5") + set);
    const auto r = test::run_cli("cells --device " + kCard + " --level 7 --count 300 --program statistical --reads 1e12 --out " +
                                 (dir / "b.h5") + set);
    INFO(r.output);
    REQUIRE(base.code == 0);
    REQUIRE(r.code == 0);
    REQUIRE(r.output.find("read disturb: 1e+12 inferences at 25") != std::string::npos);
    const auto a = h5::open_read(dir / "a.h5"), b = h5::open_read(dir / "b.h5");
    REQUIRE(b.attr_double("reads") == 1e12);
    const auto va = a.read<float>("vth_aged_v"), vb = b.read<float>("vth_aged_v");
    REQUIRE(va.size() == 300);
    for (std::size_t i = 0; i < va.size(); ++i) {
        REQUIRE(vb[i] > va[i] + 0.03);
        REQUIRE(vb[i] < va[i] + 0.2);
    }
    REQUIRE(test::run_cli("cells --device " + kCard + " --level 7 --reads -1").code == 1);
}
