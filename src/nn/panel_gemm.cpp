#include "flashmc/nn/panel_gemm.hpp"

#include <algorithm>
#include <cstring>

namespace flashmc::nn {

namespace {

// One vector of kPanelAlign floats (GCC/Clang vector extension: one AVX-512 register with
// -march=native on this project's machines, split into narrower registers elsewhere).
using Vec = float __attribute__((vector_size(4 * kPanelAlign)));

Vec load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// The first `lanes` floats of v (all of them but at the end of an image).
void store(float* y, Vec v, int lanes) {
    if (lanes == kPanelAlign) std::memcpy(y, &v, sizeof v);
    else std::memcpy(y, &v, sizeof(float) * static_cast<std::size_t>(lanes));
}

// Rows o.. of Y (kPanelRows, of which `rows` are stored) × V vectors, from the packed block wb
// [K][kPanelRows] of those rows. The kPanelRows·V accumulators and V operands (27 of the 32
// AVX-512 registers at V = 3) stay in registers over k: per k, V loads, kPanelRows broadcasts
// and kPanelRows·V fused multiply-adds (the compiler contracts a·b + c).
template <int V>
void tile(const float* wb, int K, const std::ptrdiff_t* off, const PanelVector* vec, std::size_t ldy, int o, int rows,
          const float* bias) {
    Vec acc[kPanelRows][V] = {};
    const float* xb[V];
    for (int v = 0; v < V; ++v) xb[v] = vec[v].x;
    for (int k = 0; k < K; ++k) {
        Vec xv[V];
        for (int v = 0; v < V; ++v) xv[v] = load(xb[v] + off[k]);
        const float* wk = wb + static_cast<std::size_t>(k) * kPanelRows;
        for (int r = 0; r < kPanelRows; ++r)
            for (int v = 0; v < V; ++v) acc[r][v] += wk[r] * xv[v];
    }
    // Unrolled (fixed trip counts), so that the accumulators are stored from registers rather
    // than spilled to an array first.
#pragma GCC unroll 8
    for (int r = 0; r < kPanelRows; ++r)
#pragma GCC unroll 3
        for (int v = 0; v < V; ++v) {
            if (r >= rows) continue;
            const Vec out = acc[r][v] + bias[o + r];
            float* y = vec[v].y + static_cast<std::size_t>(o + r) * ldy;
            store(y, out, vec[v].lanes);
        }
}

}  // namespace

void pack_panel_weights(const float* w, int rows, int K, FloatVec& packed) {
    const int blocks = (rows + kPanelRows - 1) / kPanelRows;
    packed.assign(static_cast<std::size_t>(blocks) * K * kPanelRows, 0.0f);
    for (int o = 0; o < rows; ++o)
        for (int k = 0; k < K; ++k)
            packed[(static_cast<std::size_t>(o / kPanelRows) * K + k) * kPanelRows + o % kPanelRows] =
                w[static_cast<std::size_t>(o) * K + k];
}

void pack_panel_weights_transposed(const float* wt, int rows, int K, float scale, FloatVec& packed) {
    const int blocks = (rows + kPanelRows - 1) / kPanelRows;
    packed.resize(static_cast<std::size_t>(blocks) * K * kPanelRows);
    for (int b = 0; b < blocks; ++b) {
        const int o0 = b * kPanelRows, r = std::min(kPanelRows, rows - o0);
        float* dst = packed.data() + static_cast<std::size_t>(b) * K * kPanelRows;
        for (int k = 0; k < K; ++k, dst += kPanelRows) {
            const float* src = wt + static_cast<std::size_t>(k) * rows + o0;
            for (int j = 0; j < kPanelRows; ++j) dst[j] = j < r ? src[j] * scale : 0.0f;
        }
    }
}

void panel_gemm(const FloatVec& packed, int rows, int K, const std::ptrdiff_t* off, std::span<const PanelVector> vectors,
                std::size_t ldy, const float* bias) {
    const int n = static_cast<int>(vectors.size());
    // Column tiles outermost: a tile's operands are reused from L1 by every row block, and the
    // packed weights stream sequentially. Tiles of 3 vectors; a remainder of 4 as 2 + 2.
    for (int v0 = 0; v0 < n;) {
        const int left = n - v0, wide = left == 4 ? 2 : std::min(left, 3);
        for (int o = 0; o < rows; o += kPanelRows) {
            const float* wb = packed.data() + static_cast<std::size_t>(o / kPanelRows) * K * kPanelRows;
            const int r = std::min(kPanelRows, rows - o);
            const PanelVector* vec = vectors.data() + v0;
            if (wide == 3) tile<3>(wb, K, off, vec, ldy, o, r, bias);
            else if (wide == 2) tile<2>(wb, K, off, vec, ldy, o, r, bias);
            else tile<1>(wb, K, off, vec, ldy, o, r, bias);
        }
        v0 += wide;
    }
}

}  // namespace flashmc::nn
