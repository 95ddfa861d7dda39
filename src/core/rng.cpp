#include "flashmc/core/rng.hpp"

#include <boost/random/uniform_int_distribution.hpp>

namespace flashmc {

std::uint64_t Stream::below(std::uint64_t n) {
    return boost::random::uniform_int_distribution<std::uint64_t>(0, n - 1)(*this);
}

}  // namespace flashmc
