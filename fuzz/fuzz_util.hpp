#pragma once
// Shared by the libFuzzer targets (fuzz/README.md). Each target feeds its input to the loader a
// user's file goes through and accepts exactly one outcome besides success: flashmc::Error, the
// clean one-line rejection. Any other exception, a crash, a sanitizer report, a leak or an HDF5
// object left open is a finding.
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "flashmc/core/parallel.hpp"

namespace flashmc::fuzz {

// A scratch directory of this process (in /dev/shm when there is one: the loaders take paths, and
// every input is written to a file first), removed at exit. One OpenMP thread: inputs are tiny.
inline const std::filesystem::path& scratch() {
    static const std::filesystem::path dir = [] {
        std::filesystem::path base = std::filesystem::temp_directory_path();
        if (!std::getenv("TMPDIR") && access("/dev/shm", W_OK) == 0) base = "/dev/shm";
        const auto d = base / ("flashmc-fuzz-" + std::to_string(getpid()));
        std::filesystem::create_directories(d);
        std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch(), ec); });
        set_threads(1);
        return d;
    }();
    return dir;
}

inline std::string write_file(const std::string& name, const void* data, std::size_t size) {
    const std::string path = (scratch() / name).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

// Every HDF5 file, group, dataset and attribute a loader opened must be closed when it returns or
// throws: a handle left open is a leak (and would keep the next input's file from being read).
inline void require_no_open_hdf5_objects() {
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        std::fprintf(stderr, "fuzz: HDF5 objects left open after the loader returned\n");
        std::abort();
    }
}

}  // namespace flashmc::fuzz
