#include "flashmc/core/rng.hpp"

#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>

namespace flashmc {

std::uint64_t Stream::poisson(double mean) {
    if (mean <= 0.0) return 0;
    return boost::random::poisson_distribution<std::uint64_t, double>(mean)(*this);
}
std::uint64_t Stream::below(std::uint64_t n) {
    return boost::random::uniform_int_distribution<std::uint64_t>(0, n - 1)(*this);
}

}  // namespace flashmc
