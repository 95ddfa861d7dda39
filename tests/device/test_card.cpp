#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/device/card.hpp"

using namespace flashmc;
using namespace flashmc::device;

namespace {
std::vector<std::string> card_files() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(test::source_dir() + "/devices"))
        if (e.path().extension() == ".toml") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    REQUIRE(pos != std::string::npos);
    return text.replace(pos, from.size(), to);
}

const std::string kCard = test::source_dir() + "/devices/nor40_cim.toml";
}  // namespace

TEST_CASE("the shipped device cards load and validate", "[device][card]") {
    const auto files = card_files();
    REQUIRE(files.size() >= 2);
    for (const auto& f : files) {
        INFO(f);
        const Card c = load_card(f);
        REQUIRE(!c.name.empty());
        REQUIRE(c.source == f);
        const LevelTargets t = level_targets(c.iv, c.levels, c.iv.reference_temperature_c);
        REQUIRE(t.current_a[7] == Approx(t.current_a[0] + 7 * c.levels.unit_current_a));
        // Every level's target lies between the erase-verify level and what max_pulses can reach.
        for (int k = 0; k <= 7; ++k) {
            REQUIRE(t.vth_v(k, c.iv.slope_n) > c.erase.verify_vth_v);
            REQUIRE(t.vth_v(k, c.iv.slope_n) < c.erase.mean_vth_v + c.program.max_pulses * c.program.step_v);
        }
    }
}

TEST_CASE("the built-in defaults form a valid card", "[device][card]") {
    REQUIRE_NOTHROW(Card{}.validate());
    Card bad;
    bad.read_noise.current_sigma_rel = 0.9;
    REQUIRE_THROWS_WITH(bad.validate(), Catch::Equals("key 'read_noise.current_sigma_rel' = 0.9 is out of range [0, 0.5]"));
}

TEST_CASE("every device-card value carries a comment with its source or 'assumed'", "[device][card]") {
    const std::regex assignment(R"(^\s*[A-Za-z_][A-Za-z0-9_]*\s*=)");
    for (const auto& f : card_files()) {
        std::istringstream in(slurp(f));
        std::string line;
        int lineno = 0;
        while (std::getline(in, line)) {
            ++lineno;
            if (!std::regex_search(line, assignment)) continue;
            INFO(f << ":" << lineno << ": " << line);
            const auto hash = line.rfind("  # ");
            REQUIRE(hash != std::string::npos);
            REQUIRE(line.size() - hash > 12);  // a real comment, not a stub
        }
    }
}

TEST_CASE("an unknown card key names the file, the key and the closest valid key", "[device][card]") {
    const std::string text = replace(slurp(kCard), "sigma_vth_v = 0.05", "sigma_vt_v = 0.05");
    REQUIRE_THROWS_WITH(parse_card(text, "cards/bad.toml"),
                        Catch::Contains("cards/bad.toml") && Catch::Contains("unknown key 'sigma_vt_v' in [variation]") &&
                            Catch::Contains("did you mean 'sigma_vth_v'?"));
    const std::string section = replace(slurp(kCard), "[retention]", "[retension]");
    REQUIRE_THROWS_WITH(parse_card(section, "x.toml"), Catch::Contains("unknown section [retension]") &&
                                                          Catch::Contains("did you mean [retention]?"));
}

TEST_CASE("missing, mistyped and out-of-range card values are errors with file, key, value and range", "[device][card]") {
    const std::string text = slurp(kCard);
    REQUIRE_THROWS_WITH(parse_card(replace(text, "max_pulses = 600", ""), "c.toml"),
                        Catch::Contains("c.toml") && Catch::Contains("missing required key 'program.max_pulses'"));
    REQUIRE_THROWS_WITH(parse_card(replace(text, "max_pulses = 600", "max_pulses = 600.5"), "c.toml"),
                        Catch::Contains("c.toml: key 'program.max_pulses' must be an integer"));
    REQUIRE_THROWS_WITH(parse_card(replace(text, "slope_n = 1.5", "slope_n = \"1.5\""), "c.toml"),
                        Catch::Contains("key 'iv.slope_n' must be a number, got string"));
    REQUIRE_THROWS_WITH(parse_card(replace(text, "slope_n = 1.5", "slope_n = 0.5"), "c.toml"),
                        Catch::Contains("c.toml: key 'iv.slope_n' = 0.5 is out of range [1, 3]"));
    // Cross-check: the erase-verify level above the highest level's target.
    REQUIRE_THROWS_WITH(parse_card(replace(text, "verify_vth_v = 1.25", "verify_vth_v = 1.5"), "c.toml"),
                        Catch::Contains("c.toml: erase.verify_vth_v = 1.5") && Catch::Contains("level 7"));
}

TEST_CASE("command-line overrides go through the same validation", "[device][card]") {
    const Card c = load_card(kCard, {"variation.sigma_vth_v=0.03", "program.max_pulses = 100"});
    REQUIRE(c.variation.sigma_vth_v == 0.03);
    REQUIRE(c.program.max_pulses == 100);
    REQUIRE(c.text.find("--set variation.sigma_vth_v=0.03") != std::string::npos);
    REQUIRE_THROWS_WITH(load_card(kCard, {"variation.sigma_vt_v=0.03"}),
                        Catch::Contains("nor40_cim.toml (--set variation.sigma_vt_v=0.03)") &&
                            Catch::Contains("did you mean 'sigma_vth_v'?"));
    REQUIRE_THROWS_WITH(load_card(kCard, {"variation.sigma_vth_v=3"}),
                        Catch::Contains("(--set variation.sigma_vth_v=3): key 'variation.sigma_vth_v' = 3 is out of range [0, 1]"));
    REQUIRE_THROWS_WITH(load_card(kCard, {"program.max_pulses=many"}),
                        Catch::Contains("key 'program.max_pulses' must be an integer, got string 'many'"));
    REQUIRE_THROWS_WITH(load_card(kCard, {"sigma_vth_v"}), Catch::Contains("not of the form section.key=value"));
}

TEST_CASE("a worn card carries the cycling power laws", "[device][card][cycling]") {
    const Card fresh = load_card(kCard);
    const Card worn = worn_card(fresh, 1000);  // r = 1: every factor is 1 + growth
    REQUIRE(worn.erase.sigma_vth_v == Approx(fresh.erase.sigma_vth_v * (1 + fresh.cycling.sigma_growth)));
    REQUIRE(worn.program.efficiency_sigma == Approx(fresh.program.efficiency_sigma * (1 + fresh.cycling.sigma_growth)));
    REQUIRE(worn.erase.mean_vth_v == Approx(fresh.erase.mean_vth_v + fresh.cycling.window_shift_v));
    REQUIRE(worn.read_noise.rtn_traps_mean == Approx(fresh.read_noise.rtn_traps_mean * (1 + fresh.cycling.rtn_growth)));
    REQUIRE(worn.retention.beta_median == Approx(fresh.retention.beta_median * (1 + fresh.cycling.retention_growth)));
    const Card same = worn_card(fresh, 0);
    REQUIRE(same.erase.sigma_vth_v == fresh.erase.sigma_vth_v);
}
