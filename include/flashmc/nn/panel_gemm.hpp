#pragma once
// Y = W·X + bias for a weight matrix W with few rows (a layer's output channels) against columns
// of X gathered from a panel: the product of the integer conv path (QuantModel::accumulate_with).
//
// X is addressed, not copied: the columns come in vectors of kPanelAlign, each a pointer x_v into
// a panel, and row k of X is x_v + off[k] (a conv reads shifted rows of its input panel,
// ConvPanel in conv2d.hpp). W is packed once per layer into blocks of kPanelRows rows, k-major,
// so that the kernel broadcasts it sequentially. The register tile is kPanelRows rows × up to
// three vectors, the packed panel operand of a general GEMM is never formed. Every output is one sum over k in increasing order, then + bias, whatever the
// tiling or the thread that runs it, so the result is deterministic; on integer-valued operands
// with sums below 2^24 it is exact.
#include <cstddef>
#include <span>

#include "flashmc/core/tensor.hpp"

namespace flashmc::nn {

constexpr int kPanelRows = 8;    // rows of W per register tile
constexpr int kPanelAlign = 16;  // columns per vector (one 512-bit vector of floats)

// W [rows][K] (row-major) into `packed`: blocks of kPanelRows rows, each [K][kPanelRows], the
// last block zero-padded.
void pack_panel_weights(const float* w, int rows, int K, FloatVec& packed);
// The same from W's transpose wt [K][rows] (row-major), each element times `scale`; reuses `packed`.
// Same bits as scaling W, then pack_panel_weights.
void pack_panel_weights_transposed(const float* wt, int rows, int K, float scale, FloatVec& packed);

// One vector of columns: X[k][j] = x[off[k] + j] and Y[o][j] = y[o·ldy + j] for j < lanes
// (≤ kPanelAlign; x is read for all kPanelAlign columns).
struct PanelVector {
    const float* x;
    float* y;
    int lanes;
};

// Y[o][·] = bias[o] + Σ_k W[o][k]·X[k][·] for o < rows and every vector.
void panel_gemm(const FloatVec& packed, int rows, int K, const std::ptrdiff_t* off, std::span<const PanelVector> vectors,
                std::size_t ldy, const float* bias);

}  // namespace flashmc::nn
