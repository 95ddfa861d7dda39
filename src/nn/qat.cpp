#include "flashmc/nn/qat.hpp"

#include <cmath>
#include <algorithm>
#include <regex>

#include "flashmc/core/error.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/data.hpp"
#include "flashmc/nn/linear.hpp"

namespace flashmc::nn {

std::string QuantConfig::describe() const {
    std::string s = "W" + std::to_string(weight_bits) + "A" + std::to_string(act_bits) + ", input " +
                    std::to_string(input_bits) + "-bit";
    if (first_last_bits > 0) s += ", first/last layers " + std::to_string(first_last_bits) + "-bit";
    s += per_channel ? ", per-channel weights" : ", per-layer weights";
    return s;
}

QuantConfig parse_quant(const std::string& spec) {
    static const std::regex re(R"(w(\d+)a(\d+)(-fl(\d+))?(-pc)?)");
    std::smatch m;
    if (!std::regex_match(spec, m, re))
        fail("quantization '", spec, "' not understood (examples: w4a4, w4a4-fl8 for 8-bit first/last layers, w4a4-pc for per-channel weights)");
    QuantConfig q;
    q.weight_bits = std::stoi(m[1]);
    q.act_bits = std::stoi(m[2]);
    if (m[4].matched) q.first_last_bits = std::stoi(m[4]);
    q.per_channel = m[5].matched;
    for (int b : {q.weight_bits, q.act_bits, q.first_last_bits})
        if (b != 0 && (b < 2 || b > 8)) fail("quantization '", spec, "': bit widths must be 2..8");
    return q;
}

namespace {

constexpr int kCalibrationChunk = 500;

// Runs the calibration images through m (inference) in chunks, calling fn(chunk) after each.
template <class F>
void forward_chunks(Model& m, const Tensor& x, F&& fn) {
    if (x.n() < 1) fail("quantization: no calibration images");
    Tensor chunk;
    Context ctx;
    for (int b0 = 0; b0 < x.n(); b0 += kCalibrationChunk) {
        const int cn = std::min(kCalibrationChunk, x.n() - b0);
        chunk.resize(cn, x.c(), x.h(), x.w());
        std::copy_n(x.image(b0), chunk.size(), chunk.ptr());
        m.forward(chunk, ctx);
        fn(chunk);
    }
}

// Adds y's per-channel sums (over images and positions) to sum.
void add_channel_sums(const Tensor& y, std::vector<double>& sum) {
    sum.resize(static_cast<std::size_t>(y.c()), 0.0);
    const std::size_t hw = static_cast<std::size_t>(y.h()) * y.w();
    for (int n = 0; n < y.n(); ++n)
        for (int c = 0; c < y.c(); ++c) {
            const float* p = y.image(n) + c * hw;
            double s = 0.0;
            for (std::size_t k = 0; k < hw; ++k) s += p[k];
            sum[static_cast<std::size_t>(c)] += s;
        }
}

WeightedLayer* weighted(Model& m, int i) { return dynamic_cast<WeightedLayer*>(m.nodes[static_cast<std::size_t>(i)].layer.get()); }

}  // namespace

void add_layer_bits(QuantConfig& q, const std::string& name_eq_bits) {
    const auto eq = name_eq_bits.find('=');
    std::size_t used = 0;
    int bits = 0;
    try {
        if (eq != std::string::npos && eq > 0) bits = std::stoi(name_eq_bits.substr(eq + 1), &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || eq + 1 + used != name_eq_bits.size()) fail("--layer-bits expects NAME=BITS, got '", name_eq_bits, "'");
    q.layer_bits[name_eq_bits.substr(0, eq)] = bits;
}

int fold_batchnorm(Model& m) {
    int folds = 0;
    for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i) {
        auto* bn = dynamic_cast<BatchNorm*>(m.nodes[static_cast<std::size_t>(i)].layer.get());
        if (!bn) continue;
        const int src = m.nodes[static_cast<std::size_t>(i)].inputs[0];
        if (src < 0 || m.consumers(src).size() != 1) fail("fold_batchnorm: '", m.nodes[static_cast<std::size_t>(i)].name, "' does not follow a layer it can fold into");
        Layer* prev = m.nodes[static_cast<std::size_t>(src)].layer.get();
        Tensor *w, *b;
        int out_c;
        std::size_t row;
        std::unique_ptr<Layer> replacement;
        if (auto* conv = dynamic_cast<Conv2d*>(prev)) {
            if (!conv->has_bias) {
                auto nc = std::make_unique<Conv2d>(conv->in_c, conv->out_c, conv->k, conv->stride, conv->pad, true);
                nc->weight = conv->weight;
                nc->quant = conv->quant;
                replacement = std::move(nc);
            }
            out_c = conv->out_c;
            row = conv->row();
        } else if (auto* fc = dynamic_cast<Linear*>(prev)) {
            if (!fc->has_bias) {
                auto nf = std::make_unique<Linear>(fc->in_f, fc->out_f, true);
                nf->weight = fc->weight;
                replacement = std::move(nf);
            }
            out_c = fc->out_f;
            row = static_cast<std::size_t>(fc->in_f);
        } else {
            fail("fold_batchnorm: '", m.nodes[static_cast<std::size_t>(i)].name, "' follows a ", prev->kind(), ", not a conv or linear layer");
        }
        if (replacement) m.nodes[static_cast<std::size_t>(src)].layer = std::move(replacement);
        prev = m.nodes[static_cast<std::size_t>(src)].layer.get();
        if (auto* conv = dynamic_cast<Conv2d*>(prev)) { w = &conv->weight; b = &conv->bias; }
        else { auto* fc = static_cast<Linear*>(prev); w = &fc->weight; b = &fc->bias; }
        for (int c = 0; c < out_c; ++c) {
            const double g = bn->gamma.data[c] / std::sqrt(static_cast<double>(bn->running_var.data[c]) + bn->eps);
            for (std::size_t j = 0; j < row; ++j) w->data[c * row + j] = static_cast<float>(w->data[c * row + j] * g);
            b->data[c] = static_cast<float>(bn->beta.data[c] + (b->data[c] - bn->running_mean.data[c]) * g);
        }
        m.remove(i);
        --i;
        ++folds;
    }
    return folds;
}

bool is_quantized(const Model& m) {
    for (const auto& n : m.nodes) {
        if (auto* c = dynamic_cast<const Conv2d*>(n.layer.get()); c && c->quant.enabled()) return true;
        if (auto* f = dynamic_cast<const Linear*>(n.layer.get()); f && f->quant.enabled()) return true;
    }
    return false;
}

void prepare_qat(Model& m, const QuantConfig& q, const Tensor& calibration) {
    fold_batchnorm(m);
    int first = -1, last = -1;
    for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i) {
        Layer* l = m.nodes[static_cast<std::size_t>(i)].layer.get();
        if (dynamic_cast<Conv2d*>(l) || dynamic_cast<Linear*>(l)) {
            if (first < 0) first = i;
            last = i;
        }
    }
    for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i) {
        Layer* l = m.nodes[static_cast<std::size_t>(i)].layer.get();
        const bool edge = (i == first || i == last) && q.first_last_bits > 0;
        WeightQuantizer* wq = nullptr;
        if (auto* c = dynamic_cast<Conv2d*>(l)) wq = &c->quant;
        if (auto* f = dynamic_cast<Linear*>(l)) wq = &f->quant;
        if (wq) {
            wq->bits = edge ? q.first_last_bits : q.weight_bits;
            wq->per_channel = q.per_channel;
            wq->every_steps = q.threshold_every_steps;
            wq->momentum = q.threshold_momentum;
            wq->threshold.clear();
        }
        if (auto* in = dynamic_cast<InputQuant*>(l)) {
            in->bits = q.input_bits;
            in->range = in->has_affine() ? in->affine_range() : input_range();
        }
    }
    // The activation feeding the last layer gets the first/last width too (it is that layer's input).
    // Calibrate activation clips on the ReLU outputs (weights quantized, activations still float),
    // streaming the calibration images through in chunks so that memory stays bounded for any count.
    std::vector<int> acts;
    for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i)
        if (dynamic_cast<Activation*>(m.nodes[static_cast<std::size_t>(i)].layer.get())) acts.push_back(i);
    auto bits_of = [&](int i) {
        const bool feeds_last = q.first_last_bits > 0 && m.consumers(i).size() == 1 && m.consumers(i)[0] == last;
        return feeds_last ? q.first_last_bits : q.act_bits;
    };
    std::vector<ThresholdSearch> searches;
    forward_chunks(m, calibration, [&](const Tensor&) {
        for (std::size_t a = 0; a < acts.size(); ++a) {
            const Tensor& y = m.output(acts[a]);
            if (searches.size() == a)
                searches.emplace_back(static_cast<std::size_t>(calibration.n()) * y.per_image(), (1 << bits_of(acts[a])) - 1, false);
            searches[a].add(y.ptr(), y.size());
        }
    });
    for (std::size_t a = 0; a < acts.size(); ++a) {
        auto* act = static_cast<Activation*>(m.nodes[static_cast<std::size_t>(acts[a])].layer.get());
        act->bits = bits_of(acts[a]);
        act->set_clip(searches[a].threshold());
    }
    // Per-node overrides.
    for (const auto& [name, bits] : q.layer_bits) {
        if (bits < 2 || bits > 8) fail("--layer-bits ", name, "=", bits, ": bits must be 2..8");
        // (an init-capture: clang before 16 cannot capture a structured binding)
        auto it = std::find_if(m.nodes.begin(), m.nodes.end(), [&key = name](const Node& n) { return n.name == key; });
        if (it == m.nodes.end()) {
            std::string names;
            for (const auto& n : m.nodes)
                if (dynamic_cast<Conv2d*>(n.layer.get()) || dynamic_cast<Linear*>(n.layer.get()) ||
                    dynamic_cast<Activation*>(n.layer.get()) || dynamic_cast<InputQuant*>(n.layer.get()))
                    names += (names.empty() ? "" : ", ") + n.name;
            fail("--layer-bits: no quantizable node '", name, "' in ", m.arch, " (nodes: ", names, ")");
        }
        Layer* l = it->layer.get();
        if (auto* c = dynamic_cast<Conv2d*>(l)) c->quant.bits = bits;
        else if (auto* f = dynamic_cast<Linear*>(l)) f->quant.bits = bits;
        else if (auto* in = dynamic_cast<InputQuant*>(l)) in->bits = bits;
        else if (auto* a = dynamic_cast<Activation*>(l)) {
            a->bits = bits;  // the clip (range) stays; only the number of steps changes
        } else fail("--layer-bits: node '", name, "' is a ", l->kind(), ", not a quantizable layer");
    }
}

}  // namespace flashmc::nn

namespace flashmc::nn {

int correct_bias(Model& q, const Tensor& calibration) {
    int corrected = 0;
    for (int i = 0; i < static_cast<int>(q.nodes.size()); ++i) {
        WeightedLayer* l = weighted(q, i);
        if (!l || !l->quant.enabled()) continue;
        if (!l->has_bias) fail("correct_bias: '", q.nodes[static_cast<std::size_t>(i)].name, "' has no bias (fold BatchNorm first)");
        // The same layer with float weights, fed the same (quantized) inputs.
        std::unique_ptr<Layer> ref = l->clone();
        static_cast<WeightedLayer*>(ref.get())->quant.bits = 0;
        std::vector<double> sum_q, sum_f;
        Tensor yf;
        std::vector<const Tensor*> in;
        forward_chunks(q, calibration, [&](const Tensor& x) {
            in.clear();
            for (int j : q.nodes[static_cast<std::size_t>(i)].inputs) in.push_back(j < 0 ? &x : &q.output(j));
            ref->forward(in, yf, Context{});
            add_channel_sums(q.output(i), sum_q);
            add_channel_sums(yf, sum_f);
        });
        const double per_channel = static_cast<double>(calibration.n()) * static_cast<double>(yf.per_image() / sum_q.size());
        for (std::size_t c = 0; c < sum_q.size(); ++c) l->bias.data[c] -= static_cast<float>((sum_q[c] - sum_f[c]) / per_channel);
        ++corrected;
    }
    return corrected;
}

}  // namespace flashmc::nn
