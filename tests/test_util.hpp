#pragma once
// Helpers shared by the tests: a scratch directory per test and running the flashmc binary.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace flashmc::test {

// A fresh directory under the build tree's test scratch space, removed on destruction.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name) {
        path = std::filesystem::temp_directory_path() / ("flashmc-test-" + name + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string& f) const { return (path / f).string(); }
};

struct RunResult {
    int code;
    std::string output;  // stdout and stderr together
};

// Runs `flashmc <args>` through the shell and captures its output.
RunResult run_cli(const std::string& args);
// Runs a shell command line and captures its output.
RunResult run_shell(const std::string& command);

inline std::string source_dir() { return FLASHMC_SOURCE_DIR; }

}  // namespace flashmc::test

namespace flashmc::test {
// Writes a small learnable CIFAR-format dataset into `dir` (data_batch_1..5.bin and
// test_batch.bin, `per_file` records each): each class has its own color tint and stripe
// orientation plus noise, so a tiny network learns it in a few epochs.
void write_synthetic_cifar(const std::string& dir, int per_file, std::uint64_t seed = 1);
}  // namespace flashmc::test
