// MPI end to end (built only with MPI): `mpirun -np 2 flashmc sweep` on the tiny sweep of
// test_sweep.cpp must write the same file as one process, every dataset byte for byte except the
// unit timings, also with adaptive stopping (several rounds), when stopped and resumed, and as a
// shard merged with another.
#if defined(FLASHMC_HAVE_MPI) && defined(FLASHMC_MPIEXEC)
#include <catch2/catch.hpp>
#include <hdf5.h>

#include <cstddef>
#include <vector>

#include "../test_util.hpp"
#include "sweep_fixture.hpp"
#include "flashmc/io/hdf5.hpp"
#include "flashmc/mc/sweep.hpp"

using namespace flashmc;
using flashmc::test::run_cli;

namespace {

// `mpirun -np N flashmc ARGS`. As root (CI containers) OpenMPI needs --allow-run-as-root;
// --oversubscribe and --bind-to none let it share a small machine with other tests; a hang fails
// the test after 2 minutes instead of stalling the suite.
test::RunResult mpirun(int ranks, const std::string& args) {
    return test::run_shell("timeout 120 " + std::string(FLASHMC_MPIEXEC) + " --allow-run-as-root --oversubscribe --bind-to none -np " +
                           std::to_string(ranks) + " " + FLASHMC_BINARY + " " + args);
}

// Paths of the datasets under `g`, recursively.
void list_datasets(const h5::Group& g, const std::string& prefix, std::vector<std::string>& out) {
    for (const auto& name : g.children()) {
        const hid_t obj = H5Oopen(g.id(), name.c_str(), H5P_DEFAULT);
        const bool group = H5Iget_type(obj) == H5I_GROUP;
        H5Oclose(obj);
        if (group) list_datasets(g.open(name), prefix + name + "/", out);
        else out.push_back(prefix + name);
    }
}

// A dataset's values as bytes (in its native type, so any type compares).
std::vector<std::byte> raw(const h5::Group& root, const std::string& path) {
    const hid_t d = H5Dopen2(root.id(), path.c_str(), H5P_DEFAULT);
    const hid_t file_type = H5Dget_type(d), type = H5Tget_native_type(file_type, H5T_DIR_ASCEND), space = H5Dget_space(d);
    std::vector<std::byte> v(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)) * H5Tget_size(type));
    const herr_t status = H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Sclose(space);
    H5Tclose(type);
    H5Tclose(file_type);
    H5Dclose(d);
    REQUIRE(status >= 0);
    return v;
}

// Two sweep files hold the same results: the same datasets with the same bytes (NaNs included),
// except the unit timings, and the same progress attributes.
void require_same_file(const std::string& a, const std::string& b) {
    const h5::Group ra = h5::open_read(a), rb = h5::open_read(b);
    std::vector<std::string> da, db;
    list_datasets(ra, "", da);
    list_datasets(rb, "", db);
    REQUIRE(da == db);
    REQUIRE(da.size() > 10);
    for (const auto& path : da) {
        if (path == "unit_seconds") continue;
        INFO(path);
        REQUIRE(raw(ra, path) == raw(rb, path));
    }
    REQUIRE(ra.attr_int("units_done") == rb.attr_int("units_done"));
    REQUIRE(ra.attr_int("complete") == rb.attr_int("complete"));
}

int count(const std::string& s, const std::string& what) {
    int n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("flashmc sweep: mpirun -np 2 writes the same file as one process", "[mc][cli][sweep][mpi]") {
    test::TempDir dir("sweep-mpi");
    const std::string spec = "sweep " + test::tiny_sweep_args(dir);

    // 2 ranks x 1 thread against 1 process x 2 threads
    auto one = run_cli(spec + " --threads 2 --out " + dir / "one.h5");
    INFO(one.output);
    REQUIRE(one.code == 0);
    auto two = mpirun(2, spec + " --threads 1 --out " + dir / "two.h5");
    INFO(two.output);
    REQUIRE(two.code == 0);
    REQUIRE(count(two.output, "units run") == 1);  // only rank 0 prints
    REQUIRE_THAT(two.output, Catch::Contains("12 units run, 12 in file; complete"));
    require_same_file(dir / "one.h5", dir / "two.h5");
    REQUIRE(run_cli("merge " + dir / "one.h5 " + dir / "two.h5 -o " + dir / "both.h5").code == 0);

    // adaptive stopping: rounds of 3 more trials per point while the CI is wide
    const std::string adaptive = " --set adaptive.ci_half_width=0.004 --set adaptive.max_trials=9";
    auto a1 = run_cli(spec + adaptive + " --threads 1 --out " + dir / "a1.h5");
    INFO(a1.output);
    REQUIRE(a1.code == 0);
    auto a2 = mpirun(2, spec + adaptive + " --threads 2 --out " + dir / "a2.h5");
    INFO(a2.output);
    REQUIRE(a2.code == 0);
    require_same_file(dir / "a1.h5", dir / "a2.h5");
    const auto planned = h5::open_read(dir / "a1.h5").open("stats").read<double>("planned_trials");
    INFO("planned trials per point: " << planned[0] << " " << planned[1] << " " << planned[2] << " " << planned[3]);
    REQUIRE(*std::max_element(planned.begin(), planned.end()) > 3);

    // stopped (as if killed) after 5 units, then resumed, both under MPI
    auto s = mpirun(2, spec + " --threads 1 --stop-after-units 5 --out " + dir / "r.h5");
    INFO(s.output);
    REQUIRE(s.code == 3);
    const mc::SweepResults partial = mc::read_results(dir / "r.h5");
    REQUIRE(partial.units_done() >= 5);
    REQUIRE_FALSE(partial.complete());
    auto r = mpirun(2, spec + " --threads 1 --resume --out " + dir / "r.h5");
    INFO(r.output);
    REQUIRE(r.code == 0);
    require_same_file(dir / "one.h5", dir / "r.h5");

    // a shard under MPI merged with the other shard from one process
    REQUIRE(mpirun(2, spec + " --threads 1 --shard 0/2 --out " + dir / "s0.h5").code == 0);
    REQUIRE(run_cli(spec + " --threads 1 --shard 1/2 --out " + dir / "s1.h5").code == 0);
    REQUIRE(run_cli("merge " + dir / "s0.h5 " + dir / "s1.h5 -o " + dir / "m.h5").code == 0);
    require_same_file(dir / "one.h5", dir / "m.h5");

    // an error ends every rank with its message
    auto e = mpirun(2, spec + " --set model.file=" + dir / "missing.h5" + " --out " + dir / "e.h5");
    INFO(e.output);
    REQUIRE(e.code != 0);
    REQUIRE_THAT(e.output, Catch::Contains("flashmc sweep: error:") && Catch::Contains("missing.h5"));
}
#endif
