#pragma once
// A dense float32 tensor in NCHW layout (a vector is N×F×1×1). Storage is 64-byte aligned for
// Eigen and AVX-512 loads. Plain data: copying copies.
#include <array>
#include <cstddef>
#include <vector>

#include <Eigen/Core>

namespace flashmc {

using FloatVec = std::vector<float, Eigen::aligned_allocator<float>>;

struct Tensor {
    std::array<int, 4> shape{0, 0, 0, 0};  // N, C, H, W
    FloatVec data;

    Tensor() = default;
    Tensor(int n, int c, int h = 1, int w = 1) { resize(n, c, h, w); }

    void resize(int n, int c, int h = 1, int w = 1) {
        shape = {n, c, h, w};
        data.resize(static_cast<std::size_t>(n) * c * h * w);
    }
    void resize_like(const Tensor& o) { resize(o.n(), o.c(), o.h(), o.w()); }
    void zero() { std::fill(data.begin(), data.end(), 0.0f); }

    int n() const { return shape[0]; }
    int c() const { return shape[1]; }
    int h() const { return shape[2]; }
    int w() const { return shape[3]; }
    std::size_t size() const { return data.size(); }
    std::size_t per_image() const { return static_cast<std::size_t>(c()) * h() * w(); }
    float* ptr() { return data.data(); }
    const float* ptr() const { return data.data(); }
    float* image(int i) { return data.data() + i * per_image(); }
    const float* image(int i) const { return data.data() + i * per_image(); }
    float& at(int n, int c, int h, int w) { return data[((static_cast<std::size_t>(n) * shape[1] + c) * shape[2] + h) * shape[3] + w]; }
    float at(int n, int c, int h, int w) const { return data[((static_cast<std::size_t>(n) * shape[1] + c) * shape[2] + h) * shape[3] + w]; }
};

}  // namespace flashmc
