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

void Layer::save(const h5::Group& g) const { g.set_attr("kind", kind()); }
void Layer::load(const h5::Group&) {}

std::unique_ptr<Layer> load_layer(const h5::Group& g) {
    const std::string kind = g.attr_string("kind");
    auto i = [&](const char* a) { return static_cast<int>(g.attr_int(a)); };
    std::unique_ptr<Layer> l;
    if (kind == "conv2d") l = std::make_unique<Conv2d>(i("in_channels"), i("out_channels"), i("kernel"), i("stride"), i("padding"), i("has_bias") != 0);
    else if (kind == "linear") l = std::make_unique<Linear>(i("in_features"), i("out_features"), i("has_bias") != 0);
    else if (kind == "batchnorm") l = std::make_unique<BatchNorm>(i("channels"), g.attr_double("momentum"), g.attr_double("eps"));
    else if (kind == "activation") l = std::make_unique<Activation>();
    else if (kind == "input_quant") l = std::make_unique<InputQuant>();
    else if (kind == "maxpool") l = std::make_unique<Pool2d>(Pool2d::Mode::Max, i("kernel"), i("stride"));
    else if (kind == "avgpool") l = std::make_unique<Pool2d>(Pool2d::Mode::Average, i("kernel"), i("stride"));
    else if (kind == "global_avgpool") l = std::make_unique<GlobalAvgPool>();
    else if (kind == "add") l = std::make_unique<Add>();
    else if (kind == "shortcut_a") l = std::make_unique<ShortcutA>(i("stride"), i("out_channels"));
    else if (kind == "dropout") l = std::make_unique<Dropout>(static_cast<float>(g.attr_double("p")));
    else fail(g.where(), ": unknown layer kind '", kind, "'");
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

void Model::save(const h5::Group& parent) const {
    h5::Group g = parent.create("model");
    g.set_attr("arch", arch);
    g.set_attr("input_shape", std::vector<double>{double(input_shape[0]), double(input_shape[1]), double(input_shape[2])});
    g.set_attr("node_count", static_cast<std::int64_t>(nodes.size()));
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "%03zu_", i);
        h5::Group ng = g.create(std::string(key).append(nodes[i].name));
        ng.set_attr("name", nodes[i].name);
        std::vector<double> ins(nodes[i].inputs.begin(), nodes[i].inputs.end());
        ng.set_attr("inputs", ins);
        nodes[i].layer->save(ng);
    }
}

Model Model::load(const h5::Group& parent) {
    h5::Group g = parent.open("model");
    Model m;
    m.arch = g.attr_string("arch");
    auto is = g.attr_doubles("input_shape");
    if (is.size() != 3) fail(g.where(), ": input_shape must have 3 values");
    m.input_shape = {int(is[0]), int(is[1]), int(is[2])};
    auto names = g.children();
    const auto count = static_cast<std::size_t>(g.attr_int("node_count"));
    if (names.size() != count) fail(g.where(), ": ", names.size(), " nodes stored, header says ", count, " (truncated file?)");
    for (const auto& key : names) {
        h5::Group ng = g.open(key);
        std::vector<int> ins;
        for (double d : ng.attr_doubles("inputs")) ins.push_back(static_cast<int>(d));
        m.add(ng.attr_string("name"), load_layer(ng), ins);
    }
    // Check that the layers fit together.
    try {
        m.macs_per_image();
    } catch (const Error& e) {
        fail(g.where(), ": layers do not fit together: ", e.what());
    }
    return m;
}

}  // namespace flashmc::nn
