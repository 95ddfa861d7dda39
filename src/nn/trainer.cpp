#include "flashmc/nn/trainer.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <sstream>

#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/core/progress.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/io/atomic_file.hpp"
#include "flashmc/nn/data.hpp"
#include "flashmc/nn/loss.hpp"
#include "flashmc/nn/model_file.hpp"
#include "flashmc/nn/weighted_layer.hpp"
#include "flashmc/nn/zoo.hpp"

namespace flashmc::nn {

double learning_rate(const TrainConfig& c, long step, long total, long per_epoch) {
    const double t = static_cast<double>(step);
    if (c.schedule == "cosine") {
        const double warm = c.warmup_epochs * per_epoch;
        if (t < warm) return c.lr * (t + 1) / warm;
        return 0.5 * c.lr * (1 + std::cos(M_PI * (t - warm) / std::max(1.0, total - warm)));
    }
    if (c.schedule == "onecycle") {
        // Smith & Topin 2019 (as PyTorch's OneCycleLR): cosine rise from lr/25 to lr over the first
        // 25% of the steps, cosine fall to lr/25/1e4 over the rest.
        const double up = 0.25 * total, lo = c.lr / 25.0, end = lo / 1e4;
        if (t < up) return lo + (c.lr - lo) * 0.5 * (1 - std::cos(M_PI * t / up));
        return end + (c.lr - end) * 0.5 * (1 + std::cos(M_PI * (t - up) / std::max(1.0, total - up)));
    }
    fail("unknown learning-rate schedule '", c.schedule, "' (onecycle or cosine)");
}

void sgd_step(const Param& p, Tensor& velocity, double lr, double momentum, double weight_decay) {
    float* w = p.value->ptr();
    const float* g = p.grad->ptr();
    float* v = velocity.ptr();
    const float wd = p.decay ? static_cast<float>(weight_decay) : 0.0f, mu = static_cast<float>(momentum), eta = static_cast<float>(lr);
    for (std::size_t j = 0; j < p.value->size(); ++j) {
        const float gj = g[j] + wd * w[j];
        v[j] = mu * v[j] + gj;
        w[j] = std::max(w[j] - eta * (gj + mu * v[j]), p.min_value);
    }
}

double evaluate(Model& m, const Cifar10& data, int batch) {
    Streams none(0);
    Context ctx;
    std::vector<std::uint32_t> idx(data.size());
    std::iota(idx.begin(), idx.end(), 0u);
    Tensor x;
    std::vector<std::uint8_t> labels;
    long hits = 0;
    for (std::size_t b = 0; b < data.size(); b += static_cast<std::size_t>(batch)) {
        const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(batch), data.size() - b));
        make_batch(data, {idx.data() + b, n, false, 0}, none, x, labels);
        const Tensor& z = m.forward(x, ctx);
        int correct = 0;
        softmax_cross_entropy(z, labels.data(), 0.0f, nullptr, &correct);
        hits += correct;
    }
    return data.size() ? static_cast<double>(hits) / static_cast<double>(data.size()) : 0.0;
}

namespace {

struct State {
    int epoch = 0;      // epoch in progress
    long batch = 0;     // next batch within it
    long step = 0;      // global optimizer steps done
    double loss_sum = 0, seconds = 0;
    long hits = 0, seen = 0;
};

// The settings a resumed run must share with the run that wrote the checkpoint; `tables` is the
// device-aware tables' fingerprint ("" without).
std::string identity(const TrainConfig& c, const std::string& tables) {
    std::ostringstream os;
    // The architecture: --model's from scratch, the --init file's otherwise (--model is ignored then).
    if (c.init_path.empty())
        os << "model=" << c.model;
    else
        os << "init=" << c.init_path;
    os << " quant=" << c.quant;
    for (const auto& [name, bits] : c.layer_bits) os << "," << name << "=" << bits;
    os << " epochs=" << c.epochs
       << " batch=" << c.batch << " lr=" << c.lr << " schedule=" << c.schedule << " wd=" << c.weight_decay
       << " momentum=" << c.momentum << " smoothing=" << c.label_smoothing << " seed=" << c.seed
       << " train_limit=" << c.train_limit;
    if (c.schedule == "cosine") os << " warmup_epochs=" << c.warmup_epochs;  // onecycle has no warm-up setting
    if (!tables.empty()) os << " device_errors=" << tables;
    return os.str();
}

void save_checkpoint(const TrainConfig& c, const std::string& id, const Model& m, const std::map<std::string, Tensor>& velocity, const State& s) {
    h5::AtomicWrite w(c.checkpoint);
    auto& root = w.root();
    h5::stamp(root, "flashmc.checkpoint", 1);
    root.set_attr("identity", id);
    root.set_attr("threads", threads());
    root.set_attr("epoch", s.epoch);
    root.set_attr("batch", static_cast<std::int64_t>(s.batch));
    root.set_attr("step", static_cast<std::int64_t>(s.step));
    root.set_attr("loss_sum", s.loss_sum);
    root.set_attr("hits", static_cast<std::int64_t>(s.hits));
    root.set_attr("seen", static_cast<std::int64_t>(s.seen));
    root.set_attr("seconds", s.seconds);
    m.save(root);
    auto g = root.create("velocity");
    for (const auto& [name, t] : velocity) {
        std::string key = name;
        std::replace(key.begin(), key.end(), '/', ':');
        g.write(key, t.ptr(), {t.size()});
    }
    w.commit();
}

void load_checkpoint(const TrainConfig& c, const std::string& id, Model& m, std::map<std::string, Tensor>& velocity, State& s) {
    auto root = h5::open_read(c.checkpoint);
    if (!root.has_attr("filetype") || root.attr_string("filetype") != "flashmc.checkpoint")
        fail(c.checkpoint, ": not a flashmc checkpoint (filetype attribute missing or different)");
    if (const auto version = root.attr_int("schema_version"); version != 1)
        fail(c.checkpoint, ": checkpoint schema version ", version, " is not supported (this flashmc reads version 1)");
    if (root.attr_string("identity") != id)
        fail(c.checkpoint, ": checkpoint was written with different settings:\n  checkpoint: ",
             abbreviate(root.attr_string("identity"), 1000), "\n  this run:   ", id);
    const auto written_threads = root.attr_int("threads", 0, 1 << 20);
    if (written_threads != threads())
        std::fprintf(stderr, "train: note: checkpoint was written with %d threads, resuming with %d; the result "
                     "is bit-identical to an uninterrupted run only with the same thread count\n",
                     static_cast<int>(written_threads), threads());
    // The position must lie inside this run (the identity fixes epochs and batch size).
    constexpr long kMaxCount = 1L << 50;
    s.epoch = static_cast<int>(root.attr_int("epoch", 0, c.epochs));
    s.batch = root.attr_int("batch", 0, kMaxCount);
    s.step = root.attr_int("step", 0, kMaxCount);
    s.loss_sum = root.attr_double("loss_sum", 0, 1e300);
    s.hits = root.attr_int("hits", 0, kMaxCount);
    s.seen = root.attr_int("seen", s.hits, kMaxCount);
    s.seconds = root.attr_double("seconds", 0, 1e300);
    m = Model::load(root);
    auto g = root.open("velocity");
    for (auto& p : m.params()) {
        std::string key = p.name;
        std::replace(key.begin(), key.end(), '/', ':');
        const auto v = g.read_shaped<float>(key, {static_cast<hsize_t>(p.value->size())});
        Tensor t;
        t.resize(1, static_cast<int>(v.size()));
        std::copy(v.begin(), v.end(), t.data.begin());
        velocity[p.name] = std::move(t);
    }
}

// Keeps the header and the rows of epochs < `epochs_done` (a resumed run rewrites the rest).
// Like every rewrite of the log below, atomic: the log is always the old or the new whole file.
void trim_log(const std::string& path, int epochs_done) {
    std::ifstream in(path);
    if (!in) return;
    std::string line, kept;
    int row = -1;
    while (std::getline(in, line)) {
        if (row < epochs_done) kept += line + "\n";
        ++row;
    }
    in.close();
    io::write_file_atomic(path, kept);
}

// Appends one row: the log is small, so it is rewritten whole rather than appended in place, and
// a full disk cannot leave half a row.
void append_log(const std::string& path, const std::string& row) {
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!text.empty() && text.back() != '\n') text += '\n';
    io::write_file_atomic(path, text + row);
}

// The layers the device-aware tables name, each a quantized conv/FC node of m; every condition
// must table the same layers.
std::vector<std::pair<WeightedLayer*, std::string>> device_aware_layers(const TrainConfig& c, Model& m) {
    std::vector<std::pair<WeightedLayer*, std::string>> out;
    if (!c.device_errors) return out;
    const WeightErrors& e = *c.device_errors;
    if (e.conditions.empty() || e.tables.size() != e.conditions.size()) fail("train: device-aware tables hold no conditions");
    for (const auto& [name, table] : e.tables[0]) {
        WeightedLayer* l = nullptr;
        for (auto& n : m.nodes)
            if (n.name == name) l = dynamic_cast<WeightedLayer*>(n.layer.get());
        if (!l || !l->quant.enabled())
            fail("train: device-aware tables name layer '", name, "', which is not a quantized conv/FC node of the model");
        if (table.qmax != l->quant.qmax())
            fail("train: device-aware table of '", name, "' has codes ±", table.qmax, ", the layer ±", l->quant.qmax());
        out.emplace_back(l, name);
    }
    for (const auto& t : e.tables)
        for (const auto& [l, name] : out)
            if (t.size() != out.size() || !t.count(name)) fail("train: device-aware conditions table different layers");
    return out;
}

}  // namespace

double train(const TrainConfig& c) {
    if (c.out.empty()) fail("train: --out is required");
    if (c.checkpoint.empty()) fail("train: a checkpoint path is required");
    // Temporaries left by a killed run on the same outputs go now, not only at their next write.
    for (const std::string* p : {&c.out, &c.checkpoint, &c.log_csv})
        if (!p->empty()) io::remove_stale_temporaries(*p);
    const std::string dir = c.data_dir.empty() ? default_cifar10_dir() : c.data_dir;
    Cifar10 train_set = read_cifar10_train(dir, c.train_limit);
    Cifar10 test_set = read_cifar10_test(dir, c.test_limit);
    const Streams streams(c.seed);
    const std::string id = identity(c, c.device_errors ? c.device_errors->fingerprint() : "");

    Model m;
    std::map<std::string, Tensor> velocity;
    State s;
    const bool resuming = c.resume && std::filesystem::exists(c.checkpoint);
    if (resuming) {
        load_checkpoint(c, id, m, velocity, s);
        if (!c.quiet) std::fprintf(stderr, "train: resuming from %s at epoch %d, batch %ld (step %ld)\n", c.checkpoint.c_str(), s.epoch + 1, s.batch, s.step);
    } else {
        m = c.init_path.empty() ? build_model(c.model, c.seed)
                                : std::move(load_model_file(c.init_path).float_graph(c.init_path, "train --init"));
        if (c.quant.empty() && !c.layer_bits.empty()) fail("train: --layer-bits needs --quant");
        if (!c.quant.empty()) {
            if (is_quantized(m)) fail("train: ", c.init_path, " is already quantized");
            QuantConfig q = parse_quant(c.quant);
            q.layer_bits = c.layer_bits;
            prepare_qat(m, q, calibration_batch(train_set, 500, c.seed));
            if (!c.quiet) std::fprintf(stderr, "train: quantization %s\n", q.describe().c_str());
        }
    }
    const std::vector<std::pair<WeightedLayer*, std::string>> tabled = device_aware_layers(c, m);
    for (auto& p : m.params())
        if (!velocity.count(p.name)) {
            Tensor t;
            t.resize(1, static_cast<int>(p.value->size()));
            velocity[p.name] = std::move(t);
        }
    if (!c.log_csv.empty()) {
        if (resuming && std::filesystem::exists(c.log_csv)) {
            trim_log(c.log_csv, s.epoch);
        } else {
            io::write_file_atomic(c.log_csv, "epoch,lr,train_loss,train_accuracy,test_accuracy,seconds\n");
        }
    }

    const long per_epoch = static_cast<long>((train_set.size() + c.batch - 1) / c.batch);
    if (s.batch > per_epoch) fail(c.checkpoint, ": checkpoint is at batch ", s.batch, " of an epoch of ", per_epoch, " batches");
    const long total = per_epoch * c.epochs;
    Tensor x, dlogits;
    std::vector<std::uint8_t> labels;
    double test_acc = 0.0;
    for (; s.epoch < c.epochs; ++s.epoch) {
        auto order = epoch_order(train_set.size(), streams, static_cast<std::uint64_t>(s.epoch));
        Progress bar("epoch " + std::to_string(s.epoch + 1) + "/" + std::to_string(c.epochs), per_epoch, 30.0);
        const double start_seconds = s.seconds;
        auto t0 = std::chrono::steady_clock::now();
        double lr = 0;
        for (; s.batch < per_epoch; ++s.batch) {
            const std::size_t b0 = static_cast<std::size_t>(s.batch) * c.batch;
            const int n = static_cast<int>(std::min<std::size_t>(c.batch, train_set.size() - b0));
            make_batch(train_set, {order.data() + b0, n, true, static_cast<std::uint64_t>(s.epoch)}, streams, x, labels);
            Context ctx{true, static_cast<std::uint64_t>(s.step), &streams, 0};
            if (c.device_errors) {
                const auto& tables = c.device_errors->tables[static_cast<std::size_t>(
                    draw_condition(streams, static_cast<std::uint64_t>(s.step), c.device_errors->conditions.size()))];
                for (const auto& [layer, name] : tabled) layer->device_errors = &tables.at(name);
            }
            m.zero_grad();
            const Tensor& z = m.forward(x, ctx);
            int correct = 0;
            const double loss = softmax_cross_entropy(z, labels.data(), static_cast<float>(c.label_smoothing), &dlogits, &correct);
            if (!std::isfinite(loss)) fail("train: loss is ", loss, " at epoch ", s.epoch + 1, " step ", s.step, " (learning rate too high?)");
            m.backward(dlogits, ctx);
            lr = learning_rate(c, s.step, total, per_epoch);
            for (auto& p : m.params()) sgd_step(p, velocity[p.name], lr, c.momentum, c.weight_decay);
            ++s.step;
            s.loss_sum += loss * n;
            s.hits += correct;
            s.seen += n;
            char extra[96];
            std::snprintf(extra, sizeof extra, "loss %.3f acc %.3f lr %.4f", s.loss_sum / s.seen, double(s.hits) / s.seen, lr);
            if (!c.quiet) bar.update(s.batch + 1, extra);
            const bool stop = c.stop_after_steps > 0 && s.step >= c.stop_after_steps;
            if ((c.checkpoint_every_steps > 0 && s.step % c.checkpoint_every_steps == 0) || stop) {
                State snap = s;
                ++snap.batch;
                snap.seconds = start_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                save_checkpoint(c, id, m, velocity, snap);
                if (stop) {
                    if (!c.quiet) std::fprintf(stderr, "train: stopped after step %ld (checkpoint %s)\n", s.step, c.checkpoint.c_str());
                    return -1.0;
                }
            }
        }
        s.seconds = start_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        test_acc = evaluate(m, test_set);
        const double train_loss = s.loss_sum / std::max<long>(1, s.seen), train_acc = double(s.hits) / std::max<long>(1, s.seen);
        if (!c.quiet) {
            char extra[128];
            std::snprintf(extra, sizeof extra, "train loss %.4f acc %.4f test acc %.4f", train_loss, train_acc, test_acc);
            bar.finish(extra);
        }
        if (!c.log_csv.empty()) {
            char row[256];
            std::snprintf(row, sizeof row, "%d,%.6g,%.6f,%.6f,%.6f,%.1f\n", s.epoch + 1, lr, train_loss, train_acc, test_acc, s.seconds);
            append_log(c.log_csv, row);
        }
        s.batch = 0;
        s.loss_sum = 0;
        s.hits = s.seen = 0;
        s.seconds = 0;
        State next = s;
        ++next.epoch;
        save_checkpoint(c, id, m, velocity, next);
    }
    if (s.epoch >= c.epochs && test_acc == 0.0) test_acc = evaluate(m, test_set);

    ModelFile f;
    f.model = std::move(m);
    f.provenance["command"] = c.command_line;
    f.provenance["seed"] = std::to_string(c.seed);
    f.provenance["training"] = id;
    if (c.device_errors) f.provenance["device_aware"] = c.device_aware;
    f.provenance["dataset_sha256_test_batch"] = sha256_file(dir + "/test_batch.bin");
    f.provenance["train_images"] = std::to_string(train_set.size());
    char acc[32];
    std::snprintf(acc, sizeof acc, "%.6f", test_acc);
    f.provenance["test_accuracy_float_graph"] = acc;
    f.provenance["test_images"] = std::to_string(test_set.size());
    save_model_file(c.out, f);
    return test_acc;
}

}  // namespace flashmc::nn
