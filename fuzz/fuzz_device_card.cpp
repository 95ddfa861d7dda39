// Fuzz target: a device card (devices/*.toml) as every command reads it.
#include <string>

#include "flashmc/core/error.hpp"
#include "flashmc/device/card.hpp"
#include "fuzz_util.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::scratch();  // one thread
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const device::Card card = device::parse_card(text, "card.toml");
        (void)device::worn_card(card, 1e4);  // the card of a cycled chip, as a sweep derives it
    } catch (const Error&) {
        // the clean rejection of a bad file
    }
    return 0;
}
