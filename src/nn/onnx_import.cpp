#include "flashmc/nn/onnx_import.hpp"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "flashmc/core/error.hpp"
#include "flashmc/io/cifar10.hpp"
#include "flashmc/nn/activation.hpp"
#include "flashmc/nn/batchnorm.hpp"
#include "flashmc/nn/conv2d.hpp"
#include "flashmc/nn/linear.hpp"
#include "flashmc/nn/pooling.hpp"
#include "flashmc/nn/residual.hpp"

namespace flashmc::nn {

const char* onnx_supported_ops() {
    return "Conv (group 1), Gemm, MatMul, BatchNormalization, Relu, Clip (min 0, no max), Add, MaxPool, AveragePool "
           "(no padding), GlobalAveragePool, Flatten (axis 1), Reshape (to N x -1), Identity, Dropout, Constant, "
           "Pad (of zeros); "
           "Sub, Add, Mul, Div by constants on the graph input (its normalization)";
}

void InputNormalization::validate() const {
    if (!(scale > 0 && std::isfinite(scale))) fail("input normalization: scale ", scale, " must be positive");
    for (int c = 0; c < 3; ++c)
        if (!(std[c] > 0 && std::isfinite(std[c])) || !std::isfinite(mean[c]))
            fail("input normalization: channel ", c, " has mean ", mean[c], ", std ", std[c], " (std must be positive)");
}

namespace {

// ONNX TensorProto.DataType values read here.
constexpr int kFloat = 1, kInt64 = 7;
// Opsets whose semantics of the operators above this importer follows (torch 1.13 exports 9-17).
constexpr long kMinOpset = 9, kMaxOpset = 17;

struct Const {
    std::vector<std::int64_t> dims;
    std::vector<double> v;  // float32 or int64 values, as double (int64 shape entries are exact)
    std::size_t numel() const { return v.size(); }
};

// A tensor of the graph during translation: either the graph input seen through per-channel affine
// ops (value = a·u + b, u the ONNX input), or the output of a flashmc node.
struct Value {
    bool affine = false;
    std::array<double, 3> a{1, 1, 1}, b{0, 0, 0};
    int node = -1;
    std::array<int, 3> chw{};  // flashmc's C, H, W of the node output
    int rank = 4;              // ONNX rank: 4 (N, C, H, W) or 2 (N, C·H·W)
};

std::string dims_text(const std::vector<std::int64_t>& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size() && i < 8; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    if (d.size() > 8) s += ", ... (" + std::to_string(d.size()) + " dimensions)";
    return s + "]";
}

// The values of a constant as the integers they must be (a shape, pads): a float tensor's values
// may be anything, and converting a non-integral, huge or NaN double to int64 is undefined.
bool integral(double x) { return std::isfinite(x) && x == std::trunc(x) && std::abs(x) < 9.2e18; }

std::string values_text(const std::vector<double>& v) {
    std::ostringstream s;
    s << "[";
    for (std::size_t i = 0; i < v.size() && i < 8; ++i) s << (i ? ", " : "") << v[i];
    if (v.size() > 8) s << ", ... (" << v.size() << " values)";
    s << "]";
    return s.str();
}

class Importer {
public:
    Importer(std::string path, const onnx::ModelProto& mp, const InputNormalization& norm, long opset)
        : path_(std::move(path)), g_(mp.graph()), norm_(norm), opset_(opset) {}

    OnnxImport run();

private:
    std::string path_;
    const onnx::GraphProto& g_;
    InputNormalization norm_;
    long opset_;
    std::map<std::string, Const> consts_;
    std::map<std::string, Value> values_;
    std::map<std::string, int> uses_;  // consumers of each value name
    std::set<std::string> names_;      // flashmc node names given
    Model m_;
    bool input_used_ = false;
    std::array<double, 3> input_a_{1, 1, 1}, input_b_{0, 0, 0};
    const onnx::NodeProto* n_ = nullptr;  // node being translated

    [[noreturn]] void node_fail(const std::string& what) const {
        fail(path_, ": node '", abbreviate(n_->name()), "' (", abbreviate(n_->op_type()), "): ", what);
    }
    Const read_tensor(const onnx::TensorProto& t, const std::string& what) const;
    const onnx::AttributeProto* attr(const std::string& name) const {
        for (const auto& a : n_->attribute())
            if (a.name() == name) return &a;
        return nullptr;
    }
    long attr_int(const std::string& name, long fallback) const {
        const auto* a = attr(name);
        if (!a) return fallback;
        if (a->type() != onnx::AttributeProto::INT) node_fail("attribute '" + name + "' is not an integer");
        return a->i();
    }
    double attr_float(const std::string& name, double fallback) const {
        const auto* a = attr(name);
        if (!a) return fallback;
        if (a->type() != onnx::AttributeProto::FLOAT) node_fail("attribute '" + name + "' is not a float");
        return a->f();
    }
    std::vector<std::int64_t> attr_ints(const std::string& name, std::vector<std::int64_t> fallback) const {
        const auto* a = attr(name);
        if (!a) return fallback;
        if (a->type() != onnx::AttributeProto::INTS) node_fail("attribute '" + name + "' is not a list of integers");
        return {a->ints().begin(), a->ints().end()};
    }
    std::string attr_string(const std::string& name, const std::string& fallback) const {
        const auto* a = attr(name);
        if (!a) return fallback;
        if (a->type() != onnx::AttributeProto::STRING) node_fail("attribute '" + name + "' is not a string");
        return a->s();
    }
    bool has_input(int k) const { return k < n_->input_size() && !n_->input(k).empty(); }
    bool is_const(int k) const { return has_input(k) && consts_.count(n_->input(k)); }
    const Const& konst(int k, const std::string& what) const {
        if (!has_input(k)) node_fail("missing " + what);
        auto it = consts_.find(n_->input(k));
        if (it == consts_.end()) node_fail(what + " '" + abbreviate(n_->input(k)) + "' must be a constant (an initializer)");
        return it->second;
    }
    Value value(int k) {  // a runtime input; the input's affine view becomes the input node
        if (!has_input(k)) node_fail("missing input " + std::to_string(k));
        auto it = values_.find(n_->input(k));
        if (it == values_.end()) {
            if (consts_.count(n_->input(k))) node_fail("input '" + abbreviate(n_->input(k)) + "' is a constant; flashmc expects a tensor computed from the image here");
            node_fail("input '" + abbreviate(n_->input(k)) + "' is not produced by an earlier node (graph not in topological order?)");
        }
        return it->second.affine ? materialize(it->second) : it->second;
    }
    Value materialize(const Value& v);
    void single_output() const {
        for (int k = 1; k < n_->output_size(); ++k)
            if (!n_->output(k).empty() && uses_.count(n_->output(k))) node_fail("output " + std::to_string(k) + " is used; flashmc computes only the first (inference)");
    }
    std::string node_name(const std::string& fallback);
    Value add_node(std::unique_ptr<Layer> layer, std::vector<Value> ins, int rank);
    void set(const Value& v) { values_[n_->output(0)] = v; }
    static bool finite(const Const& c) {
        for (double x : c.v)
            if (!std::isfinite(x)) return false;
        return true;
    }
    std::vector<float> floats(int k, const std::string& what, std::size_t count) const {
        const Const& c = konst(k, what);
        if (c.numel() != count) node_fail(what + " has " + std::to_string(c.numel()) + " values " + dims_text(c.dims) + ", expected " + std::to_string(count));
        if (!finite(c)) node_fail(what + " holds a value that is not finite");
        return {c.v.begin(), c.v.end()};
    }

    void conv();
    void gemm(bool matmul);
    void batchnorm();
    void pool(bool max);
    void elementwise(const std::string& op);
    void translate();
};

Const Importer::read_tensor(const onnx::TensorProto& t, const std::string& what) const {
    Const c;
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
        fail(path_, ": ", what, " keeps its data in an external file; export the weights inside the model");
    if (t.has_segment()) fail(path_, ": ", what, " is segmented; flashmc reads whole tensors");
    if (t.dims_size() > 64) fail(path_, ": ", what, " has ", t.dims_size(), " dimensions; flashmc reads tensors of up to 64");
    // The element count, refused above kMaxWeights before anything is allocated (a dimension of 0
    // makes it 0 whatever the others claim; the product is never formed past the limit).
    bool zero = false, over = false;
    for (auto d : t.dims()) {
        if (d < 0) fail(path_, ": ", what, " has a negative dimension ", d, " (shape ", dims_text({t.dims().begin(), t.dims().end()}), ")");
        zero = zero || d == 0;
    }
    std::size_t n = 1;
    for (auto d : t.dims()) {
        c.dims.push_back(d);
        if (zero || over) continue;
        if (d > kMaxWeights || n > static_cast<std::size_t>(kMaxWeights / d)) over = true;
        else n *= static_cast<std::size_t>(d);
    }
    if (zero) n = 0;
    if (over) fail(path_, ": ", what, " has shape ", dims_text(c.dims), ": more than the limit of ", kMaxWeights, " values");
    const std::string& raw = t.raw_data();
    if (t.data_type() == kFloat) {
        if (t.has_raw_data()) {
            if (raw.size() != n * 4) fail(path_, ": ", what, ": ", raw.size(), " bytes of data for ", n, " float32 values");
            std::vector<float> f(n);
            if (n) std::memcpy(f.data(), raw.data(), n * 4);  // little-endian, as ONNX stores it and x86 reads it
            c.v.assign(f.begin(), f.end());
        } else {
            if (static_cast<std::size_t>(t.float_data_size()) != n) fail(path_, ": ", what, ": ", t.float_data_size(), " float values for shape ", dims_text(c.dims));
            c.v.assign(t.float_data().begin(), t.float_data().end());
        }
    } else if (t.data_type() == kInt64) {
        if (t.has_raw_data()) {
            if (raw.size() != n * 8) fail(path_, ": ", what, ": ", raw.size(), " bytes of data for ", n, " int64 values");
            std::vector<std::int64_t> i(n);
            if (n) std::memcpy(i.data(), raw.data(), n * 8);
            c.v.assign(i.begin(), i.end());
        } else {
            if (static_cast<std::size_t>(t.int64_data_size()) != n) fail(path_, ": ", what, ": ", t.int64_data_size(), " int64 values for shape ", dims_text(c.dims));
            c.v.assign(t.int64_data().begin(), t.int64_data().end());
        }
    } else {
        fail(path_, ": ", what, " has data type ", t.data_type(), "; flashmc reads float32 (1) and int64 (7) tensors");
    }
    return c;
}

Value Importer::materialize(const Value& v) {
    if (input_used_ && (v.a != input_a_ || v.b != input_b_))
        node_fail("the graph input reaches the network through two different normalizations");
    input_used_ = true;
    input_a_ = v.a;
    input_b_ = v.b;
    Value r;
    r.node = 0;
    r.chw = {3, 32, 32};
    return r;
}

std::string Importer::node_name(const std::string& fallback) {
    std::string s;
    for (char ch : n_->name()) s += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.') ? ch : '_';
    while (!s.empty() && s[0] == '_') s.erase(0, 1);
    if (s.empty() || s.size() > 60) s = fallback;
    std::string name = s;
    for (int k = 2; names_.count(name); ++k) name = s + "_" + std::to_string(k);
    names_.insert(name);
    return name;
}

Value Importer::add_node(std::unique_ptr<Layer> layer, std::vector<Value> ins, int rank) {
    std::vector<int> idx;
    std::vector<std::array<int, 4>> shapes;
    for (const auto& v : ins) {
        idx.push_back(v.node);
        shapes.push_back({1, v.chw[0], v.chw[1], v.chw[2]});
    }
    std::array<int, 4> s;
    try {
        s = layer->out_shape(shapes);
    } catch (const Error& e) {
        node_fail(e.what());
    }
    if (s[1] < 1 || s[2] < 1 || s[3] < 1) node_fail("the output would be empty (" + std::to_string(s[1]) + "x" + std::to_string(s[2]) + "x" + std::to_string(s[3]) + ")");
    if (m_.nodes.size() >= static_cast<std::size_t>(kMaxNodes)) node_fail("more than " + std::to_string(kMaxNodes) + " flashmc nodes");
    std::string lower = n_->op_type();
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    Value v;
    v.node = m_.add(node_name(lower + std::to_string(m_.nodes.size())), std::move(layer), idx);
    v.chw = {s[1], s[2], s[3]};
    v.rank = rank;
    return v;
}

void Importer::conv() {
    const long group = attr_int("group", 1);
    if (group != 1) node_fail("grouped convolution (group = " + std::to_string(group) + ") is not supported: flashmc's conv2d is dense (group = 1)");
    const Value x = value(0);
    if (x.rank != 4) node_fail("input is not an N x C x H x W tensor");
    const Const& w = konst(1, "weight");
    if (w.dims.size() != 4) node_fail("weight has shape " + dims_text(w.dims) + ", expected 4-D (2-D convolution)");
    const int out = static_cast<int>(w.dims[0]), in = static_cast<int>(w.dims[1]), k = static_cast<int>(w.dims[2]);
    if (w.dims[2] != w.dims[3]) node_fail("kernel " + std::to_string(w.dims[2]) + "x" + std::to_string(w.dims[3]) + " is not square (flashmc's conv2d is k x k)");
    if (in != x.chw[0]) node_fail("weight expects " + std::to_string(in) + " input channels, the input has " + std::to_string(x.chw[0]));
    if (k < 1 || k > kMaxKernel || out < 1 || out > kMaxChannels) node_fail("kernel " + std::to_string(k) + " or " + std::to_string(out) + " output channels outside flashmc's limits");
    const auto ks = attr_ints("kernel_shape", {k, k});
    if (ks != std::vector<std::int64_t>{k, k}) node_fail("kernel_shape " + dims_text(ks) + " does not match the weight");
    for (auto d : attr_ints("dilations", {1, 1}))
        if (d != 1) node_fail("dilated convolution (dilations " + dims_text(attr_ints("dilations", {})) + ") is not supported");
    const auto st = attr_ints("strides", {1, 1});
    if (st.size() != 2 || st[0] != st[1] || st[0] < 1 || st[0] > kMaxKernel) node_fail("strides " + dims_text(st) + ": flashmc needs one stride for both axes");
    const int stride = static_cast<int>(st[0]);
    const std::string auto_pad = attr_string("auto_pad", "NOTSET");
    std::vector<std::int64_t> pads = attr_ints("pads", {0, 0, 0, 0});
    if (auto_pad == "VALID") pads = {0, 0, 0, 0};
    else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        pads.clear();
        for (int ax = 0; ax < 2; ++ax) {
            const int size = x.chw[1 + ax], outn = (size + stride - 1) / stride;
            const int total = std::max(0, (outn - 1) * stride + k - size);
            pads.push_back(auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2);
        }
        for (int ax = 0; ax < 2; ++ax) {
            const int size = x.chw[1 + ax], outn = (size + stride - 1) / stride;
            pads.push_back(std::max(0, (outn - 1) * stride + k - size) - pads[static_cast<std::size_t>(ax)]);
        }
    } else if (auto_pad != "NOTSET") node_fail("auto_pad '" + abbreviate(auto_pad) + "' is not an ONNX value");
    if (pads.size() != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3])
        node_fail("padding " + dims_text(pads) + " is not the same on all four sides (flashmc's conv2d pads symmetrically)");
    const int pad = static_cast<int>(pads[0]);
    if (pad < 0 || pad >= k) node_fail("padding " + std::to_string(pad) + " is not below the kernel size " + std::to_string(k));
    const bool has_bias = has_input(2);
    auto c = std::make_unique<Conv2d>(in, out, k, stride, pad, has_bias);
    const auto wv = floats(1, "weight", c->weight.size());
    std::copy(wv.begin(), wv.end(), c->weight.data.begin());
    if (has_bias) {
        const auto bv = floats(2, "bias", static_cast<std::size_t>(out));
        std::copy(bv.begin(), bv.end(), c->bias.data.begin());
    }
    set(add_node(std::move(c), {x}, 4));
}

void Importer::gemm(bool matmul) {
    const Value x = value(0);
    if (x.rank != 2) node_fail("input is " + std::to_string(x.rank) + "-D; flashmc's linear layer takes N x features (Flatten first)");
    const long features = static_cast<long>(x.chw[0]) * x.chw[1] * x.chw[2];
    const Const& w = konst(1, "weight");
    if (w.dims.size() != 2) node_fail("weight has shape " + dims_text(w.dims) + ", expected 2-D");
    if (!matmul && attr_int("transA", 0) != 0) node_fail("transA = 1 (a transposed input) is not supported");
    const bool trans_b = !matmul && attr_int("transB", 0) != 0;
    const double alpha = matmul ? 1.0 : attr_float("alpha", 1.0), beta = matmul ? 1.0 : attr_float("beta", 1.0);
    if (!std::isfinite(alpha) || !std::isfinite(beta)) node_fail("alpha " + std::to_string(alpha) + ", beta " + std::to_string(beta) + ": both must be finite");
    const long in = trans_b ? w.dims[1] : w.dims[0], out = trans_b ? w.dims[0] : w.dims[1];
    if (in != features) node_fail("weight " + dims_text(w.dims) + " expects " + std::to_string(in) + " input features, the input has " + std::to_string(features));
    if (out < 1 || out > kMaxChannels) node_fail(std::to_string(out) + " outputs: outside flashmc's limits");
    const bool has_bias = !matmul && has_input(2) && beta != 0.0;
    auto l = std::make_unique<Linear>(static_cast<int>(in), static_cast<int>(out), has_bias);
    const auto wv = floats(1, "weight", static_cast<std::size_t>(in * out));
    for (long o = 0; o < out; ++o)
        for (long i = 0; i < in; ++i)
            l->weight.data[static_cast<std::size_t>(o * in + i)] = static_cast<float>(alpha * wv[static_cast<std::size_t>(trans_b ? o * in + i : i * out + o)]);
    for (float v : l->weight.data)
        if (!std::isfinite(v)) node_fail("alpha " + std::to_string(alpha) + " times the weight overflows float32");
    if (has_bias) {
        const Const& cb = konst(2, "bias");
        if (cb.numel() != static_cast<std::size_t>(out) && cb.numel() != 1) node_fail("bias has shape " + dims_text(cb.dims) + ", expected " + std::to_string(out) + " values");
        const auto bv = floats(2, "bias", cb.numel());
        for (long o = 0; o < out; ++o) l->bias.data[static_cast<std::size_t>(o)] = static_cast<float>(beta * bv[bv.size() == 1 ? 0 : static_cast<std::size_t>(o)]);
        for (float v : l->bias.data)
            if (!std::isfinite(v)) node_fail("beta " + std::to_string(beta) + " times the bias overflows float32");
    }
    set(add_node(std::move(l), {x}, 2));
}

void Importer::batchnorm() {
    if (attr_int("training_mode", 0) != 0) node_fail("training_mode = 1: export the model in eval mode (model.eval())");
    single_output();
    const Value x = value(0);
    const int ch = x.chw[0];
    if (x.rank == 2 && (x.chw[1] != 1 || x.chw[2] != 1)) node_fail("batch norm over flattened C x H x W features is not supported");
    const double eps = attr_float("epsilon", 1e-5);
    if (!(eps >= 1e-30 && eps <= 1)) node_fail("epsilon " + std::to_string(eps) + " outside 1e-30..1");
    auto bn = std::make_unique<BatchNorm>(ch, 0.1, eps);
    const std::pair<const char*, Tensor*> parts[] = {{"scale", &bn->gamma}, {"bias", &bn->beta}, {"mean", &bn->running_mean}, {"var", &bn->running_var}};
    for (int k = 0; k < 4; ++k) {
        const auto v = floats(k + 1, parts[k].first, static_cast<std::size_t>(ch));
        if (k == 3)
            for (float f : v)
                if (f < 0) node_fail("variance " + std::to_string(f) + " is negative");
        std::copy(v.begin(), v.end(), parts[k].second->data.begin());
    }
    set(add_node(std::move(bn), {x}, x.rank));
}

void Importer::pool(bool max) {
    single_output();
    const Value x = value(0);
    if (x.rank != 4) node_fail("input is not an N x C x H x W tensor");
    const auto ks = attr_ints("kernel_shape", {});
    if (ks.size() != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > kMaxKernel) node_fail("kernel_shape " + dims_text(ks) + ": flashmc pools over a k x k window");
    const int k = static_cast<int>(ks[0]);
    const auto st = attr_ints("strides", {1, 1});
    if (st.size() != 2 || st[0] != st[1] || st[0] < 1 || st[0] > kMaxKernel) node_fail("strides " + dims_text(st) + ": flashmc needs one stride for both axes");
    const int stride = static_cast<int>(st[0]);
    const std::string auto_pad = attr_string("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID") node_fail("auto_pad '" + abbreviate(auto_pad) + "': flashmc's pools have no padding");
    for (auto p : attr_ints("pads", {0, 0, 0, 0}))
        if (p != 0) node_fail("padded pooling (pads " + dims_text(attr_ints("pads", {})) + ") is not supported: flashmc's pools have no padding");
    for (auto d : attr_ints("dilations", {1, 1}))
        if (d != 1) node_fail("dilated pooling is not supported");
    if (attr_int("ceil_mode", 0) != 0)
        for (int ax = 1; ax <= 2; ++ax)
            if ((x.chw[static_cast<std::size_t>(ax)] - k) % stride != 0) node_fail("ceil_mode = 1 adds a partial window here; flashmc's pools drop it (floor)");
    set(add_node(std::make_unique<Pool2d>(max ? Pool2d::Mode::Max : Pool2d::Mode::Average, k, stride), {x}, 4));
}

// Add, Sub, Mul, Div: of two computed tensors (Add only: the residual add), of the graph input and
// a per-channel constant (the normalization), or of a MatMul's output and a bias.
void Importer::elementwise(const std::string& op) {
    if (n_->input_size() != 2) node_fail("expects 2 inputs");
    const bool c0 = is_const(0), c1 = is_const(1);
    if (c0 && c1) node_fail("both operands are constants");
    const int vk = c0 ? 1 : 0;
    if (!has_input(vk) || !values_.count(n_->input(vk))) (void)value(vk);  // names the missing input
    const Value& v = values_.at(n_->input(vk));
    if (!c0 && !c1) {
        if (op != "Add") node_fail(op + " of two computed tensors is not supported (only Add, the residual connection)");
        const Value a = value(0), b = value(1);
        if (a.chw != b.chw || a.rank != b.rank) node_fail("operands have different shapes (broadcasting is not supported)");
        set(add_node(std::make_unique<Add>(), {a, b}, a.rank));
        return;
    }
    const Const& c = konst(c0 ? 0 : 1, "constant operand");
    if (!finite(c)) node_fail("constant operand holds a value that is not finite");
    if (v.affine) {
        // Per channel: a scalar, or shape [3, 1, 1] / [1, 3, 1, 1] (ONNX broadcasting aligns trailing axes).
        const bool scalar = c.numel() == 1;
        const bool per_channel = c.numel() == 3 && (c.dims == std::vector<std::int64_t>{3, 1, 1} || c.dims == std::vector<std::int64_t>{1, 3, 1, 1});
        if (!scalar && !per_channel) node_fail("constant of shape " + dims_text(c.dims) + " on the graph input: flashmc takes a scalar or one value per channel ([3, 1, 1] or [1, 3, 1, 1])");
        if (op == "Sub" && c0) node_fail("constant minus the input is not supported (the input must be the first operand)");
        if (op == "Div" && c0) node_fail("constant divided by the input is not supported");
        Value r = v;
        for (std::size_t ch = 0; ch < 3; ++ch) {
            const double k = c.v[scalar ? 0 : ch];
            if (op == "Add") r.b[ch] += k;
            else if (op == "Sub") r.b[ch] -= k;
            else if (op == "Mul") { r.a[ch] *= k; r.b[ch] *= k; }
            else {
                if (k == 0) node_fail("division by zero");
                r.a[ch] /= k;
                r.b[ch] /= k;
            }
        }
        set(r);
        return;
    }
    // A bias after MatMul: folded into the linear layer when the MatMul's output feeds only this Add.
    auto* fc = v.node >= 0 ? dynamic_cast<Linear*>(m_.nodes[static_cast<std::size_t>(v.node)].layer.get()) : nullptr;
    if (op != "Add" || !fc || v.node != static_cast<int>(m_.nodes.size()) - 1 || uses_[n_->input(vk)] != 1 || fc->has_bias)
        node_fail(op + " with a constant is supported only on the graph input (its normalization) and as the bias right after MatMul");
    if (c.numel() != static_cast<std::size_t>(fc->out_f) && c.numel() != 1)
        node_fail("bias has shape " + dims_text(c.dims) + ", expected " + std::to_string(fc->out_f) + " values");
    auto nf = std::make_unique<Linear>(fc->in_f, fc->out_f, true);
    nf->weight = fc->weight;
    for (int o = 0; o < fc->out_f; ++o) nf->bias.data[static_cast<std::size_t>(o)] = static_cast<float>(c.v[c.numel() == 1 ? 0 : static_cast<std::size_t>(o)]);
    m_.nodes[static_cast<std::size_t>(v.node)].layer = std::move(nf);
    set(v);
}

void Importer::translate() {
    const std::string& op = n_->op_type();
    if (!n_->domain().empty() && n_->domain() != "ai.onnx")
        node_fail("operator of domain '" + abbreviate(n_->domain()) + "' is not supported; flashmc imports " + onnx_supported_ops());
    if (n_->output_size() < 1 || n_->output(0).empty()) node_fail("has no output");
    if (op == "Constant") {
        const onnx::AttributeProto* a = nullptr;
        for (const auto& at : n_->attribute()) a = &at;
        if (n_->attribute_size() != 1) node_fail("expects exactly one attribute");
        Const c;
        if (a->name() == "value" && a->type() == onnx::AttributeProto::TENSOR) c = read_tensor(a->t(), "constant of node '" + abbreviate(n_->name()) + "'");
        else if (a->name() == "value_float") c.v = {a->f()};
        else if (a->name() == "value_floats") { c.v.assign(a->floats().begin(), a->floats().end()); c.dims = {static_cast<std::int64_t>(c.v.size())}; }
        else if (a->name() == "value_int") c.v = {static_cast<double>(a->i())};
        else if (a->name() == "value_ints") { c.v.assign(a->ints().begin(), a->ints().end()); c.dims = {static_cast<std::int64_t>(c.v.size())}; }
        else node_fail("attribute '" + abbreviate(a->name()) + "' is not supported");
        consts_[n_->output(0)] = std::move(c);
    } else if (op == "Conv") conv();
    else if (op == "Gemm") gemm(false);
    else if (op == "MatMul") gemm(true);
    else if (op == "BatchNormalization") batchnorm();
    else if (op == "Relu") {
        const Value x = value(0);
        set(add_node(std::make_unique<Activation>(), {x}, x.rank));
    } else if (op == "Clip") {
        double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
        if (opset_ < 11) {
            lo = attr_float("min", -std::numeric_limits<float>::max());
            hi = attr_float("max", std::numeric_limits<float>::max());
        } else {
            if (has_input(1)) lo = floats(1, "min", 1)[0];
            if (has_input(2)) hi = floats(2, "max", 1)[0];
        }
        if (lo != 0 || hi < std::numeric_limits<float>::max())
            node_fail("Clip(min " + std::to_string(lo) + ", max " + std::to_string(hi) + ") is not supported: flashmc's activation is a ReLU, Clip with min 0 and no max (ReLU6 would differ from it above 6)");
        const Value x = value(0);
        set(add_node(std::make_unique<Activation>(), {x}, x.rank));
    } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") elementwise(op);
    else if (op == "MaxPool" || op == "AveragePool") pool(op == "MaxPool");
    else if (op == "GlobalAveragePool") {
        const Value x = value(0);
        if (x.rank != 4) node_fail("input is not an N x C x H x W tensor");
        set(add_node(std::make_unique<GlobalAvgPool>(), {x}, 4));
    } else if (op == "Flatten") {
        Value x = value(0);
        const long axis = attr_int("axis", 1);
        if (axis != 1 && axis != 1 - x.rank) node_fail("axis " + std::to_string(axis) + ": flashmc flattens to N x features (axis 1) only");
        x.rank = 2;
        set(x);
    } else if (op == "Reshape") {
        Value x = value(0);
        const Const& s = konst(1, "shape");
        for (double v : s.v)
            if (!integral(v)) node_fail("shape " + values_text(s.v) + " holds a value that is not an integer");
        const double features = static_cast<double>(x.chw[0]) * x.chw[1] * x.chw[2];
        const bool ok = s.numel() == 2 && (s.v[1] == -1 || s.v[1] == features) && (s.v[0] == 0 || s.v[0] == 1 || (s.v[0] == -1 && s.v[1] != -1));
        if (!ok) {
            node_fail("reshape to " + values_text(s.v) + ": flashmc supports only flattening to (N, -1)");
        }
        x.rank = 2;
        set(x);
    } else if (op == "Pad") {  // torch 1.13 puts a zero Pad before AveragePool
        const Value x = value(0);
        std::vector<double> pads;
        if (opset_ < 11) {
            for (auto v : attr_ints("pads", {})) pads.push_back(static_cast<double>(v));
        } else {
            pads = konst(1, "pads").v;
        }
        for (double v : pads)
            if (v != 0) node_fail("padding " + values_text(pads) + " is not supported (flashmc pads only inside a convolution); a Pad of zeros is skipped");
        set(x);
    } else if (op == "Identity") {
        set(value(0));
    } else if (op == "Dropout") {
        single_output();
        double p = 0.5;
        if (opset_ < 12) p = attr_float("ratio", 0.5);
        else if (has_input(1)) p = floats(1, "ratio", 1)[0];
        if (has_input(2) && floats(2, "training_mode", 1)[0] != 0) node_fail("training_mode is on: export the model in eval mode");
        if (!(p >= 0 && p <= 0.99)) node_fail("ratio " + std::to_string(p) + " outside 0..0.99");
        const Value x = value(0);
        set(p == 0 ? x : add_node(std::make_unique<Dropout>(static_cast<float>(p)), {x}, x.rank));
    } else {
        node_fail(std::string("operator not supported; flashmc imports ") + onnx_supported_ops());
    }
}

OnnxImport Importer::run() {
    for (const auto& t : g_.initializer()) consts_[t.name()] = read_tensor(t, "initializer '" + abbreviate(t.name()) + "'");
    for (const auto& n : g_.node())
        for (const auto& in : n.input()) ++uses_[in];
    for (const auto& o : g_.output()) ++uses_[o.name()];
    // The graph input: one N x 3 x 32 x 32 float tensor (N fixed or symbolic).
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& in : g_.input())
        if (!consts_.count(in.name())) inputs.push_back(&in);
    if (inputs.size() != 1) fail(path_, ": the graph has ", inputs.size(), " inputs; flashmc imports networks with one image input");
    const auto& in = *inputs[0];
    const auto& tt = in.type().tensor_type();
    if (!in.type().has_tensor_type() || tt.elem_type() != kFloat) fail(path_, ": input '", abbreviate(in.name()), "' is not a float32 tensor");
    std::string shape = "[";
    bool ok = tt.has_shape() && tt.shape().dim_size() == 4;
    for (int d = 0; d < tt.shape().dim_size(); ++d) {
        const auto& dim = tt.shape().dim(d);
        shape += (d ? ", " : "") + (dim.has_dim_value() ? std::to_string(dim.dim_value()) : dim.dim_param().empty() ? std::string("?") : dim.dim_param());
        const long want[] = {0, 3, 32, 32};
        if (d == 0) ok = ok && (!dim.has_dim_value() || dim.dim_value() >= 1);
        else if (d < 4) ok = ok && dim.has_dim_value() && dim.dim_value() == want[d];
    }
    if (!ok) fail(path_, ": input '", abbreviate(in.name()), "' has shape ", shape, "]; flashmc imports CIFAR-10 classifiers, N x 3 x 32 x 32");
    if (g_.output_size() != 1) fail(path_, ": the graph has ", g_.output_size(), " outputs; flashmc imports networks with one output (the logits)");
    // u (the ONNX input) from flashmc's normalized input x: p = x·std_f + mean_f, u = (p/scale − mean)/std.
    Value input;
    input.affine = true;
    for (std::size_t c = 0; c < 3; ++c) {
        input.a[c] = static_cast<double>(kCifarStd[c]) / (norm_.scale * norm_.std[c]);
        input.b[c] = (static_cast<double>(kCifarMean[c]) / norm_.scale - norm_.mean[c]) / norm_.std[c];
    }
    values_[in.name()] = input;
    m_.add("input", std::make_unique<InputQuant>(), {-1});
    for (const auto& n : g_.node()) {
        n_ = &n;
        translate();
    }
    n_ = nullptr;
    const std::string& out_name = g_.output(0).name();
    auto it = values_.find(out_name);
    if (it == values_.end() || it->second.affine)
        fail(path_, ": output '", abbreviate(out_name), "' is not computed by the graph's layers");
    const Value& out = it->second;
    if (out.node != static_cast<int>(m_.nodes.size()) - 1) fail(path_, ": output '", abbreviate(out_name), "' is not the last layer's output");
    if (out.chw != std::array<int, 3>{10, 1, 1})
        fail(path_, ": output '", abbreviate(out_name), "' has ", out.chw[0], "x", out.chw[1], "x", out.chw[2], " values per image; flashmc imports CIFAR-10 classifiers (10 logits)");
    // Every node must feed the logits.
    std::vector<char> live(m_.nodes.size(), 0);
    live.back() = 1;
    for (int i = static_cast<int>(m_.nodes.size()) - 1; i >= 0; --i)
        if (live[static_cast<std::size_t>(i)])
            for (int j : m_.nodes[static_cast<std::size_t>(i)].inputs)
                if (j >= 0) live[static_cast<std::size_t>(j)] = 1;
    for (std::size_t i = 0; i < live.size(); ++i)
        if (!live[i]) fail(path_, ": node '", m_.nodes[i].name, "' does not contribute to the output '", abbreviate(out_name), "'");
    OnnxImport r;
    auto& iq = static_cast<InputQuant&>(*m_.nodes[0].layer);
    bool identity = true;
    for (std::size_t c = 0; c < 3; ++c) {
        if (!(std::abs(input_a_[c]) >= 1e-6 && std::abs(input_a_[c]) <= 1e6 && std::abs(input_b_[c]) <= 1e6))
            fail(path_, ": the input normalization gives channel ", c, " the affine ", input_a_[c], "·x + ", input_b_[c], ", outside |scale| 1e-6..1e6, |shift| <= 1e6");
        r.input_scale[c] = static_cast<float>(input_a_[c]);
        r.input_shift[c] = static_cast<float>(input_b_[c]);
        identity = identity && r.input_scale[c] == 1.0f && std::abs(input_b_[c]) < 1e-9;
    }
    if (!identity) {
        iq.affine_scale.assign(r.input_scale.begin(), r.input_scale.end());
        iq.affine_shift.assign(r.input_shift.begin(), r.input_shift.end());
    } else {
        r.input_scale = {1, 1, 1};
        r.input_shift = {0, 0, 0};
    }
    r.model = std::move(m_);
    r.onnx_nodes = g_.node_size();
    r.opset = opset_;
    return r;
}

}  // namespace

OnnxImport import_onnx(const std::string& path, const InputNormalization& norm) {
    norm.validate();
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path, ": cannot open");
    std::ostringstream bytes;
    bytes << f.rdbuf();
    if (f.bad()) fail(path, ": read error");
    const std::string data = bytes.str();
    onnx::ModelProto mp;
    if (data.empty() || !mp.ParseFromString(data)) fail(path, ": not an ONNX model (the protobuf does not parse: truncated or another kind of file)");
    if (!mp.has_graph() || mp.graph().node_size() == 0 || mp.ir_version() < 1)
        fail(path, ": not an ONNX model (no graph or IR version; ", data.size(), " bytes)");
    long opset = -1;
    for (const auto& o : mp.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    if (opset < kMinOpset || opset > kMaxOpset)
        fail(path, ": ONNX opset ", opset, "; flashmc imports opsets ", kMinOpset, " to ", kMaxOpset, " (torch.onnx.export(..., opset_version=13))");
    Importer imp(path, mp, norm, opset);
    OnnxImport r = imp.run();
    r.producer = mp.producer_name() + (mp.producer_version().empty() ? "" : " " + mp.producer_version());
    r.model.arch = "onnx:" + std::filesystem::path(path).stem().string();
    return r;
}

}  // namespace flashmc::nn
