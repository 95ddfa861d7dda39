#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/core/sha256.hpp"

using namespace flashmc;

TEST_CASE("streams depend only on seed and keys", "[core][rng]") {
    Streams s(42);
    Stream a = s.at({1, 2, 3}), b = s.at({1, 2, 3}), c = s.at({1, 3, 2}), d = Streams(43).at({1, 2, 3});
    auto x = a(), y = b();
    REQUIRE(x == y);
    REQUIRE(c() != x);
    REQUIRE(d() != x);
}

TEST_CASE("a stream family is the streams under a key prefix; the draws are pinned", "[core][rng]") {
    Streams s(42);
    const StreamFamily f = s.family({1, 2});
    for (std::uint64_t k : {0ULL, 3ULL, 1ULL << 40}) {
        Stream a = f.at(k), b = s.at({1, 2, k});
        REQUIRE(a() == b());
    }
    REQUIRE(Streams(42).family({}).at(7)() == Streams(42).at({7})());
    // The committed results depend on these exact draws (values of the generator and Boost's
    // distributions at commit 64e8c93): a change here changes every sampled chip.
    Stream a = s.at({1, 2, 3});
    REQUIRE(a() == 5363227216945308882ULL);
    REQUIRE(a.normal() == -0.27320260548982422);
    REQUIRE(a.uniform() == 0.01429431728438324);
    REQUIRE(a.exponential(2.0) == 1.8809846591489154);
}

TEST_CASE("stream distributions have the right moments", "[core][rng]") {
    Stream r = Streams(7).at({0});
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0, se = 0;
    for (int i = 0; i < n; ++i) {
        su += r.uniform();
        double z = r.normal();
        sn += z;
        sn2 += z * z;
        se += r.exponential(2.0);
    }
    // Tolerances: 5 standard errors of each sample mean.
    REQUIRE(std::abs(su / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
    REQUIRE(std::abs(sn / n) < 5 / std::sqrt(double(n)));
    REQUIRE(std::abs(sn2 / n - 1.0) < 5 * std::sqrt(2.0 / n));
    REQUIRE(std::abs(se / n - 2.0) < 5 * 2.0 / std::sqrt(double(n)));
}

TEST_CASE("counter-based normals follow Phi in the body and the tails", "[core][rng]") {
    // Fraction of draws below t against Phi(t), within 5 binomial standard errors.
    const int n = 1000000;
    const StreamFamily f = Streams(11).family({0});
    const double ts[] = {-4.0, -3.0, -2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 3.0, 4.0};
    std::vector<int> below(std::size(ts), 0);
    for (int i = 0; i < n; ++i) {
        const double z = draw_normal(f.hash(static_cast<std::uint64_t>(i)), static_cast<std::uint64_t>(i % 3));
        for (std::size_t j = 0; j < std::size(ts); ++j) below[j] += z < ts[j];
    }
    for (std::size_t j = 0; j < std::size(ts); ++j) {
        const double p = 0.5 * std::erfc(-ts[j] / std::sqrt(2.0));
        CAPTURE(ts[j]);
        REQUIRE(std::abs(double(below[j]) / n - p) < 5 * std::sqrt(p * (1 - p) / n));
    }
}

TEST_CASE("counter-based draws: random access equals the sequence; pinned; right moments", "[core][rng]") {
    const std::uint64_t h = Streams(42).family({1, 2}).hash(3);
    REQUIRE(h == hash_keys(42, {1, 2, 3}));
    // Draw k is the k-th SplitMix64 output seeded with h.
    std::uint64_t x = h;
    for (std::uint64_t k = 0; k < 4; ++k) REQUIRE(draw_bits(h, k) == splitmix64(x + k * 0x9E3779B97F4A7C15ULL));
    CellStream seq(h, 5);
    REQUIRE(seq.uniform() == draw_uniform(h, 5));
    REQUIRE(seq.normal() == draw_normal(h, 6));
    REQUIRE(seq.exponential(2.0) == draw_exponential(h, 7, 2.0));
    REQUIRE(seq.normal() == draw_normal_pair(h, 6).second);  // the spare of slot 6
    REQUIRE(seq.normal() == draw_normal(h, 8));
    // The committed results depend on these exact draws: a change here changes every sampled chip.
    REQUIRE(draw_bits(h, 0) == 5560922037722168276ULL);
    REQUIRE(draw_uniform(h, 1) == 0.83732679163045276);
    REQUIRE(draw_normal(h, 2) == 0.75154845722719843);
    REQUIRE(draw_exponential(h, 3, 2.0) == 1.971274340395512);
    // Moments over many keys and slots; tolerances: 5 standard errors of each sample mean.
    const int n = 200000;
    const StreamFamily f = Streams(7).family({0});
    double su = 0, sn = 0, sn2 = 0, sn4 = 0, se = 0, umin = 1, umax = 0;
    for (int i = 0; i < n; ++i) {
        const std::uint64_t hi = f.hash(static_cast<std::uint64_t>(i / 4));
        const std::uint64_t k = static_cast<std::uint64_t>(i % 4) * 3;
        const double u = draw_uniform(hi, k), z = draw_normal(hi, k + 1);
        su += u, umin = std::min(umin, u), umax = std::max(umax, u);
        sn += z, sn2 += z * z, sn4 += z * z * z * z;
        se += draw_exponential(hi, k + 2, 2.0);
    }
    REQUIRE(umin > 0.0);
    REQUIRE(umax < 1.0);
    REQUIRE(std::abs(su / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
    REQUIRE(std::abs(sn / n) < 5 / std::sqrt(double(n)));
    REQUIRE(std::abs(sn2 / n - 1.0) < 5 * std::sqrt(2.0 / n));
    REQUIRE(std::abs(sn4 / n - 3.0) < 5 * std::sqrt(96.0 / n));  // Var z⁴ = 105 − 9
    REQUIRE(std::abs(se / n - 2.0) < 5 * 2.0 / std::sqrt(double(n)));
}

TEST_CASE("sha256 matches FIPS 180-4 test vectors", "[core]") {
    Sha256 a;
    a.update("abc", 3);
    REQUIRE(a.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256 b;
    std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    b.update(m.data(), m.size());
    REQUIRE(b.hex() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
