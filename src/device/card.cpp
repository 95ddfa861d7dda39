#include "flashmc/device/card.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::device {

void Card::validate() const {
    iv.validate();
    levels.validate();
    variation.validate();
    erase.validate();
    program.validate();
    cycling.validate();
    retention.validate();
    read_noise.validate();
    read_disturb.validate();
    program_disturb.validate();
    const LevelTargets t = level_targets(iv, levels, iv.reference_temperature_c);
    const int top = levels.max_level();
    const double top_vth = t.vth_v(top, iv.slope_n);
    if (erase.verify_vth_v >= top_vth)
        fail("erase.verify_vth_v = ", erase.verify_vth_v, " V lies at or above the target V_th of level ", top, " (",
             top_vth, " V at ", iv.reference_temperature_c,
             " °C, mean n): erased cells could read below their target before any pulse");
}

namespace {

// Declares every key of P's section (so that finish() can name unknown keys before a missing key
// is reported), then reads them all as required keys.
template <class P>
void declare(TomlDocument& doc, P& p) {
    auto s = doc.section(P::section);
    P::each_field(p, [&](const char* key, auto&, Range) { s.has(key); });
}
template <class P>
void read_all(TomlDocument& doc, P& p) {
    auto s = doc.section(P::section);
    P::each_field(p, [&](const char* key, auto& value, Range range) { s.require(key, value, range); });
}
template <class F>
void for_sections(Card& c, F&& f) {
    f(c.iv), f(c.levels), f(c.variation), f(c.erase), f(c.program), f(c.cycling), f(c.retention), f(c.read_noise), f(c.read_disturb), f(c.program_disturb);
}

Card read_card(TomlDocument doc, const std::vector<std::string>& overrides) {
    doc.set_all(overrides);
    Card c;
    c.source = doc.source();
    auto meta = doc.section("card");
    meta.has("name");
    meta.has("description");
    for_sections(c, [&](auto& p) { declare(doc, p); });
    doc.finish();
    meta.require("name", c.name);
    meta.read("description", c.description);
    for_sections(c, [&](auto& p) { read_all(doc, p); });
    c.text = doc.text();
    try {
        c.validate();
    } catch (const Error& e) {
        fail(c.source, ": ", e.what());
    }
    return c;
}

}  // namespace

Card load_card(const std::string& path, const std::vector<std::string>& overrides) {
    return read_card(TomlDocument::from_file(path), overrides);
}

Card parse_card(const std::string& text, const std::string& source_name, const std::vector<std::string>& overrides) {
    return read_card(TomlDocument::from_string(text, source_name), overrides);
}

Card worn_card(const Card& fresh, double cycles) {
    Card c = fresh;
    const Wear w = wear_after(fresh.cycling, cycles);
    c.erase.sigma_vth_v *= w.sigma_factor;
    c.program.efficiency_sigma *= w.sigma_factor;
    c.erase.mean_vth_v += w.window_shift_v;
    c.read_noise.rtn_traps_mean *= w.rtn_factor;
    c.retention.beta_median *= w.beta_factor;
    return c;
}

}  // namespace flashmc::device
