#include "flashmc/array/ir_fast.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <Eigen/Core>

#include "flashmc/core/error.hpp"
#include "flashmc/core/fast_math.hpp"
#include "flashmc/core/units.hpp"

namespace flashmc::array {

TileOperatingPoint operating_point(const device::IvParams& iv, const TileCells& cells,
                                   const device::ReadConditions& read, const WireParams& wires) {
    cells.validate();
    TileOperatingPoint op;
    if (cells.current_factor.empty()) {
        operating_point(iv, cells.rows, cells.cols, cells.vth_v, cells.slope_n, read, wires, op);
    } else {  // the cells' current factors scale each current and its coefficients, as a noisy read's
        const std::vector<float> no_shift(cells.vth_v.size(), 0.0f);
        operating_point(iv, cells.rows, cells.cols, cells.vth_v, cells.slope_n, read, wires, op, no_shift, cells.current_factor);
    }
    return op;
}

namespace {

// operating_point's loops; Noisy: V_th + shift, results × factor (float arithmetic as a shifted copy
// of the cells and a scaled result would give).
//
// I = I_0(T)[F(u) − F(w)], u = (V_GS − V_th(T))/(n V_T), w = u − V_DS/V_T, F(x) = S(x)², S = ln(1 + e^{x/2}),
// with V_GS = V_g − r_SL P, V_DS = V_DS,read − (r_BL + r_SL) P: du/dP = α, dw/dP = β; with
// σ = σ(x/2) = e^{x/2 − S}: F' = S σ, F'' = ½σ² + ½ S σ(1 − σ). Two exp and two log per cell, no
// branches: the loops vectorize. Without wire resistance h = q = 0 exactly (α = β = 0), so only the
// currents are evaluated.
template <bool Noisy, bool Wires>
void operating_point_cells(const device::IvParams& iv, int rows, int cols, const float* vth, const float* slope,
                           const device::ReadConditions& read, const WireParams& wires, TileOperatingPoint& op,
                           const float* shift, const float* factor) {
    const double t = read.temperature_c;
    const double vt = units::thermal_voltage_v(t);
    const double i0 = device::specific_current_at_a(iv, t);
    const double vth_shift = device::vth_at_temperature_v(iv, 0.0, t);  // V_th(T) = V_th(T_0) + vth_shift
    const double rs = wires.r_sl_ohm, rsum = wires.r_bl_ohm + wires.r_sl_ohm, vds_over_vt = read.vds_v / vt;
    float* const cur = op.current_a.data();
    float* const slope_out = op.drop_slope.data();
    float* const curv_out = op.drop_curvature_per_a.data();
    // Cell k (col-major) into o (row-major).
    const auto cell = [&](std::size_t k, std::size_t o) {
        const float v = Noisy ? vth[k] + shift[k] : vth[k];
        const double nvt = static_cast<double>(slope[k]) * vt;
        const double u = (read.vgs_v - (static_cast<double>(v) + vth_shift)) / nvt;
        const double w = u - vds_over_vt;
        const double su = device::softplus(0.5 * u), sw = device::softplus(0.5 * w);
        const float i = static_cast<float>(i0 * (su * su - sw * sw));
        const float f = Noisy ? factor[k] : 1.0f;
        cur[o] = Noisy ? i * f : i;
        if constexpr (Wires) {
            const double alpha = -rs / nvt, beta = alpha + rsum / vt;
            const double gu = exp_fast(0.5 * u - su), gw = exp_fast(0.5 * w - sw);
            const double fu2 = 0.5 * gu * gu + 0.5 * su * gu * (1.0 - gu), fw2 = 0.5 * gw * gw + 0.5 * sw * gw * (1.0 - gw);
            const float h = static_cast<float>(-i0 * (su * gu * alpha - sw * gw * beta));
            const float q = static_cast<float>(0.5 * i0 * (fu2 * alpha * alpha - fw2 * beta * beta));
            slope_out[o] = Noisy ? h * f : h, curv_out[o] = Noisy ? q * f : q;
        }
    };
    const auto cols_z = static_cast<std::size_t>(cols), rows_z = static_cast<std::size_t>(rows);
    if constexpr (!Wires) {
        std::fill(op.drop_slope.begin(), op.drop_slope.end(), 0.0f);
        std::fill(op.drop_curvature_per_a.begin(), op.drop_curvature_per_a.end(), 0.0f);
    }
#pragma omp parallel for schedule(static)
    for (std::size_t c = 0; c < cols_z; ++c) {
#pragma omp simd
        for (std::size_t r = 0; r < rows_z; ++r) cell(c * rows_z + r, r * cols_z + c);
    }
}

}  // namespace

void operating_point(const device::IvParams& iv, int rows, int cols, std::span<const float> vth_v,
                     std::span<const float> slope_n, const device::ReadConditions& read, const WireParams& wires,
                     TileOperatingPoint& op, std::span<const float> vth_shift_v, std::span<const float> current_factor) {
    wires.validate();
    const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
    if (rows < 1 || cols < 1 || vth_v.size() != n || slope_n.size() != n)
        fail("operating_point: ", vth_v.size(), " V_th and ", slope_n.size(), " slopes for a ", rows, " x ", cols, " tile");
    const bool noisy = !vth_shift_v.empty() || !current_factor.empty();
    if (noisy && (vth_shift_v.size() != n || current_factor.size() != n))
        fail("operating_point: a noisy read needs ", n, " V_th shifts and current factors, got ", vth_shift_v.size(), " and ",
             current_factor.size());
    op.rows = rows, op.cols = cols;
    op.current_a.resize(n), op.drop_slope.resize(n), op.drop_curvature_per_a.resize(n);
    const float* const sh = noisy ? vth_shift_v.data() : nullptr;
    const float* const f = noisy ? current_factor.data() : nullptr;
    const bool with_wires = wires.r_bl_ohm + wires.r_sl_ohm != 0.0;
    if (noisy && with_wires) operating_point_cells<true, true>(iv, rows, cols, vth_v.data(), slope_n.data(), read, wires, op, sh, f);
    else if (noisy) operating_point_cells<true, false>(iv, rows, cols, vth_v.data(), slope_n.data(), read, wires, op, sh, f);
    else if (with_wires) operating_point_cells<false, true>(iv, rows, cols, vth_v.data(), slope_n.data(), read, wires, op, sh, f);
    else operating_point_cells<false, false>(iv, rows, cols, vth_v.data(), slope_n.data(), read, wires, op, sh, f);
}

TileOperatingPoint operating_point_from_currents(int rows, int cols, std::span<const float> current_a_col_major) {
    if (rows < 1 || cols < 1 || current_a_col_major.size() != static_cast<std::size_t>(rows) * cols)
        fail("operating_point_from_currents: ", current_a_col_major.size(), " currents for a ", rows, " x ", cols,
             " tile");
    TileOperatingPoint op;
    op.rows = rows, op.cols = cols;
    const std::size_t n = current_a_col_major.size();
    op.current_a.resize(n), op.drop_slope.assign(n, 0.0f), op.drop_curvature_per_a.assign(n, 0.0f);
    for (int c = 0; c < cols; ++c)
        for (int r = 0; r < rows; ++r) op.current_a[op.index(r, c)] = current_a_col_major[std::size_t(c) * rows + r];
    return op;
}

void ideal_mvm(const TileOperatingPoint& op, const float* x, int n, float* out) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const RowMajor> xs(x, n, op.rows), g(op.current_a.data(), op.rows, op.cols);
    Eigen::Map<RowMajor> o(out, n, op.cols);
    o.noalias() = xs * g;
}

FastIrModel parse_fast_ir_model(const std::string& s) {
    if (s == "linear") return FastIrModel::linear;
    if (s == "curvature") return FastIrModel::curvature;
    if (s == "feedback") return FastIrModel::feedback;
    if (s == "auto") return FastIrModel::automatic;
    fail("fast IR-drop model must be 'linear', 'curvature', 'feedback' or 'auto', got '", s, "'");
}
const char* to_string(FastIrModel m) {
    switch (m) {
        case FastIrModel::linear: return "linear";
        case FastIrModel::curvature: return "curvature";
        case FastIrModel::feedback: return "feedback";
        case FastIrModel::automatic: return "auto";
    }
    return "?";
}

double fast_model_max_drop(FastIrModel m) {
    return m == FastIrModel::linear || m == FastIrModel::curvature ? 0.05 : 0.10;
}

namespace {

constexpr int kChunk = 16;  // columns per register block: one 64-byte vector
// A GCC/Clang vector of 16 floats, loaded from unaligned memory.
typedef float Vec16 __attribute__((vector_size(64)));
typedef float Vec16u __attribute__((vector_size(64), aligned(4), may_alias));

// Linear model on the 16 columns [c0, c0 + 16) of V vectors: out = S_0 − Σ_k S_k H_k, rows from the
// far end. xs[v] / ys[v]: charge and drop weights (x, x·ρ) of vector v. The state is 3·V registers.
template <int V>
void linear_block(const TileOperatingPoint& op, const float* const* xs, const float* const* ys, int c0,
                  float* const* outs, float& max_drop) {
    const int rows = op.rows, cols = op.cols;
    Vec16 s[V], h[V], acc[V];
    for (int v = 0; v < V; ++v) s[v] = Vec16{} , h[v] = Vec16{}, acc[v] = Vec16{};
    for (int i = rows - 1; i >= 0; --i) {
        const std::size_t k = static_cast<std::size_t>(i) * cols + c0;
        const Vec16 ci = *reinterpret_cast<const Vec16u*>(op.current_a.data() + k);
        const Vec16 hi = *reinterpret_cast<const Vec16u*>(op.drop_slope.data() + k);
        for (int v = 0; v < V; ++v) {
            s[v] += xs[v][i] * ci;
            h[v] += ys[v][i] * hi;
            acc[v] += s[v] * h[v];
        }
    }
    for (int v = 0; v < V; ++v) {
        *reinterpret_cast<Vec16u*>(outs[v] + c0) = s[v] - acc[v];
        for (int l = 0; l < kChunk; ++l)
            if (s[v][l] > 0.0f) max_drop = std::max(max_drop, acc[v][l] / s[v][l]);
    }
}

// The same for any columns, one at a time (the tail beyond the last full block).
void linear_columns(const TileOperatingPoint& op, const float* xv, const float* yv, int c0, int c1, float* o,
                    float& max_drop) {
    for (int c = c0; c < c1; ++c) {
        float s = 0, h = 0, acc = 0;
        for (int i = op.rows - 1; i >= 0; --i) {
            s += xv[i] * op.current_a[op.index(i, c)];
            h += yv[i] * op.drop_slope[op.index(i, c)];
            acc += s * h;
        }
        o[c] = s - acc;
        if (s > 0.0f) max_drop = std::max(max_drop, acc / s);
    }
}

float fast_linear(const TileOperatingPoint& op, const float* x, const float* rho, int n, float* out) {
    constexpr int V = 4;
    const int rows = op.rows, cols = op.cols;
    // Drop weights y = x·ρ (x where ρ is not given).
    thread_local std::vector<float> yw;  // kept between calls: no page faults per call
    const float* y = x;
    if (rho) {
        yw.resize(static_cast<std::size_t>(n) * rows);
        for (std::size_t k = 0; k < yw.size(); ++k) yw[k] = x[k] * rho[k];
        y = yw.data();
    }
    const int vblocks = (n + V - 1) / V, full = cols / kChunk;
    float max_drop = 0.0f;
#pragma omp parallel for schedule(static) reduction(max : max_drop)
    for (int vb = 0; vb < vblocks; ++vb) {
        const int v0 = vb * V, count = std::min(V, n - v0);
        const float* xs[V];
        const float* ys[V];
        float* outs[V];
        for (int v = 0; v < V; ++v) {
            const int vv = v0 + std::min(v, count - 1);  // a short last block repeats its last vector
            xs[v] = x + static_cast<std::size_t>(vv) * rows, ys[v] = y + static_cast<std::size_t>(vv) * rows;
            outs[v] = out + static_cast<std::size_t>(vv) * cols;
        }
        for (int cb = 0; cb < full; ++cb) {
            if (count == V) {
                linear_block<V>(op, xs, ys, cb * kChunk, outs, max_drop);
            } else {
                for (int v = 0; v < count; ++v) linear_block<1>(op, xs + v, ys + v, cb * kChunk, outs + v, max_drop);
            }
        }
        for (int v = 0; v < count; ++v) linear_columns(op, xs[v], ys[v], full * kChunk, cols, outs[v], max_drop);
    }
    return max_drop;
}

// The linear model for columns [c0, c0 + NC) of kLanes vectors held as lanes: per column the same
// three sums as linear_block, in the same order, one vector per lane (3·NC registers). Same bits as
// linear_block and linear_columns as long as the compiler contracts all three alike into FMAs (GCC
// does in C++ with the FMA target; tests compare them).
template <int NC>
void linear_lanes_block(const TileOperatingPoint& op, const float* x, const float* y, int c0, float* out, std::size_t ldo,
                        int lanes, float& max_drop) {
    static_assert(kLanes == kChunk);
    const int cols = op.cols;
    Vec16 s[NC], h[NC], acc[NC];
    for (int c = 0; c < NC; ++c) s[c] = Vec16{}, h[c] = Vec16{}, acc[c] = Vec16{};
    for (int i = op.rows - 1; i >= 0; --i) {
        const Vec16 xi = *reinterpret_cast<const Vec16u*>(x + static_cast<std::size_t>(i) * kLanes);
        const Vec16 yi = *reinterpret_cast<const Vec16u*>(y + static_cast<std::size_t>(i) * kLanes);
        const std::size_t k = static_cast<std::size_t>(i) * cols + c0;
        const float* ci = op.current_a.data() + k;
        const float* hi = op.drop_slope.data() + k;
        for (int c = 0; c < NC; ++c) {
            s[c] += ci[c] * xi;
            h[c] += hi[c] * yi;
            acc[c] += s[c] * h[c];
        }
    }
    for (int c = 0; c < NC; ++c) {
        const Vec16 o = s[c] - acc[c];
        float* dst = out + static_cast<std::size_t>(c0 + c) * ldo;
        for (int l = 0; l < lanes; ++l) {
            dst[l] = o[l];
            if (s[c][l] > 0.0f) max_drop = std::max(max_drop, acc[c][l] / s[c][l]);
        }
    }
}

}  // namespace

float fast_linear_lanes(const TileOperatingPoint& op, const float* x, const float* y, int lanes, float* out, std::size_t ldo) {
    constexpr int NC = 8;
    float max_drop = 0.0f;
    int c = 0;
    for (; c + NC <= op.cols; c += NC) linear_lanes_block<NC>(op, x, y, c, out, ldo, lanes, max_drop);
    for (; c < op.cols; ++c) linear_lanes_block<1>(op, x, y, c, out, ldo, lanes, max_drop);
    return max_drop;
}

void fast_ir_mvm(const TileOperatingPoint& op, const float* x, const float* rho, int n, float* out,
                 const FastIrOptions& options, float* max_drop) {
    if (options.model == FastIrModel::linear) {
        const float d = fast_linear(op, x, rho, n, out);
        if (max_drop) *max_drop = d;
        return;
    }
    float worst = 0.0f;
    const int rows = op.rows, cols = op.cols;
    const float* cur = op.current_a.data();
    const float* hs = op.drop_slope.data();
    const float* qs = op.drop_curvature_per_a.data();
#pragma omp parallel reduction(max : worst)
    {
        std::vector<float> tb(cols), ta(cols), tt(cols), tb1(cols), ta1(cols), tt1(cols);
        float* __restrict__ B = tb.data();
        float* __restrict__ A = ta.data();
        float* __restrict__ T = tt.data();
        float* __restrict__ B1 = tb1.data();
        float* __restrict__ A1 = ta1.data();
        float* __restrict__ T1 = tt1.data();
#pragma omp for schedule(static)
        for (int v = 0; v < n; ++v) {
            const float* xv = x + static_cast<std::size_t>(v) * rows;
            const float* rv = rho ? rho + static_cast<std::size_t>(v) * rows : nullptr;
            float* __restrict__ o = out + static_cast<std::size_t>(v) * cols;
            for (int c = 0; c < cols; ++c) B[c] = 0.0f, A[c] = 0.0f, T[c] = 0.0f;
            // Pass 0: the ideal column charge B = Σ x_m I_m.
            for (int i = 0; i < rows; ++i) {
                const float xi = xv[i];
                if (xi == 0.0f) continue;
                const float* __restrict__ ci = cur + static_cast<std::size_t>(i) * cols;
                for (int c = 0; c < cols; ++c) B[c] += xi * ci[c];
            }
            for (int c = 0; c < cols; ++c) o[c] = B[c];
            // The curvature model's charge loss, subtracted from `target`, with the running sums A and
            // T from zero: P_i = T_i + (i+1)(B − A_i), D = ρ_i P_i; charge loss x_i D (h − q D).
            const auto curvature_pass = [&](float* __restrict__ target) {
                for (int i = 0; i < rows; ++i) {
                    const float xi = xv[i];
                    if (xi == 0.0f) continue;
                    const float w = static_cast<float>(i + 1), ri = rv ? rv[i] : 1.0f;
                    const std::size_t k = static_cast<std::size_t>(i) * cols;
                    const float* __restrict__ ci = cur + k;
                    const float* __restrict__ hi = hs + k;
                    const float* __restrict__ qi = qs + k;
                    for (int c = 0; c < cols; ++c) {
                        const float b = xi * ci[c];
                        A[c] += b, T[c] += w * b;
                        const float d = ri * (T[c] + w * (B[c] - A[c]));
                        target[c] -= xi * d * (hi[c] - qi[c] * d);
                    }
                }
            };
            if (options.model == FastIrModel::curvature) {
                curvature_pass(o);
                for (int c = 0; c < cols; ++c)
                    if (B[c] > 0.0f) worst = std::max(worst, (B[c] - o[c]) / B[c]);
                continue;
            }
            // Feedback: the curvature-model charge B1 first, then the drop from those currents.
            for (int c = 0; c < cols; ++c) B1[c] = B[c];
            curvature_pass(B1);
            for (int c = 0; c < cols; ++c) A[c] = 0.0f, T[c] = 0.0f, A1[c] = 0.0f, T1[c] = 0.0f;
            for (int i = 0; i < rows; ++i) {
                const float xi = xv[i];
                if (xi == 0.0f) continue;
                const float w = static_cast<float>(i + 1), ri = rv ? rv[i] : 1.0f;
                const std::size_t k = static_cast<std::size_t>(i) * cols;
                const float* __restrict__ ci = cur + k;
                const float* __restrict__ hi = hs + k;
                const float* __restrict__ qi = qs + k;
                for (int c = 0; c < cols; ++c) {
                    const float b = xi * ci[c];
                    A[c] += b, T[c] += w * b;
                    const float d = ri * (T[c] + w * (B[c] - A[c]));
                    const float b1 = xi * (ci[c] - d * (hi[c] - qi[c] * d));
                    A1[c] += b1, T1[c] += w * b1;
                    const float d1 = ri * (T1[c] + w * (B1[c] - A1[c]));
                    o[c] -= xi * d1 * (hi[c] - qi[c] * d1);
                }
            }
            for (int c = 0; c < cols; ++c)
                if (B[c] > 0.0f) worst = std::max(worst, (B[c] - o[c]) / B[c]);
        }
    }
    if (max_drop) *max_drop = worst;
}

void pulse_drop_factors(const float* x, int rows, float* rho) {
    // Σ_m min(v, x_m) = Σ_{x_m < v} x_m + v·#{x_m ≥ v}, from the sorted fractions.
    std::vector<float> sorted(x, x + rows);
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> prefix(rows + 1, 0.0);
    for (int k = 0; k < rows; ++k) prefix[k + 1] = prefix[k] + sorted[k];
    const double total = prefix[rows];
    for (int i = 0; i < rows; ++i) {
        const float v = x[i];
        if (!(v > 0.0f) || !(total > 0)) {
            rho[i] = 1.0f;
            continue;
        }
        const auto below = std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin();
        const double overlap = prefix[below] + double(v) * double(rows - below);
        rho[i] = static_cast<float>(overlap / (double(v) * total));
    }
}

namespace {

// Σ_m min(v, c_m) for v = 0 … K−1, codes as lanes: per row one broadcast, one min and one add per
// K codes, no horizontal sums; four row accumulators keep the add chains independent. The sums are
// integers below 2^24, exact in float whatever the order.
template <int K>
void code_overlaps(const float* codes, int rows, float* overlap) {
    alignas(64) float a0[K] = {}, a1[K] = {}, a2[K] = {}, a3[K] = {}, v[K];
    for (int k = 0; k < K; ++k) v[k] = static_cast<float>(k);
    int i = 0;
    for (; i + 4 <= rows; i += 4) {
        const float c0 = codes[i], c1 = codes[i + 1], c2 = codes[i + 2], c3 = codes[i + 3];
#pragma omp simd
        for (int k = 0; k < K; ++k) {
            a0[k] += std::min(c0, v[k]), a1[k] += std::min(c1, v[k]);
            a2[k] += std::min(c2, v[k]), a3[k] += std::min(c3, v[k]);
        }
    }
    for (; i < rows; ++i) {
        const float c = codes[i];
#pragma omp simd
        for (int k = 0; k < K; ++k) a0[k] += std::min(c, v[k]);
    }
#pragma omp simd
    for (int k = 0; k < K; ++k) overlap[k] = (a0[k] + a1[k]) + (a2[k] + a3[k]);
}

}  // namespace

void pulse_drop_factors_codes(const float* codes, int rows, int max_code, float* rho) {
    // ρ(v) = max_code · Σ_m min(v, c_m) / (v Σ_m c_m), one value per code v (in fractions x = c / max_code
    // the ratio gains a factor max_code). Up to 31 codes the overlaps of all codes are summed in one
    // pass over the rows (code_overlaps); above, per row when there are fewer rows than codes, else
    // from a histogram: Σ_m min(v, c_m) = Σ_{c<v} c·count[c] + v·#{c_m ≥ v}. Codes are integers in 0 … max_code (checked by the caller); sums of them are exact
    // in float, so both ways give the same factors, bit for bit.
    thread_local std::vector<float> factor_buf;
    thread_local std::vector<long> count;
    factor_buf.resize(std::max(static_cast<std::size_t>(max_code) + 1, std::size_t{32}));
    float* const factor = factor_buf.data();
    float total = 0.0f;
#pragma omp simd reduction(+ : total)
    for (int i = 0; i < rows; ++i) total += codes[i];
    if (max_code <= 31) {
        if (max_code <= 15) code_overlaps<16>(codes, rows, factor);
        else code_overlaps<32>(codes, rows, factor);
        for (int v = 1; v <= max_code; ++v)
            factor[v] = total > 0 ? static_cast<float>(double(max_code) * double(factor[v]) / (double(v) * double(total))) : 1.0f;
    } else if (rows < max_code) {
        // Fewer rows than codes (a network's first layer: 8-bit pixels on 27 rows): the overlap of
        // each row directly, O(rows²), instead of a factor for every code.
        for (int i = 0; i < rows; ++i) {
            const float c = codes[i];
            float overlap = 0.0f;
#pragma omp simd reduction(+ : overlap)
            for (int m = 0; m < rows; ++m) overlap += std::min(c, codes[m]);
            rho[i] = c > 0.0f && total > 0 ? static_cast<float>(double(max_code) * double(overlap) / (double(c) * double(total))) : 1.0f;
        }
        return;
    } else {
        count.assign(static_cast<std::size_t>(max_code) + 1, 0);
        for (int i = 0; i < rows; ++i) ++count[static_cast<std::size_t>(codes[i])];
        long below = 0, at_least = rows;  // Σ_{c<v} c·count[c], #{c_m ≥ v}
        for (int v = 1; v <= max_code; ++v) {
            below += static_cast<long>(v - 1) * count[static_cast<std::size_t>(v) - 1];
            at_least -= count[static_cast<std::size_t>(v) - 1];
            factor[v] = total > 0 ? static_cast<float>(double(max_code) * double(below + static_cast<long>(v) * at_least) /
                                                       (double(v) * double(total)))
                                  : 1.0f;
        }
    }
    factor[0] = 1.0f;
#if defined(__GNUC__) && !defined(__clang__)
    if (max_code <= 15) {
        // 16 rows at a time through one in-register table lookup (a permute; gathers are slow on many
        // x86 cores, and GCC does not vectorize the lookup otherwise).
        using V16f = float __attribute__((vector_size(64)));
        using V16i = std::int32_t __attribute__((vector_size(64)));
        V16f table;
        std::memcpy(&table, factor, sizeof table);
        int i = 0;
        for (; i + 16 <= rows; i += 16) {
            V16f c;
            std::memcpy(&c, codes + i, sizeof c);
            const V16f r = __builtin_shuffle(table, __builtin_convertvector(c, V16i));
            std::memcpy(rho + i, &r, sizeof r);
        }
        for (; i < rows; ++i) rho[i] = factor[static_cast<int>(codes[i])];
        return;
    }
#endif
    for (int i = 0; i < rows; ++i) rho[i] = factor[static_cast<int>(codes[i])];
}

void pulse_drop_factors_lanes(const float* codes, const std::ptrdiff_t* off, int rows, int max_code, float* rho) {
    const auto row = [&](int i) { return *reinterpret_cast<const Vec16u*>(codes + off[i]); };
    Vec16 total{};
    for (int i = 0; i < rows; ++i) total += row(i);
    // Each factor as pulse_drop_factors_codes forms it from the exact integer overlap (below 2^24,
    // exact in float whatever the order).
    const auto factor = [&](float overlap, float code, float sum) {
        return code > 0.0f && sum > 0.0f ? static_cast<float>(double(max_code) * double(overlap) / (double(code) * double(sum))) : 1.0f;
    };
    if (max_code > 15 && rows < max_code) {  // fewer rows than codes (8-bit pixels on 27 rows): O(rows²)
        for (int i = 0; i < rows; ++i) {
            const Vec16 c = row(i);
            Vec16 overlap{};
            for (int m = 0; m < rows; ++m) {
                const Vec16 d = row(m);
                overlap += d < c ? d : c;
            }
            for (int j = 0; j < kLanes; ++j) rho[static_cast<std::size_t>(i) * kLanes + j] = factor(overlap[j], c[j], total[j]);
        }
        return;
    }
    if (max_code > 15) {  // each vector on its own (the histogram of many codes)
        thread_local std::vector<float> c, r;
        c.resize(static_cast<std::size_t>(rows)), r.resize(static_cast<std::size_t>(rows));
        for (int j = 0; j < kLanes; ++j) {
            for (int i = 0; i < rows; ++i) c[i] = codes[off[i] + j];
            pulse_drop_factors_codes(c.data(), rows, max_code, r.data());
            for (int i = 0; i < rows; ++i) rho[static_cast<std::size_t>(i) * kLanes + j] = r[i];
        }
        return;
    }
    // Σ_m min(v, c_m) for v = 1 … 15, every vector at once, then one factor per code and vector.
    Vec16 overlap[16];
    for (int v = 0; v < 16; ++v) overlap[v] = Vec16{};
    for (int i = 0; i < rows; ++i) {
        const Vec16 c = row(i);
        for (int v = 1; v < 16; ++v) {
            const Vec16 vv = Vec16{} + static_cast<float>(v);
            overlap[v] += c < vv ? c : vv;
        }
    }
    alignas(64) float table[16 * kLanes];
    for (int j = 0; j < kLanes; ++j) table[j] = 1.0f;
    for (int v = 1; v < 16; ++v)
        for (int j = 0; j < kLanes; ++j) table[v * kLanes + j] = v <= max_code ? factor(overlap[v][j], static_cast<float>(v), total[j]) : 1.0f;
    for (int i = 0; i < rows; ++i) {
        const float* c = codes + off[i];
        float* r = rho + static_cast<std::size_t>(i) * kLanes;
#pragma omp simd
        for (int j = 0; j < kLanes; ++j) r[j] = table[static_cast<int>(c[j]) * kLanes + j];
    }
}

}  // namespace flashmc::array
