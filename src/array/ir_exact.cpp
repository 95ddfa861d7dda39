#include "flashmc/array/ir_exact.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/core/units.hpp"

namespace flashmc::array {

namespace {

// Columns of a tile solved together: their ladders advance in lockstep, one SIMD lane per column,
// with per-column state in [row][lane] arrays (structure of arrays).
constexpr int kLanes = 16;

// e^{−a} for a ≥ 0 without a division (exp_fast has one): e^{−a} = 2^{−k} e^{r}, k = round(a/ln2),
// r = k ln2 − a ∈ [−ln2/2, ln2/2] (ln2 split hi/lo), e^{r} by its Taylor polynomial of degree 13
// (truncation < 5e-18; Horner with FMA, about 1 ulp). a is clamped to 708, so 2^{−k} is one normal double.
inline double exp_neg(double a) {
    constexpr double inv_ln2 = 1.44269504088896338700e+00, ln2_hi = 6.93147180369123816490e-01,
                     ln2_lo = 1.90821492927058770002e-10, shift = 0x1.8p52;
    a = a > 708.0 ? 708.0 : a;
    const double t = a * inv_ln2 + shift;  // k = round(a/ln2) sits in t's low mantissa bits
    const double k = t - shift;
    const double r = (k * ln2_hi - a) + k * ln2_lo;  // −a + k ln2 ∈ [−ln2/2, ln2/2]
    double p = 1.0 / 6227020800.0;                   // 1/13!, then 1/12! … 1/0!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // bits(t) = 0x4338000000000000 + k, so (0x3ff − k) << 52 = bits(2^{−k}).
    const std::uint64_t bits = (0x3ffULL + 0x4338000000000000ULL - std::bit_cast<std::uint64_t>(t)) << 52;
    const double scale = std::bit_cast<double>(bits);
    return p * scale;
}

// ln u for u ∈ [1, 2]: u = 2^k m, m ∈ [√½, √2), ln m = f − hfsq + s (hfsq + R(s²)), f = m − 1,
// s = f/(2 + f), hfsq = f²/2 (the fdlibm/musl kernel of log_fast, error < 1 ulp).
inline double log_1_to_2(double u) {
    constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                     Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                     Lg7 = 1.479819860511658591e-01, ln2_hi = 6.93147180369123816490e-01,
                     ln2_lo = 1.90821492927058770002e-10, sqrt2 = 1.41421356237309504880;
    const double k = u >= sqrt2 ? 1.0 : 0.0;
    const double f = (u >= sqrt2 ? 0.5 * u : u) - 1.0;
    const double hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
    const double R = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7))) + w * (Lg2 + w * (Lg4 + w * Lg6));
    return s * (hfsq + R) + k * ln2_lo - hfsq + f + k * ln2_hi;
}

// The EKV branch F(x) = ln²(1 + e^{x/2}) = S² and its derivatives from one exp and one log, with
// S = ln(1 + e^{x/2}), σ = σ(x/2) = e^{x/2}/(1 + e^{x/2}), dS/dx = σ/2, dσ/dx = σ(1 − σ)/2:
//   F' = S·σ,  F'' = ½σ² + ½ S σ(1 − σ).
// With e = e^{−|x/2|} ∈ (0, 1]: S = max(x/2, 0) + ln(1 + e), σ = (x ≥ 0 ? 1 : e)/(1 + e), and
// ln(1 + e) = ln u + (e − (u − 1))/u for u = 1 + e rounded (its rounding corrected to first order),
// sharing 1/u with σ. Branch-free, for `omp simd` loops.
struct EkvBranch {
    double f, slope, curvature;  // F, F', F''
};
inline EkvBranch ekv_branch(double x) {
    const double h = 0.5 * x;
    const double a = h < 0.0 ? -h : h;
    const double e = exp_neg(a);
    const double u = 1.0 + e;
    const double inv_u = 1.0 / u;
    const double s = (h > 0.0 ? h : 0.0) + log_1_to_2(u) + (e - (u - 1.0)) * inv_u;
    const double sigma = (h >= 0.0 ? 1.0 : e) * inv_u;
    return {s * s, s * sigma, 0.5 * sigma * (sigma + s * (1.0 - sigma))};
}

// The ladders of W columns for one read bias, in the coordinate P (A·segments): row i's bit-line drop
// is ΔV_D,i = r_BL·P_i and its source voltage V_S,i = r_SL·P_i (both lines carry the same segment
// currents). A conducting cell then reads
//   u = u0 − ku·P,  w = w0 − kw·P,   u0 = (V_WL − V_th(T))/(n V_T),  w0 = u0 − V_DS,read/V_T,
//   ku = r_SL/(n V_T),  kw = ku − (r_BL + r_SL)/V_T            (u − w = V_DS,cell/V_T),
//   I = I_0(T)·[F(u) − F(w)],  g = −dI/dP = I_0(T)·[F'(u)·ku − F'(w)·kw] ≥ 0   (kw ≤ 0 ≤ ku),
//   q = ½ d²I/dP² = ½ I_0(T)·[F''(u)·ku² − F''(w)·kw²].
// Over the conducting rows a_0 < … < a_{m−1} only (between them P is linear: no current is drawn),
// KCL at row a_k of either line is, with segment weights w_k = 1/(a_k − a_{k−1}) (a_{−1} = −1, P_{−1} = 0):
//   F_k = w_k (P_k − P_{k−1}) − w_{k+1} (P_{k+1} − P_k) − I_k = 0        (no w_m term on the last row),
// whose Jacobian J = tridiag(−w_k, w_k + w_{k+1} + g_k, −w_{k+1}) is a diagonally dominant M-matrix:
// Thomas elimination without pivoting is stable (every pivot exceeds w_{k+1}).
template <int W>
class LadderSolver {
public:
    // Sizes the work space for `rows` rows (keeping its capacity: a solver lives per thread and is
    // reused across calls, so hot loops do not allocate) and sets the read bias and wires.
    void configure(int rows, const device::IvParams& iv, const device::ReadConditions& read, const WireParams& wires,
                   const ExactOptions& options) {
        rows_ = rows, iv_ = iv, read_ = read, options_ = options;
        r_bl_ohm_ = wires.r_bl_ohm, r_sl_ohm_ = wires.r_sl_ohm;
        wired_ = wires.r_bl_ohm > 0 || wires.r_sl_ohm > 0;
        i0_a_ = device::specific_current_at_a(iv, read.temperature_c);
        const std::size_t cells = static_cast<std::size_t>(rows) * W;
        for (auto* v : {&u0_, &w0_, &i0_cell_a_, &ku_per_a_, &kw_per_a_, &inv_pivot_, &y_, &newton_a_, &correction_a_})
            v->resize(cells);
        for (State* st : {&now_, &trial_})
            for (auto* v : {&st->p_a, &st->current_a, &st->slope, &st->half_curvature_per_a, &st->residual_a})
                v->resize(cells);
        for (auto* v : {&ideal_.current_a, &ideal_.slope, &ideal_.half_curvature_per_a}) v->resize(cells);
        act_.reserve(rows);
        weight_.reserve(rows + 1);
        m_ = 0;
    }

    // Lane l holds the column whose cells start at vth_v[l], slope_n[l] and, unless null,
    // factor[l] (row 0 first; the cell conducts factor·I_D). Only the rows with need[row] != 0 are
    // loaded (the rows a later start() may switch on), and evaluated at zero drop.
    void load(const std::array<const float*, W>& vth_v, const std::array<const float*, W>& slope_n,
              const std::array<const float*, W>& factor, const std::uint8_t* need) {
        const double t_c = read_.temperature_c;
        const double vt_v = units::thermal_voltage_v(t_c), inv_vt = 1.0 / vt_v;
        act_.clear();
        for (int i = 0; i < rows_; ++i)
            if (need[i]) act_.push_back(i);
        m_ = static_cast<int>(act_.size());
        for (const int i : act_)
            for (int l = 0; l < W; ++l) {
                const std::size_t c = static_cast<std::size_t>(i) * W + l;
                const double vth_t_v = device::vth_at_temperature_v(iv_, vth_v[l][i], t_c);
                const double inv_nvt = 1.0 / (slope_n[l][i] * vt_v);
                u0_[c] = (read_.vgs_v - vth_t_v) * inv_nvt;
                w0_[c] = u0_[c] - read_.vds_v * inv_vt;
                i0_cell_a_[c] = factor[l] ? i0_a_ * static_cast<double>(factor[l][i]) : i0_a_;
                ku_per_a_[c] = r_sl_ohm_ * inv_nvt;
                kw_per_a_[c] = ku_per_a_[c] - (r_bl_ohm_ + r_sl_ohm_) * inv_vt;
            }
        // The needed rows evaluated as one conducting set, stored by row.
        std::fill(trial_.p_a.begin(), trial_.p_a.begin() + static_cast<std::ptrdiff_t>(m_) * W, 0.0);
        evaluate<false>(trial_, nullptr);
        for (int k = 0; k < m_; ++k)
            for (int l = 0; l < W; ++l) {
                const std::size_t c = static_cast<std::size_t>(act_[k]) * W + l;
                const std::size_t s = static_cast<std::size_t>(k) * W + l;
                ideal_.current_a[c] = trial_.current_a[s];
                ideal_.slope[c] = trial_.slope[s];
                ideal_.half_curvature_per_a[c] = trial_.half_curvature_per_a[s];
            }
        m_ = 0;
    }

    // Starts a solve on the conducting rows `rows` (ascending, each loaded with need != 0) at zero
    // drop, where the cells are the loaded ideal ones.
    void start(const std::vector<int>& rows) {
        act_ = rows;
        m_ = static_cast<int>(act_.size());
        for (int k = 0; k < m_; ++k)
            for (int l = 0; l < W; ++l) {
                const std::size_t c = static_cast<std::size_t>(act_[k]) * W + l;
                const std::size_t s = static_cast<std::size_t>(k) * W + l;
                now_.p_a[s] = 0.0;
                now_.current_a[s] = ideal_.current_a[c];
                now_.slope[s] = ideal_.slope[c];
                now_.half_curvature_per_a[s] = ideal_.half_curvature_per_a[c];
            }
        prepare();
    }

    // Turns off the rows for which keep(row) is false and starts a solve from the current solution:
    // the remaining cells keep their P, so their currents and derivatives are already known (a warm
    // start at no cost, off by the change in drop that removing those rows causes).
    template <class Keep>
    void keep_rows(Keep&& keep) {
        int j = 0;
        for (int k = 0; k < m_; ++k) {
            if (!keep(act_[k])) continue;
            act_[j] = act_[k];
            for (int l = 0; l < W; ++l) {
                const std::size_t from = static_cast<std::size_t>(k) * W + l, to = static_cast<std::size_t>(j) * W + l;
                now_.p_a[to] = now_.p_a[from];
                now_.current_a[to] = now_.current_a[from];
                now_.slope[to] = now_.slope[from];
                now_.half_curvature_per_a[to] = now_.half_curvature_per_a[from];
            }
            ++j;
        }
        act_.resize(j);
        m_ = j;
        prepare();
    }

    // Damped Newton on every lane until each reaches rel_tol: P ← P − λ·step, λ halved (up to 30
    // times) until the relative residual falls; the step is J⁻¹F, tried first with its second-order
    // correction (see newton_step). A converged lane is frozen, so a column's result does not depend
    // on the columns sharing its block. `first_column` < 0: no column in messages.
    void solve(const char* who, int first_column) {
        if (!wired_) return;
        for (;;) {
            std::array<bool, W> open{};
            bool any = false;
            for (int l = 0; l < W; ++l) {
                open[l] = !(rel_[l] <= options_.rel_tol);
                if (!open[l]) continue;
                any = true;
                if (iterations_[l] >= options_.max_iterations) {
                    if (first_column >= 0)
                        fail(who, ": column ", first_column + l, ": Newton's method did not converge in ",
                             options_.max_iterations, " iterations (relative residual ", rel_[l],
                             ", r_bl_ohm = ", r_bl_ohm_, ", r_sl_ohm = ", r_sl_ohm_, ")");
                    fail(who, ": Newton's method did not converge in ", options_.max_iterations,
                         " iterations (relative residual ", rel_[l], ", r_bl_ohm = ", r_bl_ohm_,
                         ", r_sl_ohm = ", r_sl_ohm_, ")");
                }
                ++iterations_[l];
            }
            if (!any) {
                polish();
                return;
            }
            std::array<double, W> mix = newton_step(), lambda;  // trial step λ·(δ₁ + mix·δ₂)
            lambda.fill(1.0);
            for (int attempt = 0; attempt <= 30 && any; ++attempt) {
                std::array<double, W> scale, scaled_mix, rel_try;
                for (int l = 0; l < W; ++l) scale[l] = open[l] ? lambda[l] : 0.0, scaled_mix[l] = scale[l] * mix[l];
                for (int k = 0; k < m_; ++k) {
                    const std::size_t s = static_cast<std::size_t>(k) * W;
#pragma omp simd
                    for (int l = 0; l < W; ++l)
                        trial_.p_a[s + l] =
                            now_.p_a[s + l] - scale[l] * newton_a_[s + l] - scaled_mix[l] * correction_a_[s + l];
                }
                evaluate<true>(trial_, &rel_try);
                std::array<bool, W> take{};
                bool all = true;
                any = false;
                for (int l = 0; l < W; ++l) {
                    if (open[l]) {
                        take[l] = rel_try[l] < rel_[l] || rel_try[l] <= options_.rel_tol || attempt == 30;
                        if (take[l]) rel_[l] = rel_try[l], open[l] = false;
                        else if (mix[l] != 0.0) mix[l] = 0.0, any = true;  // retry the plain Newton step
                        else lambda[l] *= 0.5, any = true;
                    }
                    all = all && take[l];
                }
                if (all) {
                    std::swap(now_, trial_);
                    continue;
                }
                for (auto field : {&State::p_a, &State::current_a, &State::slope, &State::half_curvature_per_a,
                                   &State::residual_a}) {
                    double* dst = (now_.*field).data();
                    const double* src = (trial_.*field).data();
                    for (int k = 0; k < m_; ++k) {
                        const std::size_t s = static_cast<std::size_t>(k) * W;
#pragma omp simd
                        for (int l = 0; l < W; ++l) dst[s + l] = take[l] ? src[s + l] : dst[s + l];
                    }
                }
            }
        }
    }

    // The current at the sense node of lane l: the segment current of row 0, w_0·P_0 = P_{a_0}/(a_0 + 1)
    // (= the source line's; Σ I − it is the sum of the KCL residuals), or Σ I without wires.
    double bitline_current_a(int l) const {
        if (m_ == 0) return 0.0;
        if (wired_) return weight_[0] * now_.p_a[l];
        double sum = 0;
        for (int k = 0; k < m_; ++k) sum += now_.current_a[static_cast<std::size_t>(k) * W + l];
        return sum;
    }
    int iterations(int l) const { return iterations_[l]; }
    double rel_residual(int l) const { return rel_[l]; }

    // Node voltages and currents of lane l on every row; P is interpolated linearly across rows
    // that draw no current (and constant beyond the last conducting row).
    ColumnSolution column_solution(int l) const {
        ColumnSolution s;
        s.cell_current_a.assign(rows_, 0.0);
        s.drain_drop_v.assign(rows_, 0.0);
        s.source_v.assign(rows_, 0.0);
        double p_prev = 0.0;
        int row_prev = -1, k = 0;
        for (int i = 0; i < rows_; ++i) {
            double p;
            if (k < m_ && act_[k] == i) {
                const std::size_t s_k = static_cast<std::size_t>(k) * W + l;
                p = now_.p_a[s_k];
                s.cell_current_a[i] = now_.current_a[s_k];
                p_prev = p, row_prev = i, ++k;
            } else if (k < m_) {
                p = p_prev + (i - row_prev) * weight_[k] * (now_.p_a[static_cast<std::size_t>(k) * W + l] - p_prev);
            } else {
                p = p_prev;
            }
            s.drain_drop_v[i] = r_bl_ohm_ * p;
            s.source_v[i] = r_sl_ohm_ * p;
        }
        s.bitline_current_a = s.source_current_a = bitline_current_a(l);
        s.iterations = iterations_[l];
        s.rel_residual = rel_[l];
        return s;
    }

private:
    // Per conducting row k = 0 … m − 1 (per row for ideal_), [k][lane].
    struct State {
        std::vector<double> p_a;                   // P (A·segments)
        std::vector<double> current_a;             // I
        std::vector<double> slope;                 // g = −dI/dP
        std::vector<double> half_curvature_per_a;  // q = ½ d²I/dP²
        std::vector<double> residual_a;            // F
    };

    // Weights of the conducting rows, the residual at the starting point, iteration counts reset.
    void prepare() {
        weight_.assign(m_ + 1, 0.0);
        for (int k = 0; k < m_; ++k) weight_[k] = 1.0 / (act_[k] - (k > 0 ? act_[k - 1] : -1));
        iterations_.fill(0);
        rel_.fill(0.0);
        factored_ = false;
        if (!wired_) return;
        std::array<double, W> worst{}, sum{};
        const std::array<double, W> zero{};
        const double* p = now_.p_a.data();
        for (int k = 0; k < m_; ++k) {
            const std::size_t s = static_cast<std::size_t>(k) * W;
            const double* prev = k > 0 ? p + s - W : zero.data();
            const double* next = k + 1 < m_ ? p + s + W : p + s;
            const double w_k = weight_[k], w_next = weight_[k + 1];
#pragma omp simd
            for (int l = 0; l < W; ++l) {
                const double i_a = now_.current_a[s + l];
                const double r = w_k * (p[s + l] - prev[l]) - w_next * (next[l] - p[s + l]) - i_a;
                now_.residual_a[s + l] = r;
                worst[l] = std::max(worst[l], std::abs(r));
                sum[l] += std::abs(i_a);
            }
        }
        for (int l = 0; l < W; ++l) rel_[l] = sum[l] > 0 ? worst[l] / sum[l] : 0.0;
    }

    // The cells of st at st.p_a: I, g, q; with_residual: also F and per lane max|F| / Σ|I| (into rel).
    template <bool with_residual>
    void evaluate(State& st, std::array<double, W>* rel) const {
        std::array<double, W> worst{}, sum{};
        const std::array<double, W> zero{};
        const double* p = st.p_a.data();
        for (int k = 0; k < m_; ++k) {
            const std::size_t c = static_cast<std::size_t>(act_[k]) * W, s = static_cast<std::size_t>(k) * W;
            const double* prev = k > 0 ? p + s - W : zero.data();
            const double* next = k + 1 < m_ ? p + s + W : p + s;
            const double w_k = with_residual ? weight_[k] : 0.0, w_next = with_residual ? weight_[k + 1] : 0.0;
#pragma omp simd
            for (int l = 0; l < W; ++l) {
                const double ku = ku_per_a_[c + l], kw = kw_per_a_[c + l];
                const EkvBranch fu = ekv_branch(u0_[c + l] - ku * p[s + l]);
                const EkvBranch fw = ekv_branch(w0_[c + l] - kw * p[s + l]);
                const double i0 = i0_cell_a_[c + l];
                const double i_a = i0 * (fu.f - fw.f);
                st.current_a[s + l] = i_a;
                st.slope[s + l] = i0 * (fu.slope * ku - fw.slope * kw);
                st.half_curvature_per_a[s + l] = 0.5 * i0 * (fu.curvature * ku * ku - fw.curvature * kw * kw);
                if constexpr (with_residual) {
                    const double r = w_k * (p[s + l] - prev[l]) - w_next * (next[l] - p[s + l]) - i_a;
                    st.residual_a[s + l] = r;
                    worst[l] = std::max(worst[l], std::abs(r));
                    sum[l] += std::abs(i_a);
                }
            }
        }
        if constexpr (with_residual)
            for (int l = 0; l < W; ++l) (*rel)[l] = sum[l] > 0 ? worst[l] / sum[l] : 0.0;
    }

    // x = J⁻¹ rhs by Thomas elimination (x may be rhs). factor: first the pivots b_0 = w_0 + w_1 + g_0,
    // b_k = w_k + w_{k+1} + g_k − w_k²/b_{k−1} (stored as 1/b_k), else those of the last factorization;
    // y_k = rhs_k + (w_k/b_{k−1}) y_{k−1}, x_{m−1} = y_{m−1}/b_{m−1}, x_k = (y_k + w_{k+1} x_{k+1})/b_k.
    template <bool factor>
    void thomas(const double* rhs, double* x) {
        if constexpr (factor) factored_ = true;
        std::array<double, W> inv_prev{}, y_prev{};  // row k − 1, carried in registers (0 before row 0)
        for (int k = 0; k < m_; ++k) {
            const std::size_t s = static_cast<std::size_t>(k) * W;
            const double w_in = k > 0 ? weight_[k] : 0.0, w_k = weight_[k], w_next = weight_[k + 1];
#pragma omp simd
            for (int l = 0; l < W; ++l) {
                const double mult = w_in * inv_prev[l];
                double inv;
                if constexpr (factor) {
                    inv = 1.0 / (w_k + w_next + now_.slope[s + l] - w_in * mult);
                    inv_pivot_[s + l] = inv;
                } else {
                    inv = inv_pivot_[s + l];
                }
                const double y = rhs[s + l] + mult * y_prev[l];
                y_[s + l] = y;
                inv_prev[l] = inv, y_prev[l] = y;
            }
        }
        std::array<double, W> next{};  // x of row k + 1 (w_m = 0 on the last row)
        for (int k = m_ - 1; k >= 0; --k) {
            const std::size_t s = static_cast<std::size_t>(k) * W;
            const double w_next = weight_[k + 1];
#pragma omp simd
            for (int l = 0; l < W; ++l) {
                const double v = (y_[s + l] + w_next * next[l]) * inv_pivot_[s + l];
                x[s + l] = v, next[l] = v;
            }
        }
    }

    // One more step without a new evaluation, once every lane meets rel_tol: δ = J⁻¹F with the last
    // factorization (J of the previous iterate, or of this one if no step was taken), P ← P − δ and
    // I ← I + g·δ. The KCL residuals, each up to rel_tol·Σ|I|, telescope into I_BL = Σ I + Σ F, so
    // the iterate's I_BL can be off by up to rows·rel_tol; after this step the residual is of second
    // order in them (δ² and ΔJ·δ terms).
    void polish() {
        if (m_ == 0) return;
        if (factored_) thomas<false>(now_.residual_a.data(), newton_a_.data());
        else thomas<true>(now_.residual_a.data(), newton_a_.data());
        for (int k = 0; k < m_; ++k) {
            const std::size_t s = static_cast<std::size_t>(k) * W;
#pragma omp simd
            for (int l = 0; l < W; ++l) {
                now_.p_a[s + l] -= newton_a_[s + l];
                now_.current_a[s + l] += now_.slope[s + l] * newton_a_[s + l];
            }
        }
    }

    // The Newton step δ₁ = J⁻¹F and its second-order correction: F(P − δ) = F − Jδ − q∘δ² (the cells
    // are the only nonlinearity, each in its own P), so δ = δ₁ + δ₂ with δ₂ = −J⁻¹(q∘δ₁²) (Chebyshev's
    // method: near the solution the error falls cubically instead of quadratically). Returns per lane
    // 1 where the correction is taken first (max|δ₂| ≤ ½ max|δ₁|, where the quadratic model holds),
    // else 0; solve() falls back to the plain Newton step when the corrected one does not lower the
    // residual.
    std::array<double, W> newton_step() {
        thomas<true>(now_.residual_a.data(), newton_a_.data());
        for (int k = 0; k < m_; ++k) {
            const std::size_t s = static_cast<std::size_t>(k) * W;
#pragma omp simd
            for (int l = 0; l < W; ++l)
                correction_a_[s + l] = -now_.half_curvature_per_a[s + l] * newton_a_[s + l] * newton_a_[s + l];
        }
        thomas<false>(correction_a_.data(), correction_a_.data());
        std::array<double, W> newton_max{}, correction_max{}, use;
        for (int k = 0; k < m_; ++k) {
            const std::size_t s = static_cast<std::size_t>(k) * W;
#pragma omp simd
            for (int l = 0; l < W; ++l) {
                newton_max[l] = std::max(newton_max[l], std::abs(newton_a_[s + l]));
                correction_max[l] = std::max(correction_max[l], std::abs(correction_a_[s + l]));
            }
        }
        for (int l = 0; l < W; ++l) use[l] = correction_max[l] <= 0.5 * newton_max[l] ? 1.0 : 0.0;
        return use;
    }

    int rows_ = 0;
    device::IvParams iv_;
    device::ReadConditions read_;
    double r_bl_ohm_ = 0, r_sl_ohm_ = 0;
    ExactOptions options_;
    bool wired_ = false;
    double i0_a_ = 0;  // I_0(T)
    std::vector<double> i0_cell_a_;  // per loaded cell: I_0(T) times its current factor
    // Per cell, [row][lane].
    std::vector<double> u0_, w0_, ku_per_a_, kw_per_a_;
    State ideal_;  // the cells at zero drop, per row (I, g, q only)
    // Per conducting row, [k][lane]: the iterate, the line-search trial, Thomas work space and steps.
    State now_, trial_;
    std::vector<double> inv_pivot_, y_, newton_a_, correction_a_;  // Thomas work space, δ₁, δ₂
    std::vector<int> act_;        // conducting rows a_k, ascending
    std::vector<double> weight_;  // w_k = 1/(a_k − a_{k−1}), w_m = 0
    int m_ = 0;
    bool factored_ = false;  // inv_pivot_ holds a factorization for the current conducting rows
    std::array<int, W> iterations_{};
    std::array<double, W> rel_{};
};

void check_fractions(const char* who, const double* x, int rows, int vector, int n) {
    for (int i = 0; i < rows; ++i)
        if (!(x[i] >= 0.0 && x[i] <= 1.0)) {
            if (n > 1) fail(who, ": input of vector ", vector, ", row ", i, " = ", x[i], " is out of range [0, 1]");
            fail(who, ": input of row ", i, " = ", x[i], " is out of range [0, 1]");
        }
}

// Both tile entry points: n vectors of fractions (T = double or float), out[v·cols + j].
template <class T>
void solve_tile(const char* who, const device::IvParams& iv, const TileCells& cells, const T* fraction, int n,
                const device::ReadConditions& read, const WireParams& wires, const ExactOptions& options, double* out,
                ExactStats* stats) {
    cells.validate();
    wires.validate();
    if (n < 0) fail(who, ": negative number of input vectors (", n, ")");
    const int rows = cells.rows, cols = cells.cols;
    const std::size_t len = static_cast<std::size_t>(n) * rows;
    // Inputs as doubles, and each vector's pulse ends: the distinct positive fractions, ascending.
    std::vector<double> x(len), ends(len);
    std::vector<int> n_ends(n);
    for (std::size_t k = 0; k < len; ++k) x[k] = static_cast<double>(fraction[k]);
    for (int v = 0; v < n; ++v) {
        const double* xv = x.data() + static_cast<std::size_t>(v) * rows;
        check_fractions(who, xv, rows, v, n);
        double* e = ends.data() + static_cast<std::size_t>(v) * rows;
        int count = 0;
        for (int i = 0; i < rows; ++i)
            if (xv[i] > 0) e[count++] = xv[i];
        std::sort(e, e + count);
        n_ends[v] = static_cast<int>(std::unique(e, e + count) - e);
    }

    constexpr int W = kLanes;
    const int blocks = (cols + W - 1) / W;
    // Work items: column blocks × chunks of vectors, enough of them to keep every thread busy; each
    // item loads its block's cells once. A (column, vector) result does not depend on the chunking,
    // so neither on the thread count.
    const int wanted = std::clamp((4 * threads() + blocks - 1) / blocks, 1, std::max(n, 1));
    const int chunk = (n + wanted - 1) / wanted;
    const int per_block = chunk > 0 ? (n + chunk - 1) / chunk : 0;
    const int items = blocks * per_block;

    ExactStats total;
    std::exception_ptr error;
#pragma omp parallel if (items > 1)
    {
        ExactStats mine;
        thread_local LadderSolver<W> ladder;
        ladder.configure(rows, iv, read, wires, options);
        std::vector<std::uint8_t> need(rows);
        std::vector<int> conducting;
        conducting.reserve(rows);
#pragma omp for schedule(dynamic)
        for (int item = 0; item < items; ++item) {
            try {
                const int block = item / per_block, first = block * W, count = std::min(W, cols - first);
                const int v_begin = (item % per_block) * chunk, v_end = std::min(n, v_begin + chunk);
                std::array<const float*, W> vth, slope, factor{};
                for (int l = 0; l < W; ++l) {
                    // Spare lanes of the last block repeat its last column.
                    const std::size_t c = cells.index(0, first + std::min(l, count - 1));
                    vth[l] = cells.vth_v.data() + c, slope[l] = cells.slope_n.data() + c;
                    if (!cells.current_factor.empty()) factor[l] = cells.current_factor.data() + c;
                }
                std::fill(need.begin(), need.end(), 0);
                for (int v = v_begin; v < v_end; ++v)
                    for (int i = 0; i < rows; ++i) need[i] |= x[static_cast<std::size_t>(v) * rows + i] > 0;
                ladder.load(vth, slope, factor, need.data());
                for (int v = v_begin; v < v_end; ++v) {
                    const double* xv = x.data() + static_cast<std::size_t>(v) * rows;
                    const double* e = ends.data() + static_cast<std::size_t>(v) * rows;
                    std::array<double, W> charge{};  // Σ_k (v_k − v_{k−1})·I_BL(slot k): charge / period
                    conducting.clear();
                    for (int i = 0; i < rows; ++i)
                        if (xv[i] > 0) conducting.push_back(i);
                    for (int k = 0; k < n_ends[v]; ++k) {
                        if (k == 0) ladder.start(conducting);
                        else ladder.keep_rows([&](int i) { return xv[i] >= e[k]; });
                        ladder.solve(who, first);
                        const double width = e[k] - (k > 0 ? e[k - 1] : 0.0);
                        for (int l = 0; l < count; ++l) {
                            charge[l] += width * ladder.bitline_current_a(l);
                            ++mine.solves;
                            mine.max_iterations = std::max(mine.max_iterations, ladder.iterations(l));
                            mine.max_rel_residual = std::max(mine.max_rel_residual, ladder.rel_residual(l));
                        }
                    }
                    for (int l = 0; l < count; ++l) out[static_cast<std::size_t>(v) * cols + first + l] = charge[l];
                }
            } catch (...) {
#pragma omp critical(flashmc_array_exact_error)
                if (!error) error = std::current_exception();
            }
        }
#pragma omp critical(flashmc_array_exact_stats)
        {
            total.solves += mine.solves;
            total.max_iterations = std::max(total.max_iterations, mine.max_iterations);
            total.max_rel_residual = std::max(total.max_rel_residual, mine.max_rel_residual);
        }
    }
    if (error) std::rethrow_exception(error);
    if (stats) *stats = total;
}

}  // namespace

ColumnSolution solve_column_exact(const device::IvParams& iv, std::span<const float> vth_v,
                                  std::span<const float> slope_n, std::span<const std::uint8_t> gate_on,
                                  const device::ReadConditions& read, const WireParams& wires,
                                  const ExactOptions& options) {
    wires.validate();
    const int rows = static_cast<int>(vth_v.size());
    if (slope_n.size() != vth_v.size() || gate_on.size() != vth_v.size())
        fail("solve_column_exact: ", vth_v.size(), " V_th values, ", slope_n.size(), " slopes and ", gate_on.size(),
             " gate states do not match");
    thread_local LadderSolver<1> ladder;
    ladder.configure(rows, iv, read, wires, options);
    ladder.load({vth_v.data()}, {slope_n.data()}, {nullptr}, gate_on.data());
    std::vector<int> conducting;
    for (int i = 0; i < rows; ++i)
        if (gate_on[i]) conducting.push_back(i);
    ladder.start(conducting);
    ladder.solve("solve_column_exact", -1);
    return ladder.column_solution(0);
}

std::vector<double> solve_tile_exact(const device::IvParams& iv, const TileCells& cells, std::span<const double> fraction,
                                     const device::ReadConditions& read, const WireParams& wires,
                                     const ExactOptions& options, ExactStats* stats) {
    if (static_cast<int>(fraction.size()) != cells.rows)
        fail("solve_tile_exact: ", fraction.size(), " inputs for a tile of ", cells.rows, " rows");
    std::vector<double> out(cells.cols, 0.0);
    solve_tile("solve_tile_exact", iv, cells, fraction.data(), 1, read, wires, options, out.data(), stats);
    return out;
}

void solve_tile_exact_batch(const device::IvParams& iv, const TileCells& cells, const float* fraction, int n,
                            const device::ReadConditions& read, const WireParams& wires, const ExactOptions& options,
                            double* out, ExactStats* stats) {
    solve_tile("solve_tile_exact_batch", iv, cells, fraction, n, read, wires, options, out, stats);
}

double series_cell_current_a(const device::IvParams& iv, double vth_v, double slope_n,
                             const device::ReadConditions& read, double r_drain_ohm, double r_source_ohm) {
    auto f = [&](double i) {
        return device::drain_current_a(iv, read.vgs_v - i * r_source_ohm, read.vds_v - i * (r_drain_ohm + r_source_ohm),
                                       vth_v, slope_n, read.temperature_c);
    };
    // g(I) = I − f(I) rises monotonically: f falls as the drops grow.
    double lo = 0.0, hi = std::max(f(0.0), 0.0);
    for (int it = 0; it < 200 && hi - lo > 1e-16 * hi; ++it) {
        const double mid = 0.5 * (lo + hi);
        (mid - f(mid) < 0 ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

}  // namespace flashmc::array
