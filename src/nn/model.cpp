#include "flashmc/nn/model.hpp"

#include <cstdio>

#include "flashmc/core/error.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/pooling.hpp"
#include "flashmc/nn/residual.hpp"

namespace flashmc::nn {

std::string node_key_prefix(std::size_t i) {
    char key[32];
    std::snprintf(key, sizeof key, "%03zu_", i);
    return key;
}

void Layer::save(const h5::Group& g) const { g.set_attr("kind", kind()); }
void Layer::load(const h5::Group&) {}

std::unique_ptr<Layer> load_layer(const h5::Group& g) {
    const std::string kind = g.attr_string("kind");
    auto i = [&](const char* a, long lo, long hi) { return static_cast<int>(g.attr_int(a, lo, hi)); };
    auto check_weights = [&](long outputs, long row) {
        if (outputs * row > kMaxWeights) fail(g.where(), ": ", outputs, " x ", row, " weights exceed the limit of ", kMaxWeights);
    };
    std::unique_ptr<Layer> l;
    if (kind == "conv2d") {
        const int in = i("in_channels", 1, kMaxChannels), out = i("out_channels", 1, kMaxChannels), k = i("kernel", 1, kMaxKernel);
        check_weights(out, static_cast<long>(in) * k * k);
        const int stride = i("stride", 1, kMaxKernel), pad = i("padding", 0, k - 1);
        l = std::make_unique<Conv2d>(in, out, k, stride, pad, i("has_bias", 0, 1) != 0);
    } else if (kind == "linear") {
        const int in = i("in_features", 1, kMaxActivation), out = i("out_features", 1, kMaxChannels);
        check_weights(out, in);
        l = std::make_unique<Linear>(in, out, i("has_bias", 0, 1) != 0);
    } else if (kind == "batchnorm") {
        l = std::make_unique<BatchNorm>(i("channels", 1, kMaxChannels), g.attr_double("momentum", 0, 1), g.attr_double("eps", 1e-30, 1));
    } else if (kind == "activation") l = std::make_unique<Activation>();
    else if (kind == "input_quant") l = std::make_unique<InputQuant>();
    else if (kind == "maxpool") l = std::make_unique<Pool2d>(Pool2d::Mode::Max, i("kernel", 1, kMaxKernel), i("stride", 1, kMaxKernel));
    else if (kind == "avgpool") l = std::make_unique<Pool2d>(Pool2d::Mode::Average, i("kernel", 1, kMaxKernel), i("stride", 1, kMaxKernel));
    else if (kind == "global_avgpool") l = std::make_unique<GlobalAvgPool>();
    else if (kind == "add") l = std::make_unique<Add>();
    else if (kind == "shortcut_a") l = std::make_unique<ShortcutA>(i("stride", 1, kMaxKernel), i("out_channels", 1, kMaxChannels));
    else if (kind == "dropout") l = std::make_unique<Dropout>(static_cast<float>(g.attr_double("p", 0, 0.99)));
    else fail(g.where(), ": unknown layer kind '", abbreviate(kind), "'");
    l->load(g);
    return l;
}

Model::Model(const Model& o) : arch(o.arch), input_shape(o.input_shape) {
    for (const auto& n : o.nodes) nodes.push_back({n.name, n.layer->clone(), n.inputs});
}

Model& Model::operator=(const Model& o) {
    if (this != &o) {
        Model tmp(o);
        *this = std::move(tmp);
    }
    return *this;
}

int Model::add(std::string name, std::unique_ptr<Layer> layer, std::vector<int> inputs) {
    for (int in : inputs)
        if (in < -1 || in >= static_cast<int>(nodes.size())) fail("model: node '", name, "' names input ", in, " that does not precede it");
    nodes.push_back({std::move(name), std::move(layer), std::move(inputs)});
    return static_cast<int>(nodes.size()) - 1;
}

const Tensor& Model::forward(const Tensor& x, const Context& ctx_in) {
    if (x.c() != input_shape[0] || x.h() != input_shape[1] || x.w() != input_shape[2])
        fail("model: input is ", x.c(), "x", x.h(), "x", x.w(), ", expected ", input_shape[0], "x", input_shape[1], "x", input_shape[2]);
    input_ = &x;
    outs_.resize(nodes.size());
    Context ctx = ctx_in;
    std::vector<const Tensor*> in;
    std::vector<std::vector<float>> grids(nodes.size()), in_grids;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        in.clear();
        in_grids.clear();
        for (int j : nodes[i].inputs) {
            in.push_back(j < 0 ? &x : &outs_[static_cast<std::size_t>(j)]);
            in_grids.push_back(j < 0 ? std::vector<float>{} : grids[static_cast<std::size_t>(j)]);
        }
        ctx.node = static_cast<int>(i);
        Layer& l = *nodes[i].layer;
        l.begin_step(ctx);
        grids[i] = l.set_grid(in_grids);
        l.forward(in, outs_[i], ctx);
    }
    return outs_.back();
}

void Model::backward(const Tensor& dlogits, const Context& ctx_in) {
    grads_.resize(nodes.size());
    has_grad_.assign(nodes.size(), 0);
    grads_.back() = dlogits;
    has_grad_.back() = 1;
    Context ctx = ctx_in;
    std::vector<const Tensor*> in;
    for (int i = static_cast<int>(nodes.size()) - 1; i >= 0; --i) {
        if (!has_grad_[i]) continue;
        const Node& nd = nodes[static_cast<std::size_t>(i)];
        in.clear();
        for (int j : nd.inputs) in.push_back(j < 0 ? input_ : &outs_[static_cast<std::size_t>(j)]);
        din_.resize(nd.inputs.size());
        ctx.node = i;
        nd.layer->backward(in, outs_[i], grads_[i], din_, ctx);
        for (std::size_t k = 0; k < nd.inputs.size(); ++k) {
            const int j = nd.inputs[k];
            if (j < 0) continue;
            if (!has_grad_[j]) {
                std::swap(grads_[j], din_[k]);
                has_grad_[j] = 1;
            } else {
                float* g = grads_[j].ptr();
                const float* d = din_[k].ptr();
                for (std::size_t e = 0; e < grads_[j].size(); ++e) g[e] += d[e];
            }
        }
    }
}

std::vector<Param> Model::params() {
    std::vector<Param> all;
    for (auto& n : nodes)
        for (auto p : n.layer->params()) {
            p.name = n.name + "/" + p.name;
            all.push_back(p);
        }
    return all;
}

void Model::zero_grad() {
    for (auto& p : params()) p.grad->zero();
}

long Model::parameter_count() {
    long n = 0;
    for (auto& p : params()) n += static_cast<long>(p.value->size());
    // BN running statistics are state, not parameters; PACT clips are parameters.
    return n;
}

long Model::macs_per_image() {
    std::vector<std::array<int, 4>> shapes(nodes.size());
    const std::array<int, 4> in0{1, input_shape[0], input_shape[1], input_shape[2]};
    long macs = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        std::vector<std::array<int, 4>> in;
        for (int j : nodes[i].inputs) in.push_back(j < 0 ? in0 : shapes[static_cast<std::size_t>(j)]);
        shapes[i] = nodes[i].layer->out_shape(in);
        macs += nodes[i].layer->macs_per_image(in);
    }
    return macs;
}

std::vector<int> Model::consumers(int i) const {
    std::vector<int> c;
    for (std::size_t k = 0; k < nodes.size(); ++k)
        for (int j : nodes[k].inputs)
            if (j == i) c.push_back(static_cast<int>(k));
    return c;
}

void Model::remove(int i) {
    if (nodes[static_cast<std::size_t>(i)].inputs.size() != 1) fail("model: cannot remove node with several inputs");
    const int src = nodes[static_cast<std::size_t>(i)].inputs[0];
    nodes.erase(nodes.begin() + i);
    for (auto& n : nodes)
        for (int& j : n.inputs) {
            if (j == i) j = src;
            else if (j > i) --j;
        }
    outs_.clear();
    grads_.clear();
}

void Model::save(const h5::Group& parent, h5::FloatStorage floats) const {
    h5::Group g = parent.create("model");
    g.set_float_storage(floats);
    g.set_attr("arch", arch);
    g.set_attr("input_shape", std::vector<std::int64_t>(input_shape.begin(), input_shape.end()));
    g.set_attr("node_count", static_cast<std::int64_t>(nodes.size()));
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        h5::Group ng = g.create(node_key_prefix(i).append(nodes[i].name));
        ng.set_attr("name", nodes[i].name);
        ng.set_attr("inputs", std::vector<std::int64_t>(nodes[i].inputs.begin(), nodes[i].inputs.end()));
        nodes[i].layer->save(ng);
    }
}

Model Model::load(const h5::Group& parent) {
    h5::Group g = parent.open("model");
    Model m;
    m.arch = g.attr_string("arch");
    // Index-valued attributes are int64 (float64 in files written before; both read exactly).
    const auto is = g.attr_ints("input_shape", 1, kMaxSide, 3);
    if (is.size() != 3) fail(g.where(), ": attribute 'input_shape' holds ", is.size(), " values, expected 3 (C, H, W)");
    if (is[0] * is[1] * is[2] > kMaxActivation) fail(g.where(), ": input_shape ", is[0], "x", is[1], "x", is[2], " is too large");
    m.input_shape = {int(is[0]), int(is[1]), int(is[2])};
    const auto names = g.children();
    const auto count = static_cast<std::size_t>(g.attr_int("node_count", 1, kMaxNodes));
    if (names.size() != count) fail(g.where(), ": ", names.size(), " nodes stored, header says ", count, " (truncated file?)");
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string prefix = node_key_prefix(i);
        if (names[i].rfind(prefix, 0) != 0)
            fail(g.where(), ": node group '", abbreviate(names[i]), "' is out of order (node ", i, " must be named ", prefix, "...)");
        h5::Group ng = g.open(names[i]);
        const auto ins = ng.attr_ints("inputs", -1, static_cast<long>(i) - 1, 2);
        auto layer = load_layer(ng);
        const std::size_t arity = layer->kind() == "add" ? 2 : 1;
        if (ins.size() != arity) fail(ng.where(), ": attribute 'inputs' holds ", ins.size(), " values; a ", layer->kind(), " node takes ", arity);
        m.add(ng.attr_string("name"), std::move(layer), std::vector<int>(ins.begin(), ins.end()));
    }
    // Check that the layers fit together: every output non-empty and within the limits, the last
    // one (the logits) a vector.
    std::vector<std::array<int, 4>> shapes(m.nodes.size());
    const std::array<int, 4> in0{1, m.input_shape[0], m.input_shape[1], m.input_shape[2]};
    for (std::size_t i = 0; i < m.nodes.size(); ++i) {
        const Node& n = m.nodes[i];
        std::vector<std::array<int, 4>> in;
        for (int j : n.inputs) in.push_back(j < 0 ? in0 : shapes[static_cast<std::size_t>(j)]);
        try {
            shapes[i] = n.layer->out_shape(in);
        } catch (const Error& e) {
            fail(g.where(), ": layers do not fit together at node ", i, " '", abbreviate(n.name), "': ", e.what());
        }
        const auto& s = shapes[i];
        if (s[1] < 1 || s[2] < 1 || s[3] < 1 || static_cast<long>(s[1]) * s[2] * s[3] > kMaxActivation)
            fail(g.where(), ": node ", i, " '", abbreviate(n.name), "' would output ", s[1], "x", s[2], "x", s[3], " values per image");
    }
    if (shapes.back()[2] != 1 || shapes.back()[3] != 1)
        fail(g.where(), ": the last node outputs ", shapes.back()[1], "x", shapes.back()[2], "x", shapes.back()[3], ", not a vector of logits");
    return m;
}

}  // namespace flashmc::nn
