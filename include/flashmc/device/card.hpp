#pragma once
// A device card: every parameter of one NOR-Flash cell technology, read from devices/*.toml.
// Loading is strict: unknown keys (with the closest valid key suggested), missing keys, wrong types
// and out-of-range values are errors naming the file and the key; "--set section.key=value"
// overrides go through the same checks. Every card value must carry a comment with its source or
// the word "assumed" (checked by tests/device/test_card.cpp).
#include <string>
#include <vector>

#include "flashmc/device/cycling.hpp"
#include "flashmc/device/iv.hpp"
#include "flashmc/device/levels.hpp"
#include "flashmc/device/program.hpp"
#include "flashmc/device/program_disturb.hpp"
#include "flashmc/device/read_disturb.hpp"
#include "flashmc/device/read_noise.hpp"
#include "flashmc/device/retention.hpp"
#include "flashmc/device/variation.hpp"

namespace flashmc::device {

struct Card {
    std::string name = "default";  // [card] name
    std::string description;       // [card] description
    std::string source;            // the file it was read from ("" when built in code)
    std::string text;              // the card's full text plus overrides, for provenance
    IvParams iv;
    LevelParams levels;
    VariationParams variation;
    EraseParams erase;
    ProgramParams program;
    CyclingParams cycling;
    RetentionParams retention;
    ReadNoiseParams read_noise;
    ReadDisturbParams read_disturb;
    ProgramDisturbParams program_disturb;

    // Every section's ranges, plus cross-checks: the erase-verify level lies below the highest
    // level's target V_th (at T_0 and mean n), and level 1 lies above the off level.
    void validate() const;
};

Card load_card(const std::string& path, const std::vector<std::string>& overrides = {});
Card parse_card(const std::string& text, const std::string& source_name, const std::vector<std::string>& overrides = {});

// The card after `cycles` P/E cycles: σ_E and σ_η widened, μ_E shifted, λ_RTN and β_median raised
// by the power laws of [cycling] (docs/physics.md §4.4).
Card worn_card(const Card& fresh, double cycles);

}  // namespace flashmc::device
