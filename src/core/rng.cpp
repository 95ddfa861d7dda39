#include "flashmc/core/rng.hpp"

#include <boost/random/exponential_distribution.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>

namespace flashmc {

namespace {
inline std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Stream::Stream(std::uint64_t key_hash) {
    std::uint64_t x = key_hash;
    for (auto& s : s_) {
        x += 0x9E3779B97F4A7C15ULL;
        s = splitmix64(x);
    }
}

Stream::result_type Stream::operator()() {
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

double Stream::uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
double Stream::normal() { return boost::random::normal_distribution<double>(0.0, 1.0)(*this); }
double Stream::exponential(double mean) {
    return boost::random::exponential_distribution<double>(1.0 / mean)(*this);
}
std::uint64_t Stream::poisson(double mean) {
    if (mean <= 0.0) return 0;
    return boost::random::poisson_distribution<std::uint64_t, double>(mean)(*this);
}
std::uint64_t Stream::below(std::uint64_t n) {
    return boost::random::uniform_int_distribution<std::uint64_t>(0, n - 1)(*this);
}

}  // namespace flashmc
