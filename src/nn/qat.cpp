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
    // Calibrate activation clips in graph order on the FP32 (ReLU) outputs.
    Context ctx;
    m.forward(calibration, ctx);
    for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i) {
        auto* a = dynamic_cast<Activation*>(m.nodes[static_cast<std::size_t>(i)].layer.get());
        if (!a) continue;
        const bool feeds_last = q.first_last_bits > 0 && m.consumers(i).size() == 1 && m.consumers(i)[0] == last;
        const Tensor& y = m.output(i);  // ReLU output of the FP32 graph
        const int bits = feeds_last ? q.first_last_bits : q.act_bits;
        a->bits = bits;
        a->set_clip(mse_optimal_threshold(y.ptr(), y.size(), (1 << bits) - 1, false));
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
