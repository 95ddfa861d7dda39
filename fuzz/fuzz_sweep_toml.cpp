// Fuzz target: a sweep file (experiments/*.toml) as `flashmc sweep` reads and validates it, the
// device card it names included (run from the repository root, as scripts/fuzz.sh does, so that
// the seeds' "devices/..." paths resolve).
#include <string>

#include "flashmc/core/error.hpp"
#include "flashmc/mc/sweep_spec.hpp"
#include "fuzz_util.hpp"

using namespace flashmc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::scratch();  // one thread
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const mc::SweepSpec spec = mc::parse_sweep_spec(text, "sweep.toml");
        for (long p = 0; p < spec.points() && p < 16; ++p) {
            (void)spec.point_chip(p);
            (void)spec.point_array(p);
        }
    } catch (const Error&) {
        // the clean rejection of a bad file
    }
    return 0;
}
