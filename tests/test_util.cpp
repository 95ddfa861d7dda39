#include "test_util.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>

namespace flashmc::test {

RunResult run_cli(const std::string& args) {
    std::string cmd = std::string(FLASHMC_BINARY) + " " + args + " 2>&1";
    RunResult r{-1, ""};
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace flashmc::test
