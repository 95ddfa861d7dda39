#include "test_util.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace flashmc::test {

RunResult run_cli(const std::string& args) { return run_shell(std::string(FLASHMC_BINARY) + " " + args); }

RunResult run_shell(const std::string& command) {
    std::string cmd = command + " 2>&1";
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

#include "flashmc/core/rng.hpp"
#include "flashmc/io/cifar10.hpp"

namespace flashmc::test {

void write_synthetic_cifar(const std::string& dir, int per_file, std::uint64_t seed) {
    std::filesystem::create_directories(dir);
    Streams streams(seed);
    auto make = [&](const std::string& name, std::uint64_t file) {
        Cifar10 d;
        for (int i = 0; i < per_file; ++i) {
            Stream r = streams.at({file, static_cast<std::uint64_t>(i)});
            const int label = static_cast<int>(r.below(10));
            d.labels.push_back(static_cast<std::uint8_t>(label));
            for (int c = 0; c < 3; ++c)
                for (int y = 0; y < 32; ++y)
                    for (int x = 0; x < 32; ++x) {
                        const double tint = 60.0 * (((label >> c) & 1) ? 1 : -1);
                        const double stripe = 40.0 * std::sin((label % 2 ? x : y) * (0.3 + 0.1 * (label / 2)));
                        const double v = 128 + tint + stripe + 25 * r.normal();
                        d.pixels.push_back(static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0)));
                    }
        }
        write_cifar10_file(dir + "/" + name, d);
    };
    for (int b = 1; b <= 5; ++b) make("data_batch_" + std::to_string(b) + ".bin", static_cast<std::uint64_t>(b));
    make("test_batch.bin", 99);
}

}  // namespace flashmc::test
