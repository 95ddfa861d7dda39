#pragma once
// Reproducible randomness: never a global generator. A Stream is derived from a hash of the seed
// and a tuple of keys (point, trial, layer, tile, cell, image, ...), so a result cannot depend on
// thread or rank count. Stream: xoshiro256** (Blackman & Vigna 2018), seeded by splitmix64, with
// Boost.Random's distributions (fixed across platforms, unlike std::), for sequential use (data
// order, augmentation, ADC offsets). Per-cell work uses the counter-based draws below instead.
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>

#include "flashmc/core/fast_math.hpp"

namespace flashmc {

// splitmix64 finalizer (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

// Order-sensitive hash of a key tuple: h₀ = mix(seed ⊕ c₁), h ← mix(h ⊕ mix(k + c₂)) per key.
constexpr std::uint64_t hash_seed(std::uint64_t seed) { return splitmix64(seed ^ 0x6A09E667F3BCC909ULL); }
constexpr std::uint64_t hash_key(std::uint64_t h, std::uint64_t k) {
    return splitmix64(h ^ splitmix64(k + 0x3C6EF372FE94F82BULL));
}
constexpr std::uint64_t hash_keys(std::uint64_t seed, std::initializer_list<std::uint64_t> keys) {
    std::uint64_t h = hash_seed(seed);
    for (std::uint64_t k : keys) h = hash_key(h, k);
    return h;
}

// The draws of per-cell streams are the hot loop of chip sampling: the generator and the
// continuous distributions are inline.
class Stream {
public:
    using result_type = std::uint64_t;
    explicit Stream(std::uint64_t key_hash) {
        std::uint64_t x = key_hash;
        for (auto& s : s_) {
            x += 0x9E3779B97F4A7C15ULL;
            s = splitmix64(x);
        }
    }
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
    result_type operator()() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }  // [0, 1), 53 bits
    double normal() { return boost::random::normal_distribution<double>(0.0, 1.0)(*this); }  // Boost ziggurat
    double normal(double mean, double sd) { return mean + sd * normal(); }
    double exponential(double mean) { return boost::random::exponential_distribution<double>(1.0 / mean)(*this); }
    std::uint64_t below(std::uint64_t n);  // uniform integer in [0, n), unbiased

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

// The streams under a fixed key prefix: at(k) is Streams::at({prefix..., k}) with the prefix's
// hash computed once (one mixing step per stream instead of one per key).
class StreamFamily {
public:
    explicit StreamFamily(std::uint64_t prefix_hash) : h_(prefix_hash) {}
    Stream at(std::uint64_t key) const { return Stream(hash_key(h_, key)); }
    std::uint64_t hash(std::uint64_t key) const { return hash_key(h_, key); }  // the key hash of at(key)

private:
    std::uint64_t h_;
};

// Counter-based draws, for per-cell work: draw k of the stream with key hash h is
// splitmix64(h + k·γ), the k-th output of SplitMix64 seeded with h (Steele, Lea & Flood, OOPSLA
// 2014). A pure function of (h, k), so any draw is reached directly: a stage names its draws by
// slot, and loops over cells vectorize (everything here is branch-free inline arithmetic).
constexpr std::uint64_t draw_bits(std::uint64_t h, std::uint64_t k) { return splitmix64(h + k * 0x9E3779B97F4A7C15ULL); }
// U(0, 1), open at both ends: the 2^53 midpoints (j + ½)·2^−53 of the top 53 bits, safe for log
// and the quantile.
inline double open_uniform(std::uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53; }
inline double draw_uniform(std::uint64_t h, std::uint64_t k) { return open_uniform(draw_bits(h, k)); }
// N(0, 1) by Box–Muller (Box & Muller, Ann. Math. Stat. 29:610, 1958): r = sqrt(−2 ln u₁), with
// u₁ from the slot's bits and u₂ from their SplitMix64 image, gives two independent normals
// r·cos(2π u₂) and r·sin(2π u₂). draw_normal is the first; draw_normal_pair both, for one slot.
struct NormalPair {
    double first, second;
};
inline NormalPair draw_normal_pair(std::uint64_t h, std::uint64_t k) {
    const std::uint64_t b = draw_bits(h, k);
    const double u1 = open_uniform(b);
    const double u2 = static_cast<double>(splitmix64(b) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * log_fast(u1));
    return {r * cos_2pi(u2), r * cos_2pi(u2 - 0.25)};
}
inline double draw_normal(std::uint64_t h, std::uint64_t k) { return draw_normal_pair(h, k).first; }
inline double draw_exponential(std::uint64_t h, std::uint64_t k, double mean) { return -mean * log_fast(draw_uniform(h, k)); }

// The counter-based draws of one key hash in sequence, from a first slot. normal() takes both
// normals of a slot's pair: the first at that slot, the second at the next call.
class CellStream {
public:
    explicit CellStream(std::uint64_t h, std::uint64_t first_slot = 0) : h_(h), k_(first_slot) {}
    double uniform() { return draw_uniform(h_, k_++); }
    double normal() {
        if (spare_) {
            spare_ = false;
            return second_;
        }
        const NormalPair z = draw_normal_pair(h_, k_++);
        spare_ = true, second_ = z.second;
        return z.first;
    }
    double exponential(double mean) { return draw_exponential(h_, k_++, mean); }

private:
    std::uint64_t h_, k_;
    bool spare_ = false;
    double second_ = 0.0;
};

// The seed of a run; at(keys...) gives the stream for one (point, trial, layer, ...) tuple.
class Streams {
public:
    explicit Streams(std::uint64_t seed) : seed_(seed) {}
    std::uint64_t seed() const { return seed_; }
    Stream at(std::initializer_list<std::uint64_t> keys) const { return Stream(hash_keys(seed_, keys)); }
    StreamFamily family(std::initializer_list<std::uint64_t> prefix) const { return StreamFamily(hash_keys(seed_, prefix)); }

private:
    std::uint64_t seed_;
};

}  // namespace flashmc
