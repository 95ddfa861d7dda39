#pragma once
// Reproducible randomness: never a global generator. A Stream is derived from a hash of the seed
// and a tuple of keys (point, trial, layer, tile, cell, image, ...), so a result cannot depend on
// thread or rank count. Generator: xoshiro256** (Blackman & Vigna 2018), seeded by splitmix64;
// distributions from Boost.Random, whose algorithms (unlike std::) are fixed across platforms.
#include <cstdint>
#include <initializer_list>
#include <limits>

namespace flashmc {

// splitmix64 finalizer (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

// Order-sensitive hash of a key tuple.
constexpr std::uint64_t hash_keys(std::uint64_t seed, std::initializer_list<std::uint64_t> keys) {
    std::uint64_t h = splitmix64(seed ^ 0x6A09E667F3BCC909ULL);
    for (std::uint64_t k : keys) h = splitmix64(h ^ splitmix64(k + 0x3C6EF372FE94F82BULL));
    return h;
}

class Stream {
public:
    using result_type = std::uint64_t;
    explicit Stream(std::uint64_t key_hash);
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
    result_type operator()();

    double uniform();                      // [0, 1), 53 random bits
    double normal();                       // N(0, 1), Boost ziggurat
    double normal(double mean, double sd) { return mean + sd * normal(); }
    double exponential(double mean);       // Exp with the given mean
    std::uint64_t poisson(double mean);    // Poisson(mean)
    std::uint64_t below(std::uint64_t n);  // uniform integer in [0, n), unbiased

private:
    std::uint64_t s_[4];
};

// The seed of a run; at(keys...) gives the stream for one (point, trial, layer, ...) tuple.
class Streams {
public:
    explicit Streams(std::uint64_t seed) : seed_(seed) {}
    std::uint64_t seed() const { return seed_; }
    Stream at(std::initializer_list<std::uint64_t> keys) const { return Stream(hash_keys(seed_, keys)); }

private:
    std::uint64_t seed_;
};

}  // namespace flashmc
