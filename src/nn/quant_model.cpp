#include "flashmc/nn/quant_model.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

#include "flashmc/core/error.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/panel_gemm.hpp"
#include "flashmc/nn/pooling.hpp"
#include "flashmc/nn/quantizer.hpp"
#include "flashmc/nn/residual.hpp"

namespace flashmc::nn {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;

namespace {
const char* kOpNames[] = {"input", "conv2d", "linear", "requant", "add", "maxpool", "avgpool", "global_avgpool", "shortcut_a", "identity"};
QNode::Op op_from(const std::string& s, const std::string& where) {
    for (int i = 0; i < 10; ++i)
        if (s == kOpNames[i]) return static_cast<QNode::Op>(i);
    fail(where, ": unknown operation '", abbreviate(s), "'");
}
// Storage for node outputs, kept per thread across forward passes: once a thread has run a batch
// of a given size, a pass neither allocates nor page-faults.
class TensorPool {
public:
    // Gives t the pooled buffer that best fits `size` floats: the smallest that holds it, else the
    // largest (which t.resize grows).
    void take(Tensor& t, std::size_t size) {
        if (free_.empty()) return;
        std::size_t best = 0;
        for (std::size_t b = 1; b < free_.size(); ++b) {
            const std::size_t c = free_[b].capacity(), cb = free_[best].capacity();
            if (cb >= size ? (c >= size && c < cb) : c > cb) best = b;
        }
        t.data = std::move(free_[best]);
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
    }
    void give(Tensor& t) {
        if (t.data.capacity() > 0) free_.push_back(std::move(t.data));
        t.data = {};
    }

private:
    std::vector<FloatVec> free_;
};

bool uniform(const std::vector<double>& s) {
    for (double v : s)
        if (std::abs(v - s[0]) > 1e-12 * std::abs(s[0])) return false;
    return true;
}
}  // namespace

std::string op_name(QNode::Op op) { return kOpNames[static_cast<int>(op)]; }

FixedMultiplier FixedMultiplier::from(double real) {
    if (!(real > 0) || !std::isfinite(real)) fail("fixed-point multiplier: bad real multiplier ", real);
    int e = 0;
    const double f = std::frexp(real, &e);  // real = f·2^e, f in [0.5, 1)
    FixedMultiplier fm;
    std::int64_t m = std::llround(f * 2147483648.0);
    if (m == (std::int64_t{1} << 31)) { m /= 2; ++e; }
    fm.m = static_cast<std::int32_t>(m);
    fm.shift = 31 - e;
    if (fm.shift < 1 || fm.shift > 62) fail("fixed-point multiplier ", real, " out of range");
    return fm;
}

void QuantModel::prepare(bool require_logits) {
    const std::size_t n = nodes.size();
    scales_.assign(n, {});
    mult_.assign(n, {});
    shapes_.assign(n, {});
    input_lut_.clear();
    bounds_.assign(n, 0.0);
    signed_.assign(n, true);
    last_use_.assign(n, -1);
    std::vector<double>& bound = bounds_;
    for (std::size_t i = 0; i < n; ++i) {
        QNode& q = nodes[i];
        const std::string where = "quantized model node " + std::to_string(i) + " '" + abbreviate(q.name) + "' (" + op_name(q.op) + ")";
        std::vector<std::array<int, 4>> in;
        for (int j : q.inputs) {
            if (j < 0 ? q.op != QNode::Op::Input : (j >= static_cast<int>(i))) fail(where, ": input ", j, " does not precede it");
            if (j >= 0) in.push_back(shapes_[static_cast<std::size_t>(j)]);
            if (j >= 0) last_use_[static_cast<std::size_t>(j)] = static_cast<int>(i);
        }
        const std::size_t expected_inputs = q.op == QNode::Op::Add ? 2 : (q.op == QNode::Op::Input ? 1 : 1);
        if (q.inputs.size() != expected_inputs) fail(where, ": has ", q.inputs.size(), " inputs, expected ", expected_inputs);
        const int a = q.inputs[0];
        const std::vector<double>* sa = a >= 0 ? &scales_[static_cast<std::size_t>(a)] : nullptr;
        auto& sc = scales_[i];
        auto& shape = shapes_[i];
        switch (q.op) {
            case QNode::Op::Input: {
                if (q.bits < 2 || q.bits > 8 || !(q.out_scale > 0)) fail(where, ": bad bits/scale");
                shape = {1, 3, 32, 32};
                sc.assign(3, q.out_scale);
                const float qmax = static_cast<float>((1 << (q.bits - 1)) - 1);
                input_lut_.resize(3);
                if (q.affine_scale.size() != q.affine_shift.size() || (!q.affine_scale.empty() && q.affine_scale.size() != 3))
                    fail(where, ": the input affine needs 3 scales and 3 shifts");
                for (int c = 0; c < 3; ++c)
                    for (int p = 0; p < 256; ++p) {
                        float x = (static_cast<float>(p) - kCifarMean[c]) / kCifarStd[c];
                        if (!q.affine_scale.empty()) x = q.affine_scale[static_cast<std::size_t>(c)] * x + q.affine_shift[static_cast<std::size_t>(c)];
                        input_lut_[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)] =
                            std::clamp(round_half_away(x / static_cast<float>(q.out_scale)), -qmax, qmax);
                    }
                bound[i] = qmax;
                break;
            }
            case QNode::Op::Conv:
            case QNode::Op::Linear: {
                const auto& s = in[0];
                if (q.in_c < 1 || q.out_c < 1 || q.weight_bits < 2 || q.weight_bits > 8)
                    fail(where, ": bad channels (", q.in_c, ", ", q.out_c, ") or weight bits (", q.weight_bits, ")");
                if (q.op == QNode::Op::Conv) {
                    if (s[1] != q.in_c) fail(where, ": input has ", s[1], " channels, layer expects ", q.in_c);
                    if (q.k < 1 || q.stride < 1 || q.pad < 0 || q.pad >= q.k || s[2] + 2 * q.pad < q.k || s[3] + 2 * q.pad < q.k)
                        fail(where, ": kernel ", q.k, ", stride ", q.stride, ", padding ", q.pad, " do not fit a ", s[2], "x", s[3], " input");
                    shape = {1, q.out_c, (s[2] + 2 * q.pad - q.k) / q.stride + 1, (s[3] + 2 * q.pad - q.k) / q.stride + 1};
                } else {
                    if (q.k != 1) fail(where, ": a linear layer has kernel 1, not ", q.k);
                    if (s[1] * s[2] * s[3] != q.in_c) fail(where, ": input has ", s[1] * s[2] * s[3], " features, layer expects ", q.in_c);
                    shape = {1, q.out_c, 1, 1};
                }
                if (q.codes.size() != static_cast<std::size_t>(q.out_c) * q.row()) fail(where, ": ", q.codes.size(), " weight codes, expected ", static_cast<std::size_t>(q.out_c) * q.row());
                if (q.weight_scale.size() != static_cast<std::size_t>(q.out_c) || q.bias_q.size() != static_cast<std::size_t>(q.out_c))
                    fail(where, ": weight_scale and bias_q need ", q.out_c, " values");
                if (!uniform(*sa)) fail(where, ": input is not a quantized activation (per-channel scales)");
                if (std::abs((*sa)[0] - q.input_scale) > 1e-9 * q.input_scale) fail(where, ": input scale ", q.input_scale, " does not match its producer's ", (*sa)[0]);
                const int qmax = (1 << (q.weight_bits - 1)) - 1;
                int wmax = 0;
                for (auto c : q.codes) wmax = std::max(wmax, std::abs(int(c)));
                if (wmax > qmax) fail(where, ": weight code ", wmax, " exceeds ", q.weight_bits, "-bit range");
                const double acc_bound = static_cast<double>(q.row()) * wmax * bound[static_cast<std::size_t>(a)];
                if (acc_bound >= 16777216.0) fail(where, ": accumulator bound ", acc_bound, " exceeds 2^24 (float-exact integer GEMM)");
                double bmax = 0;
                for (auto b : q.bias_q) bmax = std::max(bmax, std::abs(double(b)));
                bound[i] = acc_bound + bmax;
                sc.resize(static_cast<std::size_t>(q.out_c));
                for (int c = 0; c < q.out_c; ++c) sc[static_cast<std::size_t>(c)] = q.weight_scale[static_cast<std::size_t>(c)] * q.input_scale;
                break;
            }
            case QNode::Op::Requant: {
                if (q.bits < 2 || q.bits > 8 || !(q.out_scale > 0)) fail(where, ": bad bits/scale");
                shape = in[0];
                sc.assign(sa->size(), q.out_scale);
                for (double s : *sa) mult_[i].push_back(FixedMultiplier::from(s / q.out_scale));
                bound[i] = (1 << q.bits) - 1;
                signed_[i] = false;
                break;
            }
            case QNode::Op::Add: {
                if (in[0] != in[1]) fail(where, ": inputs have different shapes");
                shape = in[0];
                const auto& sb = scales_[static_cast<std::size_t>(q.inputs[1])];
                sc = *sa;
                double mmax = 0;
                for (std::size_t c = 0; c < sc.size(); ++c) {
                    mult_[i].push_back(FixedMultiplier::from(sb[c] / sc[c]));
                    mmax = std::max(mmax, sb[c] / sc[c]);
                }
                bound[i] = bound[static_cast<std::size_t>(a)] + mmax * bound[static_cast<std::size_t>(q.inputs[1])] + 1;
                break;
            }
            case QNode::Op::MaxPool:
            case QNode::Op::AvgPool: {
                if (q.pool < 1 || q.stride < 1 || q.pool > in[0][2] || q.pool > in[0][3])
                    fail(where, ": pool ", q.pool, ", stride ", q.stride, " do not fit a ", in[0][2], "x", in[0][3], " input");
                shape = {1, in[0][1], (in[0][2] - q.pool) / q.stride + 1, (in[0][3] - q.pool) / q.stride + 1};
                sc = *sa;
                bound[i] = bound[static_cast<std::size_t>(a)];
                signed_[i] = signed_[static_cast<std::size_t>(a)];
                if (q.op == QNode::Op::AvgPool) {
                    for (auto& s : sc) s /= q.pool * q.pool;
                    bound[i] *= q.pool * q.pool;
                }
                break;
            }
            case QNode::Op::GlobalAvgPool: {
                shape = {1, in[0][1], 1, 1};
                sc = *sa;
                const int hw = in[0][2] * in[0][3];
                for (auto& s : sc) s /= hw;
                bound[i] = bound[static_cast<std::size_t>(a)] * hw;
                signed_[i] = signed_[static_cast<std::size_t>(a)];
                break;
            }
            case QNode::Op::ShortcutA: {
                if (q.shortcut_out_c < in[0][1] || q.stride < 1) fail(where, ": bad shortcut");
                shape = {1, q.shortcut_out_c, (in[0][2] + q.stride - 1) / q.stride, (in[0][3] + q.stride - 1) / q.stride};
                sc = *sa;
                sc.resize(static_cast<std::size_t>(q.shortcut_out_c), (*sa)[0]);
                bound[i] = bound[static_cast<std::size_t>(a)];
                signed_[i] = signed_[static_cast<std::size_t>(a)];
                break;
            }
            case QNode::Op::Identity:
                shape = in[0];
                sc = *sa;
                bound[i] = bound[static_cast<std::size_t>(a)];
                signed_[i] = signed_[static_cast<std::size_t>(a)];
                break;
        }
        if (bound[i] >= 2147483647.0) fail(where, ": values may overflow 32 bits");
        if (static_cast<long>(shape[1]) * shape[2] * shape[3] > kMaxActivation)
            fail(where, ": output of ", shape[1], "x", shape[2], "x", shape[3], " values per image exceeds the limit of ", kMaxActivation);
    }
    if (require_logits && (nodes.empty() || !nodes.back().is_mvm())) fail("quantized model: the last node must be a linear or conv layer (the logits)");
}

long QuantModel::macs_per_image() const {
    long macs = 0;
    for (std::size_t i = 0; i < nodes.size() && i < shapes_.size(); ++i)
        if (nodes[i].is_mvm()) macs += static_cast<long>(shapes_[i][1]) * shapes_[i][2] * shapes_[i][3] * static_cast<long>(nodes[i].row());
    return macs;
}

void QuantModel::accumulate(const QNode& q, const Tensor& x, Tensor& acc) const {
    const FloatVec w(q.codes.begin(), q.codes.end());
    accumulate_with(q, w.data(), x, acc);
}

void QuantModel::accumulate_with(const QNode& q, const float* weights, const Tensor& x, Tensor& acc) {
    const int n = x.n();
    const int K = static_cast<int>(q.row());
    CMapR W(weights, q.out_c, K);
    if (q.op == QNode::Op::Linear) {
        acc.resize(n, q.out_c);
        MapR(acc.ptr(), n, q.out_c).noalias() = CMapR(x.ptr(), n, K) * W.transpose();
        for (int i = 0; i < n; ++i)
            for (int c = 0; c < q.out_c; ++c) acc.image(i)[c] += static_cast<float>(q.bias_q[static_cast<std::size_t>(c)]);
        return;
    }
    const ConvPanel shape(q.in_c, x.h(), x.w(), q.k, q.stride, q.pad);
    const int P = shape.oh * shape.ow;
    acc.resize(n, q.out_c, shape.oh, shape.ow);
    FloatVec packed;
    pack_panel_weights(weights, q.out_c, K, packed);
    const std::vector<float> bias(q.bias_q.begin(), q.bias_q.end());
    const std::vector<std::ptrdiff_t> off = shape.offsets();
    // Images per GEMM: their panels (about kGroupFloats) stay in the core's L2 cache. The grouping
    // depends on the shapes only, never on the thread count.
    constexpr std::size_t kGroupFloats = std::size_t{1} << 18;
    const std::size_t per = (shape.size() + kPanelAlign - 1) / kPanelAlign * kPanelAlign;
    const int group = static_cast<int>(std::clamp<std::size_t>(kGroupFloats / per, 1, static_cast<std::size_t>(n)));
    const int groups = (n + group - 1) / group;
#pragma omp parallel
    {
        // Reused across calls: no allocation or page faults per layer. The slack covers the
        // columns a last, partial vector reads past its panel.
        thread_local FloatVec panel;
        thread_local std::vector<PanelVector> vectors;
        panel.resize(group * per + kPanelAlign);
#pragma omp for schedule(static)
        for (int g = 0; g < groups; ++g) {
            const int i0 = g * group, m = std::min(group, n - i0);
            vectors.clear();
            for (int i = 0; i < m; ++i) {
                float* pi = panel.data() + i * per;
                shape.fill(x.image(i0 + i), pi);
                for (int j = 0; j < P; j += kPanelAlign) vectors.push_back({pi + j, acc.image(i0 + i) + j, std::min(kPanelAlign, P - j)});
            }
            panel_gemm(packed, q.out_c, K, off.data(), vectors, static_cast<std::size_t>(P), bias.data());
        }
    }
}

void QuantModel::forward(const std::uint8_t* images, int n, Tensor& logits, std::vector<Tensor>* trace,
                         const MvmOverride* mvm) const {
    thread_local TensorPool pool;
    std::vector<Tensor> out(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const QNode& q = nodes[i];
        Tensor& y = out[i];
        const auto& shape = shapes_[i];
        pool.take(y, static_cast<std::size_t>(n) * shape[1] * shape[2] * shape[3]);
        const Tensor* x = q.inputs[0] >= 0 ? &out[static_cast<std::size_t>(q.inputs[0])] : nullptr;
        switch (q.op) {
            case QNode::Op::Input:
                y.resize(n, 3, 32, 32);
                for (int b = 0; b < n; ++b)
                    for (int c = 0; c < 3; ++c)
                        for (int p = 0; p < 1024; ++p)
                            y.image(b)[c * 1024 + p] = input_lut_[static_cast<std::size_t>(c)][images[static_cast<std::size_t>(b) * 3072 + c * 1024 + p]];
                break;
            case QNode::Op::Conv:
            case QNode::Op::Linear:
                if (!mvm || !mvm->accumulate(static_cast<int>(i), q, *x, y)) accumulate(q, *x, y);
                break;
            case QNode::Op::Requant: {
                y.resize_like(*x);
                const float hi = static_cast<float>((1 << q.bits) - 1);
                const int hw = x->h() * x->w();
#pragma omp parallel for schedule(static)
                for (int b = 0; b < n; ++b)
                    for (int c = 0; c < x->c(); ++c) {
                        const FixedMultiplier fm = mult_[i][static_cast<std::size_t>(c)];
                        const float* s = x->image(b) + static_cast<std::size_t>(c) * hw;
                        float* d = y.image(b) + static_cast<std::size_t>(c) * hw;
                        for (int p = 0; p < hw; ++p)
                            d[p] = std::clamp(static_cast<float>(fm.apply(round_accumulator(s[p]))), 0.0f, hi);
                    }
                break;
            }
            case QNode::Op::Add: {
                const Tensor& x2 = out[static_cast<std::size_t>(q.inputs[1])];
                y.resize_like(*x);
                const int hw = x->h() * x->w();
#pragma omp parallel for schedule(static)
                for (int b = 0; b < n; ++b)
                    for (int c = 0; c < x->c(); ++c) {
                        const FixedMultiplier fm = mult_[i][static_cast<std::size_t>(c)];
                        const float* s1 = x->image(b) + static_cast<std::size_t>(c) * hw;
                        const float* s2 = x2.image(b) + static_cast<std::size_t>(c) * hw;
                        float* d = y.image(b) + static_cast<std::size_t>(c) * hw;
                        for (int p = 0; p < hw; ++p)
                            d[p] = static_cast<float>(round_accumulator(s1[p]) + fm.apply(round_accumulator(s2[p])));
                    }
                break;
            }
            case QNode::Op::MaxPool:
            case QNode::Op::AvgPool: {
                const int oh = (x->h() - q.pool) / q.stride + 1, ow = (x->w() - q.pool) / q.stride + 1;
                y.resize(n, x->c(), oh, ow);
                const bool mx = q.op == QNode::Op::MaxPool;
                for (int pl = 0; pl < n * x->c(); ++pl) {
                    const float* s = x->ptr() + static_cast<std::size_t>(pl) * x->h() * x->w();
                    float* d = y.ptr() + static_cast<std::size_t>(pl) * oh * ow;
                    for (int oy = 0; oy < oh; ++oy)
                        for (int ox = 0; ox < ow; ++ox) {
                            float v = mx ? -FLT_MAX : 0.0f;
                            for (int ky = 0; ky < q.pool; ++ky)
                                for (int kx = 0; kx < q.pool; ++kx) {
                                    const float e = s[(oy * q.stride + ky) * x->w() + ox * q.stride + kx];
                                    v = mx ? std::max(v, e) : v + e;
                                }
                            d[oy * ow + ox] = v;
                        }
                }
                break;
            }
            case QNode::Op::GlobalAvgPool: {
                y.resize(n, x->c(), 1, 1);
                const int hw = x->h() * x->w();
                for (int pl = 0; pl < n * x->c(); ++pl) {
                    const float* s = x->ptr() + static_cast<std::size_t>(pl) * hw;
                    float v = 0;
                    for (int p = 0; p < hw; ++p) v += s[p];
                    y.data[static_cast<std::size_t>(pl)] = v;
                }
                break;
            }
            case QNode::Op::ShortcutA: {
                const int oh = (x->h() + q.stride - 1) / q.stride, ow = (x->w() + q.stride - 1) / q.stride;
                y.resize(n, q.shortcut_out_c, oh, ow);
                for (int b = 0; b < n; ++b) {
                    for (int c = 0; c < x->c(); ++c)
                        for (int yy = 0; yy < oh; ++yy) {
                            const float* s = x->image(b) + (static_cast<std::size_t>(c) * x->h() + yy * q.stride) * x->w();
                            float* d = y.image(b) + (static_cast<std::size_t>(c) * oh + yy) * ow;
                            if (q.stride == 2)  // a constant stride vectorizes
                                for (int xx = 0; xx < ow; ++xx) d[xx] = s[2 * xx];
                            else
                                for (int xx = 0; xx < ow; ++xx) d[xx] = s[xx * q.stride];
                        }
                    std::fill(y.image(b) + static_cast<std::size_t>(x->c()) * oh * ow, y.image(b) + y.per_image(), 0.0f);  // added channels
                }
                break;
            }
            case QNode::Op::Identity:
                y = *x;
                break;
        }
        // Inputs read for the last time go back to the pool (all are kept for a trace).
        if (!trace)
            for (int j : q.inputs)
                if (j >= 0 && last_use_[static_cast<std::size_t>(j)] == static_cast<int>(i)) pool.give(out[static_cast<std::size_t>(j)]);
    }
    const Tensor& last = out.back();
    const auto& sc = scales_.back();
    logits.resize(n, last.c());
    for (int b = 0; b < n; ++b)
        for (int c = 0; c < last.c(); ++c) logits.image(b)[c] = static_cast<float>(last.image(b)[c] * sc[static_cast<std::size_t>(c)]);
    if (trace) *trace = std::move(out);
    else
        for (Tensor& t : out) pool.give(t);
}

std::vector<int> QuantModel::predict(const std::uint8_t* images, int n) const {
    Tensor z;
    forward(images, n, z);
    std::vector<int> p(static_cast<std::size_t>(n));
    for (int b = 0; b < n; ++b) {
        const float* r = z.image(b);
        p[static_cast<std::size_t>(b)] = static_cast<int>(std::max_element(r, r + z.c()) - r);
    }
    return p;
}

void QuantModel::save(const h5::Group& parent) const {
    h5::Group g = parent.create("quantized");
    g.set_attr("arch", arch);
    g.set_attr("node_count", static_cast<std::int64_t>(nodes.size()));
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const QNode& q = nodes[i];
        h5::Group ng = g.create(node_key_prefix(i).append(q.name));
        ng.set_attr("name", q.name);
        ng.set_attr("op", op_name(q.op));
        ng.set_attr("inputs", std::vector<std::int64_t>(q.inputs.begin(), q.inputs.end()));
        switch (q.op) {
            case QNode::Op::Conv:
            case QNode::Op::Linear:
                ng.set_attr("in_channels", q.in_c);
                ng.set_attr("out_channels", q.out_c);
                ng.set_attr("kernel", q.k);
                ng.set_attr("stride", q.stride);
                ng.set_attr("padding", q.pad);
                ng.set_attr("weight_bits", q.weight_bits);
                ng.set_attr("input_scale", q.input_scale);
                ng.write("weight_codes", q.codes.data(), {h5::Dims::value_type(q.out_c), h5::Dims::value_type(q.row())});
                ng.write("weight_scale", q.weight_scale);
                ng.write("bias_q", q.bias_q);
                break;
            case QNode::Op::Input:
            case QNode::Op::Requant:
                ng.set_attr("bits", q.bits);
                ng.set_attr("scale", q.out_scale);
                if (q.op == QNode::Op::Requant) ng.set_attr("clip", q.out_scale * ((1 << q.bits) - 1));
                if (!q.affine_scale.empty()) {
                    ng.write("affine_scale", q.affine_scale);
                    ng.write("affine_shift", q.affine_shift);
                }
                break;
            case QNode::Op::MaxPool:
            case QNode::Op::AvgPool:
                ng.set_attr("kernel", q.pool);
                ng.set_attr("stride", q.stride);
                break;
            case QNode::Op::ShortcutA:
                ng.set_attr("stride", q.stride);
                ng.set_attr("out_channels", q.shortcut_out_c);
                break;
            default: break;
        }
    }
}

QuantModel QuantModel::load(const h5::Group& parent) {
    h5::Group g = parent.open("quantized");
    QuantModel m;
    m.arch = g.attr_string("arch");
    const auto keys = g.children();
    const auto count = static_cast<std::size_t>(g.attr_int("node_count", 1, kMaxNodes));
    if (keys.size() != count) fail(g.where(), ": ", keys.size(), " nodes stored, header says ", count, " (truncated file?)");
    for (std::size_t k = 0; k < keys.size(); ++k) {
        const std::string prefix = node_key_prefix(k);
        if (keys[k].rfind(prefix, 0) != 0)
            fail(g.where(), ": node group '", abbreviate(keys[k]), "' is out of order (node ", k, " must be named ", prefix, "...)");
        h5::Group ng = g.open(keys[k]);
        QNode q;
        q.name = ng.attr_string("name");
        q.op = op_from(ng.attr_string("op"), ng.where());
        // Index-valued attributes are int64 (float64 in files written before; both read exactly).
        for (auto j : ng.attr_ints("inputs", -1, static_cast<long>(k) - 1, 2)) q.inputs.push_back(static_cast<int>(j));
        auto i = [&](const char* a, long lo, long hi) { return static_cast<int>(ng.attr_int(a, lo, hi)); };
        switch (q.op) {
            case QNode::Op::Conv:
            case QNode::Op::Linear: {
                const bool conv = q.op == QNode::Op::Conv;
                q.in_c = i("in_channels", 1, conv ? kMaxChannels : kMaxActivation);
                q.out_c = i("out_channels", 1, kMaxChannels);
                q.k = i("kernel", 1, conv ? kMaxKernel : 1);
                q.stride = i("stride", 1, conv ? kMaxKernel : 1);
                q.pad = i("padding", 0, q.k - 1);
                q.weight_bits = i("weight_bits", 2, 8);
                q.input_scale = ng.attr_double("input_scale", 1e-30, 1e30);
                if (static_cast<long>(q.out_c) * static_cast<long>(q.row()) > kMaxWeights)
                    fail(ng.where(), ": ", q.out_c, " x ", q.row(), " weights exceed the limit of ", kMaxWeights);
                const auto out = static_cast<hsize_t>(q.out_c);
                q.codes = ng.read_shaped<std::int8_t>("weight_codes", {out, static_cast<hsize_t>(q.row())});
                q.weight_scale = ng.read_shaped<double>("weight_scale", {out});
                q.bias_q = ng.read_shaped<std::int32_t>("bias_q", {out});
                for (double v : q.weight_scale)
                    if (!(v >= 1e-30 && v <= 1e30)) fail(ng.where(), ": dataset 'weight_scale' holds ", v, ", expected a positive scale");
                break;
            }
            case QNode::Op::Input:
            case QNode::Op::Requant:
                q.bits = i("bits", 2, 8);
                q.out_scale = ng.attr_double("scale", 1e-30, 1e30);
                if (q.op == QNode::Op::Input && (ng.has("affine_scale") || ng.has("affine_shift"))) {
                    q.affine_scale = ng.read_shaped<float>("affine_scale", {3});
                    q.affine_shift = ng.read_shaped<float>("affine_shift", {3});
                    for (std::size_t c = 0; c < 3; ++c)
                        if (!(std::abs(q.affine_scale[c]) >= 1e-6f && std::abs(q.affine_scale[c]) <= 1e6f) || !(std::abs(q.affine_shift[c]) <= 1e6f))
                            fail(ng.where(), ": input affine of channel ", c, " (scale ", q.affine_scale[c], ", shift ",
                                 q.affine_shift[c], ") outside |scale| 1e-6..1e6, |shift| <= 1e6");
                }
                break;
            case QNode::Op::MaxPool:
            case QNode::Op::AvgPool:
                q.pool = i("kernel", 1, kMaxKernel);
                q.stride = i("stride", 1, kMaxKernel);
                break;
            case QNode::Op::ShortcutA:
                q.stride = i("stride", 1, kMaxKernel);
                q.shortcut_out_c = i("out_channels", 1, kMaxChannels);
                break;
            default: break;
        }
        m.nodes.push_back(std::move(q));
    }
    m.prepare();
    return m;
}

QuantModel export_quantized(Model& fm) {
    QuantModel q;
    q.arch = fm.arch;
    // Translate node by node; conv/linear nodes need their input's scale, so scales are derived
    // incrementally by prepare() on the prefix built so far.
    for (const auto& nd : fm.nodes) {
        QNode qn;
        qn.name = nd.name;
        qn.inputs = nd.inputs;
        Layer* l = nd.layer.get();
        const std::string where = "export: node '" + nd.name + "' (" + l->kind() + ")";
        if (auto* in = dynamic_cast<InputQuant*>(l)) {
            if (in->bits == 0) fail(where, ": input is not quantized");
            qn.op = QNode::Op::Input;
            qn.bits = in->bits;
            qn.out_scale = in->scale();
            qn.affine_scale = in->affine_scale;
            qn.affine_shift = in->affine_shift;
        } else if (auto* c = dynamic_cast<Conv2d*>(l)) {
            if (!c->quant.enabled()) fail(where, ": weights are not quantized");
            qn.op = QNode::Op::Conv;
            qn.in_c = c->in_c; qn.out_c = c->out_c; qn.k = c->k; qn.stride = c->stride; qn.pad = c->pad;
            qn.weight_bits = c->quant.bits;
            if (c->quant.threshold.empty()) c->quant.update(c->weight.ptr(), c->out_c, c->row());
            qn.codes = c->quant.codes(c->weight.ptr(), c->out_c, c->row());
            for (int o = 0; o < c->out_c; ++o) qn.weight_scale.push_back(c->quant.scale(o));
            qn.bias_q.assign(static_cast<std::size_t>(c->out_c), 0);
        } else if (auto* f = dynamic_cast<Linear*>(l)) {
            if (!f->quant.enabled()) fail(where, ": weights are not quantized");
            qn.op = QNode::Op::Linear;
            qn.in_c = f->in_f; qn.out_c = f->out_f;
            qn.weight_bits = f->quant.bits;
            if (f->quant.threshold.empty()) f->quant.update(f->weight.ptr(), f->out_f, static_cast<std::size_t>(f->in_f));
            qn.codes = f->quant.codes(f->weight.ptr(), f->out_f, static_cast<std::size_t>(f->in_f));
            for (int o = 0; o < f->out_f; ++o) qn.weight_scale.push_back(f->quant.scale(o));
            qn.bias_q.assign(static_cast<std::size_t>(f->out_f), 0);
        } else if (auto* a = dynamic_cast<Activation*>(l)) {
            if (a->bits == 0) fail(where, ": activation is not quantized");
            qn.op = QNode::Op::Requant;
            qn.bits = a->bits;
            qn.out_scale = a->scale();
        } else if (dynamic_cast<Add*>(l)) {
            qn.op = QNode::Op::Add;
        } else if (auto* p = dynamic_cast<Pool2d*>(l)) {
            qn.op = p->mode == Pool2d::Mode::Max ? QNode::Op::MaxPool : QNode::Op::AvgPool;
            qn.pool = p->k;
            qn.stride = p->stride;
        } else if (dynamic_cast<GlobalAvgPool*>(l)) {
            qn.op = QNode::Op::GlobalAvgPool;
        } else if (auto* s = dynamic_cast<ShortcutA*>(l)) {
            qn.op = QNode::Op::ShortcutA;
            qn.stride = s->stride;
            qn.shortcut_out_c = s->out_c;
        } else if (dynamic_cast<Dropout*>(l)) {
            qn.op = QNode::Op::Identity;
        } else {
            fail(where, ": cannot be exported (fold batch norm first)");
        }
        if (qn.is_mvm()) {
            // Input scale from the prefix; bias in accumulator units, bias_q = round(b / (s_w·s_x)).
            QuantModel head;
            head.nodes = q.nodes;
            head.prepare(false);
            const auto& sx = head.scales()[static_cast<std::size_t>(qn.inputs[0])];
            if (!uniform(sx)) fail(where, ": input is not a quantized activation");
            qn.input_scale = sx[0];
            const float* bias = nullptr;
            if (auto* c = dynamic_cast<Conv2d*>(l); c && c->has_bias) bias = c->bias.ptr();
            if (auto* f = dynamic_cast<Linear*>(l); f && f->has_bias) bias = f->bias.ptr();
            for (int o = 0; o < qn.out_c; ++o)
                qn.bias_q[static_cast<std::size_t>(o)] = bias ? static_cast<std::int32_t>(std::llround(bias[o] / (qn.weight_scale[static_cast<std::size_t>(o)] * qn.input_scale))) : 0;
        }
        q.nodes.push_back(std::move(qn));
    }
    q.prepare();
    return q;
}

}  // namespace flashmc::nn
