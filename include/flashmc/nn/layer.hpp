#pragma once
// A layer of the CNN graph: forward and backward on NCHW float32 batches. Layers own their
// parameters (value + gradient) and any quantizer state; the Model wires them into a graph.
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "flashmc/core/rng.hpp"
#include "flashmc/core/tensor.hpp"
#include "flashmc/io/hdf5.hpp"

namespace flashmc::nn {

struct Param {
    std::string name;   // "weight", "bias", "gamma", "clip", ...
    Tensor* value;
    Tensor* grad;
    bool decay;         // weight decay applies
    float min_value = -std::numeric_limits<float>::infinity();  // projected onto [min_value, inf) after each step
};

struct Context {
    bool training = false;
    std::uint64_t step = 0;      // global optimizer step (keys dropout streams)
    const Streams* streams = nullptr;
    int node = 0;                // index of the node being run (keys its streams)
};

class Layer {
public:
    virtual ~Layer() = default;
    virtual std::string kind() const = 0;  // "conv2d", "batchnorm", ...
    // Output shape for the given input shapes.
    virtual std::array<int, 4> out_shape(const std::vector<std::array<int, 4>>& in) const = 0;
    virtual void forward(const std::vector<const Tensor*>& in, Tensor& out, const Context& ctx) = 0;
    // Given dL/dout, accumulate parameter gradients and write dL/din[i] (sized like in[i]).
    virtual void backward(const std::vector<const Tensor*>& in, const Tensor& out, const Tensor& dout,
                          std::vector<Tensor>& din, const Context& ctx) = 0;
    virtual std::vector<Param> params() { return {}; }
    // Persistent state beyond params (BN running stats, quantizer thresholds): saved in checkpoints.
    virtual void save(const h5::Group& g) const;
    virtual void load(const h5::Group& g);
    virtual long macs_per_image(const std::vector<std::array<int, 4>>&) const { return 0; }
    // Called by the Model once per forward, before set_grid (weight quantizers re-estimate their
    // threshold here on their schedule).
    virtual void begin_step(const Context&) {}
    // Quantized graphs: the value grid (real value of one integer step; one value = all channels,
    // else per channel) of the inputs; returns the grid of the output, empty where the output is
    // not on a known grid. Layers
    // whose integer counterpart rounds (conv/linear bias, residual add) snap to the same grid, so
    // the training graph computes what integer inference computes.
    virtual std::vector<float> set_grid(const std::vector<std::vector<float>>& in_grids) {
        return in_grids.empty() ? std::vector<float>{} : in_grids[0];
    }
    virtual std::unique_ptr<Layer> clone() const = 0;
};

// Reads the layer described by group `g` (attribute "kind" plus the layer's own attributes),
// checking every attribute against the limits below and every dataset's shape.
std::unique_ptr<Layer> load_layer(const h5::Group& g);

// Limits of a stored model (float graph or integer export), far above any CIFAR-10 network: the
// loaders check them before allocating anything, so a corrupted file is an error, not a crash.
inline constexpr int kMaxChannels = 1 << 16;              // channels, classes, output features
inline constexpr int kMaxKernel = 64;                     // kernel and stride of convolutions and pools
inline constexpr int kMaxSide = 4096;                     // input height and width
inline constexpr int kMaxNodes = 1000;                    // nodes of a graph (group names 000_ to 999_)
inline constexpr long kMaxActivation = 1L << 26;          // values of one node's output, per image
inline constexpr long kMaxWeights = 1L << 28;             // values of one weight tensor

}  // namespace flashmc::nn
