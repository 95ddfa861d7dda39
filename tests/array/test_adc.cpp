#include <catch2/catch.hpp>

#include <cmath>

#include "flashmc/array/adc.hpp"
#include "flashmc/array/analog_layer.hpp"

using namespace flashmc;
using namespace flashmc::array;

TEST_CASE("ADC: rounding to the nearest code and clipping at the range", "[array][adc]") {
    bool clipped = false;
    const double lsb = 1e-9;  // 8 bits: codes −127 … 127
    for (double d : {0.0, 0.4e-9, 0.6e-9, -3.49e-9, 126.4e-9, -126.6e-9}) {
        const double code = adc_convert(d, lsb, 8, 0, 0, 0, clipped);
        REQUIRE(!clipped);
        REQUIRE(std::abs(code * lsb - d) <= 0.5 * lsb + 1e-21);
    }
    REQUIRE(adc_convert(127.6e-9, lsb, 8, 0, 0, 0, clipped) == 127);
    REQUIRE(clipped);
    REQUIRE(adc_convert(-200e-9, lsb, 8, 0, 0, 0, clipped) == -127);
    REQUIRE(clipped);
    // Gain, offset and sense offset: ((1 + g) ΔI + s) / LSB + o = (1.1·10 + 2) + 0.4 → 13.
    REQUIRE(adc_convert(10e-9, lsb, 8, 0.1, 0.4, 2e-9, clipped) == 13);
    REQUIRE(adc_convert(10.3e-9, lsb, 0, 0.1, 0.4, 2e-9, clipped) == Approx(10.3));  // ideal: no errors
}

TEST_CASE("ADC errors are reproducible per (seed, tile, ADC) and have the requested spread", "[array][adc]") {
    AdcParams p;
    p.gain_sigma_rel = 0.02, p.offset_sigma_lsb = 0.5, p.sense_offset_sigma_a = 1e-10;
    const int n = 4000;
    const AdcErrors a = sample_adc_errors(p, n, Streams(9), 3);
    const AdcErrors b = sample_adc_errors(p, 10, Streams(9), 3);
    const AdcErrors c = sample_adc_errors(p, 10, Streams(9), 4);
    for (int i = 0; i < 10; ++i) {
        REQUIRE(a.gain[i] == b.gain[i]);
        REQUIRE(a.offset_lsb[i] == b.offset_lsb[i]);
        REQUIRE(a.gain[i] != c.gain[i]);
    }
    auto check = [&](const std::vector<float>& v, double sigma) {
        double m = 0, s2 = 0;
        for (float x : v) m += x;
        m /= n;
        for (float x : v) s2 += (x - m) * (x - m);
        const double sd = std::sqrt(s2 / (n - 1));
        // 5σ bounds: the mean's σ is sigma/√n, the sample σ's relative σ is 1/√(2n).
        REQUIRE(std::abs(m) < 5 * sigma / std::sqrt(double(n)));
        REQUIRE(std::abs(sd / sigma - 1) < 5 / std::sqrt(2.0 * n));
    };
    check(a.gain, 0.02);
    check(a.offset_lsb, 0.5);
    check(a.sense_offset_a, 1e-10);
}

TEST_CASE("ADC range: calibration inputs narrow the range and inputs beyond it clip", "[array][adc]") {
    // One tile, 8 rows, 2 outputs, ideal cells: output 0 weights all +7, output 1 all −3.
    MappingParams mp;
    mp.tile_rows = 8, mp.tile_cols = 4;
    const LayerMapping m = map_layer(8, 2, mp);
    std::vector<std::int8_t> w(16);
    for (int j = 0; j < 8; ++j) w[j] = 7, w[8 + j] = -3;
    const auto levels = tile_levels(m, w, 0);
    std::vector<float> cur(levels.begin(), levels.end());
    for (auto& c : cur) c *= 1e-9f;
    AnalogParams p;
    p.mapping = mp;
    p.adc.bits = 8;
    p.adc.calibration = RangeCalibration::calibration;
    AnalogLayer layer(m, {operating_point_from_currents(8, 4, cur)}, 1e-9, p, Streams(2));
    REQUIRE(layer.full_scale_a(0) == Approx(56e-9));  // max possible: 8 rows × level 7
    std::vector<float> low(8, 5.0f), high(8, 15.0f), out(2);
    layer.calibrate(low.data(), 1);
    REQUIRE(layer.full_scale_a(0) == Approx(56e-9 * 5 / 15));
    AdcStats st;
    layer.forward(low.data(), 1, out.data(), &st);
    REQUIRE(st.clipped == 0);
    REQUIRE(out[0] == Approx(7 * 8 * 5).epsilon(0.5 / 127));
    REQUIRE(out[1] == Approx(-3 * 8 * 5).epsilon(1.0 / 127 * 56 / 24));
    layer.forward(high.data(), 1, out.data(), &st);
    REQUIRE(st.conversions == 4);
    REQUIRE(st.clipped == 2);                         // both outputs beyond the calibrated range
    REQUIRE(out[0] == Approx(7 * 8 * 5).epsilon(0.01));  // clipped at the range top
}
