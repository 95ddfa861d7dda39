// Every writer of the CLI on a refused write (a file-size limit, and a full tmpfs where this
// process may mount one): exit 1 with one error line naming the file, no crash, the previous file
// byte for byte, no temporary left; temporaries of a killed run go with the next run.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "../test_util.hpp"
#include "flashmc/io/atomic_file.hpp"
#include "flashmc/mc/sweep.hpp"
#include "sweep_fixture.hpp"

using namespace flashmc;
using flashmc::test::run_cli;
namespace fs = std::filesystem;

namespace {

const std::string kCard = test::source_dir() + "/devices/nor40_cim.toml";
const std::string kTile = test::source_dir() + "/examples/array-solve/tile.toml";

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

long count(const std::string& text, const std::string& what) {
    long n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

// Runs `prefix flashmc args` (prefix: a ulimit, or nothing) and requires a clean refusal to write
// `target`, which holds a good file before and after.
void require_refused(const std::string& prefix, const std::string& args, const std::string& target) {
    const std::string before = slurp(target);
    REQUIRE(!before.empty());
    const auto r = test::run_shell(prefix + FLASHMC_BINARY + " " + args);
    INFO(prefix + "flashmc " + args);
    INFO(r.output);
    REQUIRE(r.code == 1);  // an Error: not a signal (-1) nor an internal error (3)
    REQUIRE(count(r.output, "error:") == 1);
    REQUIRE_THAT(r.output, Catch::Contains(target + ": cannot") && Catch::Contains("the previous file is left unchanged"));
    REQUIRE_THAT(r.output, !Catch::Contains("wrote"));
    REQUIRE(slurp(target) == before);
    REQUIRE(io::temporaries_of(target).empty());
}

void require_ok(const std::string& args) {
    const auto r = test::run_cli(args);
    INFO("flashmc " + args);
    INFO(r.output);
    REQUIRE(r.code == 0);
}

// A tmpfs of `bytes` mounted on `dir` while alive; mounted() is false where mounting is not permitted.
struct SmallTmpfs {
    std::string dir;
    bool ok = false;
    SmallTmpfs(std::string d, long bytes) : dir(std::move(d)) {
        fs::create_directories(dir);
        ok = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + std::to_string(bytes)).c_str()) == 0;
    }
    ~SmallTmpfs() {
        if (ok) ::umount2(dir.c_str(), MNT_DETACH);
    }
    bool mounted() const { return ok; }
};

// Fills the file system of `path` with it until no byte is free, then gives `leave` bytes back.
void fill(const std::string& path, long leave) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    const std::string block(4096, 'f');
    off_t size = 0;
    for (ssize_t n; (n = ::write(fd, block.data(), block.size())) > 0;) size += n;
    REQUIRE(::ftruncate(fd, std::max<off_t>(0, size - leave)) == 0);
    ::close(fd);
}

}  // namespace

TEST_CASE("every writer refuses a full disk cleanly and keeps the previous file", "[cli][io][diskfull]") {
    test::TempDir dir("diskfull");
    const std::string spec = test::tiny_sweep_args(dir);  // also trains: dir/fp.h5, fp.ckpt, fp.csv
    const std::string train = "train --model tiny --epochs 2 --batch 50 --lr 0.05 --data " + dir / "data" +
                              " --threads 2 --quiet --test-limit 100";
    const std::string cells = "cells --device " + kCard + " --level 3 --count 200 --out ";
    // The good files the refused runs must leave alone.
    REQUIRE(run_cli("sweep " + spec + " --threads 2 --stop-after-units 2 --out " + dir / "a.h5").code == 3);
    const long units = mc::read_results(dir / "a.h5").units_done();
    require_ok("merge " + dir / "a.h5 -o " + dir / "m.h5");
    require_ok(cells + dir / "c.csv");
    require_ok(cells + dir / "c.h5");
    require_ok("array-solve --tile " + kTile + " --out " + dir / "i.csv");
    for (const char* f : {"fp.h5", "fp.ckpt", "fp.csv", "a.h5", "m.h5", "c.csv", "c.h5", "i.csv"}) REQUIRE(fs::file_size(dir / f) > 0);

    // Over a file-size limit (ulimit -f counts 512-byte blocks): each write fails with EFBIG.
    const std::string none = "ulimit -f 0; ", half_kb = "ulimit -f 1; ";
    require_refused(half_kb, train + " --out " + dir / "fp.h5 --checkpoint " + dir / "fp.ckpt --stop-after-steps 1",
                    dir / "fp.ckpt");                                                    // checkpoint
    require_refused(half_kb, train + " --out " + dir / "fp.h5 --checkpoint " + dir / "fp.ckpt --resume", dir / "fp.h5");  // model
    require_refused(none, train + " --out " + dir / "fp.h5 --checkpoint " + dir / "fp.ckpt --resume", dir / "fp.csv");    // log
    require_refused(none, "sweep " + spec + " --threads 2 --resume --out " + dir / "a.h5", dir / "a.h5");
    require_refused(none, "merge " + dir / "a.h5 -o " + dir / "m.h5", dir / "m.h5");
    require_refused(none, cells + dir / "c.csv", dir / "c.csv");
    require_refused(none, cells + dir / "c.h5", dir / "c.h5");
    require_refused(none, "array-solve --tile " + kTile + " --out " + dir / "i.csv", dir / "i.csv");

    // A full tmpfs, where this process may mount one (root or CAP_SYS_ADMIN; a CI container may not).
    {
        SmallTmpfs small(dir / "small", 1 << 20);
        if (!small.mounted()) {
            WARN("tmpfs part skipped: this process may not mount a tmpfs (needs root or CAP_SYS_ADMIN)");
        } else {
            const std::string s = small.dir + "/";
            for (const char* f : {"fp.h5", "fp.ckpt", "fp.csv", "a.h5", "m.h5", "c.csv", "c.h5", "i.csv"})
                fs::copy_file(dir / f, s + f);
            // 8 KiB free: the new log fits, the checkpoint does not.
            fill(s + "filler", 8192);
            require_refused("", train + " --out " + s + "fp.h5 --checkpoint " + s + "fp.ckpt --stop-after-steps 1", s + "fp.ckpt");
            fill(s + "filler", 0);  // not a byte free
            require_refused("", train + " --out " + s + "fp.h5 --checkpoint " + s + "fp.ckpt --resume", s + "fp.csv");
            require_refused("", "sweep " + spec + " --threads 2 --resume --out " + s + "a.h5", s + "a.h5");
            require_refused("", "merge " + dir / "a.h5 -o " + s + "m.h5", s + "m.h5");
            require_refused("", cells + s + "c.csv", s + "c.csv");
            require_refused("", cells + s + "c.h5", s + "c.h5");
            require_refused("", "array-solve --tile " + kTile + " --out " + s + "i.csv", s + "i.csv");
            fs::remove(s + "filler");
            require_ok("merge " + dir / "a.h5 -o " + s + "m.h5");  // room again: the write goes through
            REQUIRE(mc::read_results(s + "m.h5").units_done() == units);
        }
    }

    // A checkpoint refused in the middle of a run: with room for one copy of the file but not two,
    // the first write passes and the second (the new file beside the old, then the rename) fails.
    // That write happens inside the OpenMP critical section that stores the units, which no
    // exception may leave: the run must stop with the error (exit 1), not abort; the file keeps the
    // first checkpoint, and --resume with room again completes the sweep.
    {
        require_ok("sweep " + spec + " --threads 2 --out " + dir / "whole.h5");
        const auto whole = static_cast<long>(fs::file_size(dir / "whole.h5"));
        SmallTmpfs small(dir / "small2", 1 << 20);
        if (small.mounted()) {
            const std::string out = small.dir + "/mid.h5";
            fill(small.dir + "/filler", whole * 3 / 2);
            const auto r = test::run_shell(std::string(FLASHMC_BINARY) + " sweep " + spec + " --threads 2 --out " + out);
            INFO(r.output);
            REQUIRE(r.code == 1);
            REQUIRE(count(r.output, "error:") == 1);
            REQUIRE_THAT(r.output, Catch::Contains(out + ": cannot") && !Catch::Contains("terminate"));
            REQUIRE(!mc::read_results(out).complete());
            fs::remove(small.dir + "/filler");
            require_ok("sweep " + spec + " --threads 2 --resume --out " + out);
            REQUIRE(mc::read_results(out).complete());
        }
    }

    // kill -9 mid-write leaves `.NAME.tmp.<pid>.<n>` (pid 999999999 never runs) and, from earlier
    // versions, `NAME.tmp.<pid>.<n>`: the next run removes them and resumes from the last good file.
    for (const char* f : {"/.a.h5.tmp.999999999.0", "/a.h5.tmp.999999999.1", "/.fp.ckpt.tmp.999999999.0", "/.fp.csv.tmp.999999999.2"})
        std::ofstream(dir.path.string() + f) << "half a file";
    REQUIRE(io::temporaries_of(dir / "a.h5").size() == 2);
    const auto r = run_cli("sweep " + spec + " --threads 2 --resume --stop-after-units 1 --out " + dir / "a.h5");
    INFO(r.output);
    REQUIRE(r.code == 3);
    REQUIRE(mc::read_results(dir / "a.h5").units_done() > units);
    REQUIRE(io::temporaries_of(dir / "a.h5").empty());
    require_ok(train + " --out " + dir / "fp.h5 --checkpoint " + dir / "fp.ckpt --resume");  // removes them first
    REQUIRE(io::temporaries_of(dir / "fp.ckpt").empty());
    REQUIRE(io::temporaries_of(dir / "fp.csv").empty());
}
