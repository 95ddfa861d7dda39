#include "flashmc/array/adc.hpp"

#include "flashmc/io/toml.hpp"

namespace flashmc::array {

void AdcParams::validate() const {
    check_range("adc.bits", bits, Range{0, 24});
    check_range("adc.calibration_margin", calibration_margin, Range{0.1, 10});
    check_range("adc.gain_sigma_rel", gain_sigma_rel, Range{0, 0.5});
    check_range("adc.offset_sigma_lsb", offset_sigma_lsb, Range{0, 100});
    check_range("adc.sense_offset_sigma_a", sense_offset_sigma_a, Range{0, 1e-3});
}

AdcErrors sample_adc_errors(const AdcParams& p, int adcs, const Streams& streams, std::uint64_t tile) {
    AdcErrors e;
    e.gain.resize(adcs), e.offset_lsb.resize(adcs), e.sense_offset_a.resize(adcs);
    for (int a = 0; a < adcs; ++a) {
        Stream s = streams.at({kAdcStreamKey, tile, static_cast<std::uint64_t>(a)});
        // Three draws in a fixed order, whatever sigmas are zero: changing one σ keeps the others' draws.
        const double zg = s.normal(), zo = s.normal(), zs = s.normal();
        e.gain[a] = static_cast<float>(p.gain_sigma_rel * zg);
        e.offset_lsb[a] = static_cast<float>(p.offset_sigma_lsb * zo);
        e.sense_offset_a[a] = static_cast<float>(p.sense_offset_sigma_a * zs);
    }
    return e;
}

}  // namespace flashmc::array
