#pragma once
// A CNN as a graph of layers in topological order. Node inputs name earlier nodes (-1: the network
// input); the last node's output is the logits. Saved to HDF5 as group `model` with one subgroup
// per node, "NNN_name", carrying the layer kind, its inputs and its parameters.
#include <memory>
#include <string>
#include <vector>

#include "flashmc/nn/layer.hpp"

namespace flashmc::nn {

struct Node {
    std::string name;
    std::unique_ptr<Layer> layer;
    std::vector<int> inputs;
};

class Model {
public:
    Model() = default;
    Model(const Model& o);
    Model& operator=(const Model& o);
    Model(Model&&) = default;
    Model& operator=(Model&&) = default;

    int add(std::string name, std::unique_ptr<Layer> layer, std::vector<int> inputs);
    const Tensor& forward(const Tensor& x, const Context& ctx);
    void backward(const Tensor& dlogits, const Context& ctx);  // after forward on the same batch
    std::vector<Param> params();  // names "node/param"
    void zero_grad();
    long parameter_count();
    long macs_per_image();
    // Output of node i from the last forward.
    const Tensor& output(int i) const { return outs_.at(static_cast<std::size_t>(i)); }
    // Nodes consuming node i's output.
    std::vector<int> consumers(int i) const;
    // Removes node i; its consumers take its (single) input instead.
    void remove(int i);

    // Writes group "model", its float datasets stored as `floats` says.
    void save(const h5::Group& parent, h5::FloatStorage floats = h5::FloatStorage::Float32) const;
    static Model load(const h5::Group& parent);        // reads group "model"

    std::string arch;                  // zoo name, e.g. "resnet20"
    std::array<int, 3> input_shape{3, 32, 32};
    std::vector<Node> nodes;

private:
    std::vector<Tensor> outs_, grads_, din_;
    std::vector<char> has_grad_;
    const Tensor* input_ = nullptr;
};

// The start of node i's group name, "NNN_" (zero-padded, so that names sort in topological order
// up to kMaxNodes); the loaders check it.
std::string node_key_prefix(std::size_t i);

}  // namespace flashmc::nn
