// The byte messages that carry a unit's result to MPI rank 0 (no MPI needed to test them).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/mc/mpi.hpp"

using namespace flashmc;

TEST_CASE("mpi::Packer and Unpacker round-trip values and vectors bit for bit", "[mc][mpi]") {
    const long u = 123456789012L;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<std::int8_t> pred{3, -1, 9, 0};
    const std::vector<double> err{0.25, nan, -0.0};
    const std::vector<std::uint64_t> keys{0, ~std::uint64_t{0}, 42};
    const std::vector<double> none;
    mc::mpi::Packer p;
    p.put(u).put(0.875).put(pred).put(err).put(keys).put(none);

    mc::mpi::Unpacker r(p.bytes);
    long u2 = 0;
    double a = 0;
    std::vector<std::int8_t> pred2;
    std::vector<double> err2{1.0}, none2{1.0};
    std::vector<std::uint64_t> keys2;
    r.get(u2);
    r.get(a);
    r.get(pred2);
    r.get(err2);
    r.get(keys2);
    r.get(none2);
    REQUIRE(u2 == u);
    REQUIRE(a == 0.875);
    REQUIRE(pred2 == pred);
    REQUIRE(keys2 == keys);
    REQUIRE(none2.empty());
    REQUIRE(err2.size() == 3);
    REQUIRE(err2[0] == 0.25);
    REQUIRE(std::isnan(err2[1]));
    REQUIRE(std::signbit(err2[2]));
    // a short message is an error, not a read past its end
    REQUIRE_THROWS_AS(r.get(a), Error);
    mc::mpi::Unpacker t(std::span<const std::byte>(p.bytes.data(), 12));
    t.get(u2);
    REQUIRE(u2 == u);
    REQUIRE_THROWS_AS(t.get(pred2), Error);
}

TEST_CASE("mpi: a process not started by an MPI launcher is a job of one", "[mc][mpi]") {
    if (mc::mpi::launched()) return;  // the suite itself run under mpirun
    mc::mpi::Session s;
    REQUIRE(mc::mpi::rank() == 0);
    REQUIRE(mc::mpi::size() == 1);
    std::vector<long> v{1, 2, 3};
    mc::mpi::broadcast(v);
    REQUIRE(v == std::vector<long>{1, 2, 3});
}
