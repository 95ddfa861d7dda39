#include "flashmc/nn/zoo.hpp"

#include "flashmc/core/error.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/pooling.hpp"
#include "flashmc/nn/residual.hpp"

namespace flashmc::nn {

namespace {

struct Builder {
    Model m;
    Streams streams;
    explicit Builder(std::uint64_t seed) : streams(seed) {}

    int conv_bn_act(const std::string& name, int in, int cin, int cout, int k, int stride, bool act = true) {
        auto conv = std::make_unique<Conv2d>(cin, cout, k, stride, k / 2, false);
        Stream rng = streams.at({0x1417, m.nodes.size()});
        conv->init_he(rng);
        int x = m.add(name, std::move(conv), {in});
        x = m.add(name + "_bn", std::make_unique<BatchNorm>(cout), {x});
        if (act) x = m.add(name + "_act", std::make_unique<Activation>(), {x});
        return x;
    }
    int linear(const std::string& name, int in, int fin, int fout) {
        auto fc = std::make_unique<Linear>(fin, fout, true);
        Stream rng = streams.at({0x1417, m.nodes.size()});
        fc->init_he(rng);
        return m.add(name, std::move(fc), {in});
    }
    int act(const std::string& name, int in) { return m.add(name, std::make_unique<Activation>(), {in}); }

    // Basic residual block (He et al. 2016): conv-bn-act-conv-bn, + shortcut, act.
    int basic_block(const std::string& name, int in, int cin, int cout, int stride, bool option_a) {
        int y = conv_bn_act(name + "_conv1", in, cin, cout, 3, stride);
        y = conv_bn_act(name + "_conv2", y, cout, cout, 3, 1, false);
        int sc = in;
        if (stride != 1 || cin != cout) {
            if (option_a) sc = m.add(name + "_shortcut", std::make_unique<ShortcutA>(stride, cout), {in});
            else sc = conv_bn_act(name + "_shortcut", in, cin, cout, 1, stride, false);
        }
        int s = m.add(name + "_add", std::make_unique<Add>(), {y, sc});
        return act(name + "_act", s);
    }
};

Model resnet(std::uint64_t seed, const std::string& arch, const std::vector<int>& widths, int blocks, bool option_a) {
    Builder b(seed);
    int x = b.m.add("input", std::make_unique<InputQuant>(), {-1});
    x = b.conv_bn_act("stem", x, 3, widths[0], 3, 1);
    int cin = widths[0];
    for (std::size_t s = 0; s < widths.size(); ++s)
        for (int k = 0; k < blocks; ++k) {
            const int stride = (s > 0 && k == 0) ? 2 : 1;
            x = b.basic_block("s" + std::to_string(s + 1) + "b" + std::to_string(k + 1), x, cin, widths[s], stride, option_a);
            cin = widths[s];
        }
    x = b.m.add("gap", std::make_unique<GlobalAvgPool>(), {x});
    x = b.act("gap_act", x);
    b.linear("fc", x, cin, 10);
    b.m.arch = arch;
    return std::move(b.m);
}

Model vgg16(std::uint64_t seed) {
    Builder b(seed);
    int x = b.m.add("input", std::make_unique<InputQuant>(), {-1});
    const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    int cin = 3, conv = 0, pool = 0;
    for (int c : cfg) {
        if (c == 0) {
            x = b.m.add("pool" + std::to_string(++pool), std::make_unique<Pool2d>(Pool2d::Mode::Max, 2, 2), {x});
        } else {
            x = b.conv_bn_act("conv" + std::to_string(++conv), x, cin, c, 3, 1);
            cin = c;
        }
    }
    x = b.act("fc1_act", b.linear("fc1", x, 512, 512));
    x = b.m.add("fc1_drop", std::make_unique<Dropout>(0.5f), {x});
    x = b.act("fc2_act", b.linear("fc2", x, 512, 512));
    x = b.m.add("fc2_drop", std::make_unique<Dropout>(0.5f), {x});
    b.linear("fc3", x, 512, 10);
    b.m.arch = "vgg16";
    return std::move(b.m);
}

Model alexnet(std::uint64_t seed) {
    Builder b(seed);
    int x = b.m.add("input", std::make_unique<InputQuant>(), {-1});
    x = b.conv_bn_act("conv1", x, 3, 64, 3, 1);
    x = b.m.add("pool1", std::make_unique<Pool2d>(Pool2d::Mode::Max, 2, 2), {x});  // 16×16
    x = b.conv_bn_act("conv2", x, 64, 192, 3, 1);
    x = b.m.add("pool2", std::make_unique<Pool2d>(Pool2d::Mode::Max, 2, 2), {x});  // 8×8
    x = b.conv_bn_act("conv3", x, 192, 384, 3, 1);
    x = b.conv_bn_act("conv4", x, 384, 256, 3, 1);
    x = b.conv_bn_act("conv5", x, 256, 256, 3, 1);
    x = b.m.add("pool5", std::make_unique<Pool2d>(Pool2d::Mode::Max, 2, 2), {x});  // 4×4
    x = b.act("fc1_act", b.linear("fc1", x, 256 * 4 * 4, 1024));
    x = b.m.add("fc1_drop", std::make_unique<Dropout>(0.5f), {x});
    x = b.act("fc2_act", b.linear("fc2", x, 1024, 512));
    x = b.m.add("fc2_drop", std::make_unique<Dropout>(0.5f), {x});
    b.linear("fc3", x, 512, 10);
    b.m.arch = "alexnet";
    return std::move(b.m);
}

// A tiny network for tests: conv-bn-act, pool, residual, linear.
Model tiny(std::uint64_t seed) {
    Builder b(seed);
    int x = b.m.add("input", std::make_unique<InputQuant>(), {-1});
    x = b.conv_bn_act("conv1", x, 3, 8, 3, 2);  // 16×16
    x = b.m.add("pool1", std::make_unique<Pool2d>(Pool2d::Mode::Max, 2, 2), {x});  // 8×8
    x = b.basic_block("b1", x, 8, 16, 2, true);  // 4×4
    x = b.m.add("gap", std::make_unique<GlobalAvgPool>(), {x});
    x = b.act("gap_act", x);
    b.linear("fc", x, 16, 10);
    b.m.arch = "tiny";
    return std::move(b.m);
}

}  // namespace

const std::vector<ZooEntry>& zoo() {
    static const std::vector<ZooEntry> z = {
        {"resnet20", "He et al. 2016 CIFAR ResNet-20: 3x3 basic blocks 16-32-64, option-A shortcuts"},
        {"resnet18", "ResNet-18 for CIFAR: 3x3 stem, 4x2 basic blocks 64-128-256-512, 1x1 projections"},
        {"vgg16", "VGG-16 (config D): 13 conv3x3+BN, 5 max pools, FC 512-512-10 with dropout"},
        {"alexnet", "AlexNet for 32x32: 5 conv3x3+BN (64-192-384-256-256), 3 max pools, FC 4096-1024-512-10"},
        {"tiny", "test network: conv, max pool, one residual block, FC (for tests and smoke runs)"},
    };
    return z;
}

Model build_model(const std::string& name, std::uint64_t seed) {
    if (name == "resnet20") return resnet(seed, name, {16, 32, 64}, 3, true);
    if (name == "resnet18") return resnet(seed, name, {64, 128, 256, 512}, 2, false);
    if (name == "vgg16") return vgg16(seed);
    if (name == "alexnet") return alexnet(seed);
    if (name == "tiny") return tiny(seed);
    std::string names;
    for (auto& e : zoo()) names += (names.empty() ? "" : ", ") + e.name;
    fail("unknown model '", name, "' (available: ", names, ")");
}

}  // namespace flashmc::nn
