// io::AtomicFile and h5::AtomicWrite on a refused write: the previous file stays byte for byte, no
// temporary is left, one Error names the file, and HDF5 keeps no object of the failed write open.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../test_util.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/atomic_file.hpp"
#include "flashmc/io/hdf5.hpp"

using namespace flashmc;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// While alive, this process may not write a file past `bytes` (RLIMIT_FSIZE): a write there fails
// with EFBIG, as on a full disk (SIGXFSZ, which would kill the process, is ignored meanwhile).
struct FileSizeLimit {
    rlimit old{};
    void (*old_handler)(int) = nullptr;
    explicit FileSizeLimit(rlim_t bytes) {
        getrlimit(RLIMIT_FSIZE, &old);
        old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lim = old;
        lim.rlim_cur = bytes;
        REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, old_handler);
    }
};

// Open HDF5 objects of any file, of this process.
ssize_t open_h5_objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

void write_h5(const std::string& path, std::size_t n, double value) {
    h5::AtomicWrite w(path);
    h5::stamp(w.root(), "flashmc.test", 1);
    h5::Group g = w.root().create("data");  // still open at commit, closed after it
    g.write("x", std::vector<double>(n, value));
    g.set_attr("value", value);
    w.commit();
}

}  // namespace

TEST_CASE("AtomicFile writes the whole file, or leaves the previous one and no temporary", "[io][atomic]") {
    test::TempDir dir("atomic-file");
    const std::string path = dir / "sub/out.csv";  // the directory is created
    io::write_file_atomic(path, "old\n");
    REQUIRE(slurp(path) == "old\n");
    REQUIRE(io::temporaries_of(path).empty());
    {
        io::AtomicFile f(path);
        REQUIRE(fs::path(f.temporary()).filename().string().rfind(".out.csv.tmp.", 0) == 0);
        REQUIRE(fs::exists(f.temporary()));
        f.write(std::string(100000, 'x'));
        // Destroyed without commit: as if the writer failed elsewhere.
    }
    REQUIRE(slurp(path) == "old\n");
    REQUIRE(io::temporaries_of(path).empty());

    std::string message;
    try {
        FileSizeLimit limit(4096);
        io::AtomicFile f(path);
        for (int i = 0; i < 1000; ++i) f.write("a line of a large file that does not fit\n");
        f.commit();
    } catch (const Error& e) {
        message = e.what();
    }
    INFO(message);
    REQUIRE(message.find(path + ": cannot write: File too large; the previous file is left unchanged") == 0);
    REQUIRE(slurp(path) == "old\n");
    REQUIRE(io::temporaries_of(path).empty());

    // The first write of a new file: nothing is left at all.
    const std::string fresh = dir / "fresh.csv";
    {
        FileSizeLimit limit(10);
        REQUIRE_THROWS_WITH(io::write_file_atomic(fresh, std::string(11, 'y')), Catch::Contains("no file was written"));
    }
    REQUIRE(!fs::exists(fresh));
    REQUIRE(io::temporaries_of(fresh).empty());

    io::write_file_atomic(path, "new\n");
    REQUIRE(slurp(path) == "new\n");
    // Through a symbolic link: the file it points to is replaced, the link stays.
    const std::string link = dir / "link.csv";
    fs::create_symlink(path, link);
    io::write_file_atomic(link, "via link\n");
    REQUIRE(fs::is_symlink(link));
    REQUIRE(slurp(path) == "via link\n");
    REQUIRE(io::temporaries_of(path).empty());
    REQUIRE_THROWS_WITH(io::write_file_atomic(dir.path.string(), "x"), Catch::Contains("is a directory"));
}

TEST_CASE("AtomicFile writes into a pipe or device in place and reports its failure", "[io][atomic]") {
    io::write_file_atomic("/dev/null", "discarded\n");
    if (fs::exists("/dev/full"))
        REQUIRE_THROWS_WITH(io::write_file_atomic("/dev/full", "x"), Catch::Contains("No space left on device"));
    REQUIRE(fs::is_character_file("/dev/null"));
}

TEST_CASE("stale temporaries of dead processes and old ones are removed by the next write", "[io][atomic]") {
    test::TempDir dir("atomic-stale");
    const std::string path = dir / "r.h5";
    const std::string self = std::to_string(::getpid());
    // pid 999999999 is above any pid_max (at most 2^22), so that process is never running.
    const std::string dead = dir / ".r.h5.tmp.999999999.0", legacy = dir / "r.h5.tmp.999999999.3",
                      mine = dir / (".r.h5.tmp." + self + ".77"), old_mine = dir / (".r.h5.tmp." + self + ".78"),
                      other = dir / ".q.h5.tmp.999999999.0", user = dir / "r.h5.tmp";
    for (const auto& p : {dead, legacy, mine, old_mine, other, user}) std::ofstream(p) << "partial";
    fs::last_write_time(old_mine, fs::file_time_type::clock::now() - std::chrono::hours(49));
    REQUIRE(io::temporaries_of(path).size() == 4);

    write_h5(path, 10, 1.0);
    REQUIRE(!fs::exists(dead));
    REQUIRE(!fs::exists(legacy));
    REQUIRE(!fs::exists(old_mine));
    REQUIRE(fs::exists(mine));   // a live process's write in progress: left alone
    REQUIRE(fs::exists(other));  // another file's
    REQUIRE(fs::exists(user));   // not a temporary of this scheme
    REQUIRE(io::temporaries_of(path) == std::vector<std::string>{mine});
    REQUIRE(h5::open_read(path).open("data").attr_double("value") == 1.0);
}

TEST_CASE("h5::AtomicWrite on a refused write keeps the previous file and no HDF5 object open", "[io][atomic][hdf5]") {
    test::TempDir dir("atomic-h5");
    const std::string path = dir / "m.h5";
    const ssize_t objects_before = open_h5_objects();
    write_h5(path, 1000, 1.0);
    const std::string good = slurp(path);
    REQUIRE(open_h5_objects() == objects_before);
    {
        auto root = h5::open_read(path);
        REQUIRE(root.attr_string("filetype") == "flashmc.test");
        REQUIRE(root.open("data").read<double>("x") == std::vector<double>(1000, 1.0));
    }

    std::string message;
    try {
        FileSizeLimit limit(good.size() / 2);
        write_h5(path, 1000, 2.0);
    } catch (const Error& e) {
        message = e.what();
    }
    INFO(message);
    REQUIRE(message.find(path + ": cannot write: File too large; the previous file is left unchanged") == 0);
    REQUIRE(slurp(path) == good);
    REQUIRE(io::temporaries_of(path).empty());
    REQUIRE(open_h5_objects() == objects_before);  // nothing dangling for HDF5's exit-time cleanup

    // A write abandoned by an exception part way (the caller failed): nothing written, nothing open.
    try {
        h5::AtomicWrite w(path);
        w.root().create("half").write("x", std::vector<double>(10, 3.0));
        fail("the caller failed");
    } catch (const Error&) {
    }
    REQUIRE(slurp(path) == good);
    REQUIRE(io::temporaries_of(path).empty());
    REQUIRE(open_h5_objects() == objects_before);

    write_h5(path, 1000, 2.0);
    REQUIRE(h5::open_read(path).open("data").attr_double("value") == 2.0);
    REQUIRE(open_h5_objects() == objects_before);
}
