// flashmc stamp: give HDF5 files written without flashmc's integrity block (by another tool, or by
// flashmc before the block existed) one, so that flashmc reads them.
#include <cstdio>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/io/hdf5.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc stamp FILE.h5...

Every HDF5 file flashmc writes begins with an integrity block (a 512-byte HDF5 user block holding
the size and SHA-256 of the rest), and flashmc reads only files whose block matches their content:
a truncated or corrupted file stops with one error instead of reaching libhdf5's parser. This
command gives each FILE without a block one, in place (atomically): use it for a file you trust
that another tool wrote (h5py, a converter) or that flashmc wrote before the block existed. Files
whose block is already valid are left as they are; a file whose block does not match its content
is corrupted and is refused.)";

int run(Args& a) {
    a.finish(static_cast<std::size_t>(-1));
    if (a.positional().empty()) fail("stamp: no input files; see flashmc help stamp");
    for (const auto& path : a.positional())
        std::printf("%s: %s\n", path.c_str(), h5::add_integrity_block(path) ? "integrity block added" : "already has a valid integrity block");
    return 0;
}

const Registration reg({"stamp", "add the integrity block to HDF5 files written without one", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
