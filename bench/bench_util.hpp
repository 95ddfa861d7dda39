#pragma once
// Shared by the benchmarks: timing, and the SGEMM peak every figure is a ratio to.
#include <Eigen/Core>

#include <chrono>
#include <cstdio>

namespace flashmc::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs f repeatedly for at least `min_s` seconds (after one warm-up); returns seconds per call.
template <class F>
double time_it(F&& f, double min_s) {
    f();
    int reps = 0;
    auto t0 = Clock::now();
    do {
        f();
        ++reps;
    } while (seconds_since(t0) < min_s);
    return seconds_since(t0) / reps;
}

// The practical roof: Eigen float GEMM on square matrices of 512, 1024, 2048 (best), printed.
inline double sgemm_peak_gflops(double min_s) {
    double peak = 0;
    for (int n : {512, 1024, 2048}) {
        Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
        const double s = time_it([&] { c.noalias() = a * b; }, min_s);
        const double gf = 2.0 * n * n * n / s / 1e9;
        peak = gf > peak ? gf : peak;
        std::printf("sgemm %4d^3: %7.1f GFLOP/s\n", n, gf);
    }
    std::printf("SGEMM peak (practical roof): %.1f GFLOP/s\n\n", peak);
    return peak;
}

}  // namespace flashmc::bench
