#include <cstdio>

#include "command.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/zoo.hpp"

namespace flashmc::cli {
namespace {

const char* kUsage = R"(flashmc models [--layers NAME|FILE.h5]

Lists the model zoo with parameter counts and MACs per image. With --layers, lists the nodes of a
zoo model or a model file: index, name, kind, inputs, output shape, parameters.)";

void print_layers(nn::Model& m) {
    std::printf("%-4s %-18s %-15s %-9s %-14s %10s\n", "#", "name", "kind", "inputs", "output CxHxW", "params");
    std::vector<std::array<int, 4>> shapes(m.nodes.size());
    const std::array<int, 4> in0{1, m.input_shape[0], m.input_shape[1], m.input_shape[2]};
    for (std::size_t i = 0; i < m.nodes.size(); ++i) {
        auto& n = m.nodes[i];
        std::vector<std::array<int, 4>> in;
        std::string ins;
        for (int j : n.inputs) {
            in.push_back(j < 0 ? in0 : shapes[static_cast<std::size_t>(j)]);
            ins += (ins.empty() ? "" : ",") + (j < 0 ? std::string("x") : std::to_string(j));
        }
        shapes[i] = n.layer->out_shape(in);
        long params = 0;
        for (auto& p : n.layer->params()) params += static_cast<long>(p.value->size());
        char shape[32];
        std::snprintf(shape, sizeof shape, "%dx%dx%d", shapes[i][1], shapes[i][2], shapes[i][3]);
        std::printf("%-4zu %-18s %-15s %-9s %-14s %10ld\n", i, n.name.c_str(), n.layer->kind().c_str(), ins.c_str(), shape, params);
    }
}

int run(Args& a) {
    const std::string layers = a.str("layers", "");
    a.finish();
    if (!layers.empty()) {
        const bool file = layers.size() > 3 && layers.substr(layers.size() - 3) == ".h5";
        nn::Model m = file ? std::move(nn::load_model_file(layers).float_graph(layers, "models --layers")) : nn::build_model(layers, 0);
        print_layers(m);
        return 0;
    }
    std::printf("%-10s %12s %14s  %s\n", "model", "parameters", "MACs/image", "description");
    for (const auto& e : nn::zoo()) {
        nn::Model m = nn::build_model(e.name, 0);
        std::printf("%-10s %12ld %14ld  %s\n", e.name.c_str(), m.parameter_count(), m.macs_per_image(), e.description.c_str());
    }
    return 0;
}
const Registration reg({"models", "list the model zoo (parameters, MACs/image) or one model's layers", kUsage, run});
}  // namespace
}  // namespace flashmc::cli
