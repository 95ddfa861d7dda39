#include <cstdio>

#include "command.hpp"
#include "flashmc/core/version.hpp"

namespace flashmc::cli {
namespace {
int run(Args& a) {
    a.finish();
    std::printf("flashmc %s (%s)\n", version().c_str(), git_commit().c_str());
    return 0;
}
const Registration reg({"version", "print the version and git commit", "flashmc version", run});
}  // namespace
}  // namespace flashmc::cli
