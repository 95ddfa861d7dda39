// CNN engine benchmark: SGEMM peak (the practical roof), conv forward GFLOP/s per ResNet-18 layer
// shape, whole-network inference images/s (float and integer), training images/s, and measured
// seconds per training epoch. Figures are reported as ratios to the measured SGEMM peak.
//   bench_nn [--threads N] [--quick]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "flashmc/core/parallel.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/loss.hpp"
#include "flashmc/nn/zoo.hpp"
#include "bench_util.hpp"

using namespace flashmc;
using namespace flashmc::nn;
using namespace flashmc::bench;

namespace {

Tensor random_batch(int n, int c, int h, int w) {
    Tensor t(n, c, h, w);
    Stream r = Streams(1).at({2});
    for (auto& v : t.data) v = static_cast<float>(r.normal());
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 2;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        if (!std::strcmp(argv[i], "--quick")) quick = true;
    }
    set_threads(threads);
    const double min_s = quick ? 0.3 : 2.0;
    std::printf("flashmc bench_nn: %d threads\n\n", threads);

    // 1. SGEMM peak: Eigen float GEMM, square matrices.
    const double peak = sgemm_peak_gflops(min_s);

    // 2. Conv forward per ResNet-18 layer shape, batch 32.
    struct Shape { int cin, cout, hw, k, stride; };
    const Shape shapes[] = {{3, 64, 32, 3, 1}, {64, 64, 32, 3, 1}, {64, 128, 32, 3, 2}, {128, 128, 16, 3, 1},
                            {128, 256, 16, 3, 2}, {256, 256, 8, 3, 1}, {256, 512, 8, 3, 2}, {512, 512, 4, 3, 1}, {64, 128, 32, 1, 2}};
    std::printf("%-34s %10s %9s\n", "conv forward (ResNet-18 shapes, N=32)", "GFLOP/s", "of peak");
    for (const auto& s : shapes) {
        Conv2d conv(s.cin, s.cout, s.k, s.stride, s.k / 2, false);
        Stream r = Streams(3).at({4});
        conv.init_he(r);
        Tensor x = random_batch(32, s.cin, s.hw, s.hw), y;
        Context ctx;
        double t = time_it([&] { conv.forward({&x}, y, ctx); }, min_s);
        double flops = 2.0 * conv.macs_per_image({x.shape}) * 32;
        char name[64];
        std::snprintf(name, sizeof name, "%dx%d %d->%d k%d s%d", s.hw, s.hw, s.cin, s.cout, s.k, s.stride);
        std::printf("%-34s %10.1f %8.0f%%\n", name, flops / t / 1e9, 100 * flops / t / 1e9 / peak);
    }
    std::printf("\n");

    // 3. Whole-network inference and training throughput.
    std::printf("%-10s %16s %10s %16s %14s\n", "model", "inference img/s", "of peak", "training img/s", "s/epoch (50k)");
    for (const char* name : {"resnet20", "resnet18", "vgg16", "alexnet"}) {
        Model m = build_model(name, 1);
        const double macs = static_cast<double>(m.macs_per_image());
        const int n = std::string(name) == "resnet20" ? 128 : 32;
        Tensor x = random_batch(n, 3, 32, 32), dz;
        std::vector<std::uint8_t> labels(static_cast<std::size_t>(n), 3);
        Context eval;
        double ti = time_it([&] { m.forward(x, eval); }, min_s);
        Streams streams(1);
        Context train{true, 0, &streams, 0};
        double tt = time_it([&] {
            m.zero_grad();
            softmax_cross_entropy(m.forward(x, train), labels.data(), 0.1f, &dz, nullptr);
            m.backward(dz, train);
        }, min_s);
        const double ips = n / ti, tps = n / tt;
        std::printf("%-10s %16.0f %9.0f%% %16.0f %14.0f\n", name, ips, 100 * 2 * macs * ips / 1e9 / peak, tps, 50000 / tps);
    }
    return 0;
}
