#include "flashmc/array/analog_layer.hpp"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "flashmc/core/error.hpp"
#include "flashmc/array/ir_exact.hpp"
#include "flashmc/device/read_noise.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::array {

void AnalogParams::validate() const {
    mapping.validate();
    check_range("input_bits", input_bits, Range{1, 12});
    wires.validate();
    adc.validate();
    check_range("read_window_s", read_window_s, Range{0, 1});
    if (ir == IrModel::fast && fast.model != FastIrModel::automatic && wires.r_bl_ohm > kMaxBitlineToSourceRatio * wires.r_sl_ohm)
        fail("r_bl_ohm = ", wires.r_bl_ohm, " with r_sl_ohm = ", wires.r_sl_ohm, ": the fast IR-drop models are validated for r_bl_ohm <= ",
             kMaxBitlineToSourceRatio, " x r_sl_ohm (with bit-line-dominated wiring a subthreshold cell's drain dependence "
             "makes them err by more than the drop, docs/array.md §8); use ir_model = \"auto\" (the exact solver for such "
             "wiring) or \"exact\"");
}

namespace {
// ΔI of ADC a from the bit-line currents of one vector, bit line j at bl[j·stride].
inline float difference(const float* bl, const TilePlacement& p, WeightMapping m, int a, std::ptrdiff_t stride = 1) {
    return m == WeightMapping::differential ? bl[2 * a * stride] - bl[(2 * a + 1) * stride]
                                            : bl[a * stride] - bl[(p.cols - 1) * stride];
}
// Column c of tile_sums from the bit-line currents of one vector (or row), bit line j at bl[j·stride].
template <class T>
inline float column_sum(const T* bl, const TilePlacement& p, WeightMapping m, int c, std::ptrdiff_t stride = 1) {
    if (m == WeightMapping::differential) return static_cast<float>(bl[2 * c * stride] + bl[(2 * c + 1) * stride]);
    return static_cast<float>(c < p.outputs ? bl[c * stride] : bl[(p.cols - 1) * stride]);
}
// Input vectors are processed in chunks of this many, so that a chunk's inputs, bit-line currents
// and ADC inputs stay in cache whatever the batch size (docs/array.md §9).
constexpr int kVectorChunk = 256;
struct Scratch {
    std::vector<float> x, y, bl, delta, sums, ref, z;
    std::vector<double> bl_exact;
};
Scratch& scratch() {
    thread_local Scratch s;
    return s;
}
}  // namespace

AnalogLayer::AnalogLayer(LayerMapping mapping, std::vector<TileOperatingPoint> ops, double unit_current_a,
                         const AnalogParams& params, const Streams& adc_streams, double shot_noise_factor)
    : mapping_(std::move(mapping)), unit_current_a_(unit_current_a), shot_noise_factor_(shot_noise_factor), params_(params) {
    params_.validate();
    check_range("read_noise.shot_noise_factor", shot_noise_factor_, Range{0, 4});
    if (!(unit_current_a_ > 0)) fail("AnalogLayer: unit current must be positive, got ", unit_current_a_);
    if (ops.size() != mapping_.tiles.size())
        fail("AnalogLayer: ", ops.size(), " tile operating points for ", mapping_.tiles.size(), " tiles");
    for (std::size_t t = 0; t < ops.size(); ++t) {
        const TilePlacement& p = mapping_.tiles[t];
        if (ops[t].rows != p.rows || ops[t].cols != p.cols)
            fail("AnalogLayer: tile ", t, " has ", ops[t].rows, " x ", ops[t].cols, " cells, the mapping places ", p.rows,
                 " x ", p.cols);
        adc_.push_back(sample_adc_errors(params_.adc, p.outputs, adc_streams, t));
    }
    set_operating_points(std::move(ops));
    // Full scale from the largest |Σ_i x_i ΔI_i| over x ∈ [0, 1]^rows: max(Σ ΔI⁺, Σ ΔI⁻).
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        const TilePlacement& p = mapping_.tiles[t];
        double fs = 0;
        for (int a = 0; a < p.outputs; ++a) {
            double pos = 0, neg = 0;
            for (int r = 0; r < p.rows; ++r) {
                const double d = diff_[t][static_cast<std::size_t>(r) * p.outputs + a];
                (d > 0 ? pos : neg) += std::abs(d);
            }
            fs = std::max({fs, pos, neg});
        }
        full_scale_a_.push_back(fs > 0 ? fs : unit_current_a_);
    }
}

void AnalogLayer::set_operating_points(std::vector<TileOperatingPoint> ops) {
    if (ops.size() != mapping_.tiles.size()) fail("AnalogLayer: ", ops.size(), " tile operating points for ", mapping_.tiles.size(), " tiles");
    for (std::size_t t = 0; t < ops.size(); ++t)
        if (ops[t].rows != mapping_.tiles[t].rows || ops[t].cols != mapping_.tiles[t].cols)
            fail("AnalogLayer: tile ", t, " operating point is ", ops[t].rows, " x ", ops[t].cols, ", expected ",
                 mapping_.tiles[t].rows, " x ", mapping_.tiles[t].cols);
    ops_ = std::move(ops);
    // Without IR drop each ADC reads a linear function of the inputs: ΔI = Σ_i x_i ΔI_i, one GEMM
    // on the difference currents [row][adc].
    diff_.resize(ops_.size());
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        const TilePlacement& p = mapping_.tiles[t];
        diff_[t].resize(static_cast<std::size_t>(p.rows) * p.outputs);
        for (int r = 0; r < p.rows; ++r)
            for (int a = 0; a < p.outputs; ++a)
                diff_[t][static_cast<std::size_t>(r) * p.outputs + a] =
                    difference(ops_[t].current_a.data() + ops_[t].index(r, 0), p, params_.mapping.mapping, a);
    }
    sum_.assign(ops_.size(), {});
    if (!conversion_noise()) return;
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        const TilePlacement& p = mapping_.tiles[t];
        const int sc = sum_columns(static_cast<int>(t));
        sum_[t].resize(static_cast<std::size_t>(p.rows) * sc);
        for (int r = 0; r < p.rows; ++r)
            for (int c = 0; c < sc; ++c)
                sum_[t][static_cast<std::size_t>(r) * sc + c] =
                    column_sum(ops_[t].current_a.data() + ops_[t].index(r, 0), p, params_.mapping.mapping, c);
    }
}

int AnalogLayer::sum_columns(int t) const {
    return mapping_.tiles[t].outputs + (params_.mapping.mapping == WeightMapping::differential ? 0 : 1);
}

void AnalogLayer::add_conversion_noise(int t, int plane, std::uint64_t image_hash, std::uint64_t first_position, int n,
                                       const float* sums, std::ptrdiff_t sv, std::ptrdiff_t sc, float* delta, std::ptrdiff_t dv,
                                       std::ptrdiff_t da) const {
    const int outputs = mapping_.tiles[t].outputs, columns = sum_columns(t);
    const std::uint64_t h = hash_key(hash_key(image_hash, static_cast<std::uint64_t>(t)), static_cast<std::uint64_t>(plane));
    const std::uint64_t pairs = static_cast<std::uint64_t>((columns + 1) / 2);
    // σ(s)·z = sqrt(F·q·s/T)·z: the factor sqrt(F·q/T) once, the square root per conversion.
    const float k = static_cast<float>(device::shot_noise_sigma_a(shot_noise_factor_, 1.0, params_.read_window_s));
    Scratch& sc_ = scratch();
    sc_.z.resize(2 * static_cast<std::size_t>(n));
    float* z0 = sc_.z.data();
    float* z1 = z0 + n;
    // The normal pair of slot (first_position + v)·pairs + slot for every v: a plain loop, so that it
    // vectorizes; the strided reads and writes come after.
    auto normals = [&](std::uint64_t slot) {
#pragma omp simd
        for (int v = 0; v < n; ++v) {
            const NormalPair z = draw_normal_pair(h, (first_position + static_cast<std::uint64_t>(v)) * pairs + slot);
            z0[v] = static_cast<float>(z.first), z1[v] = static_cast<float>(z.second);
        }
    };
    auto sigma = [&](float s) { return k * std::sqrt(s > 0.0f ? s : 0.0f); };
    const bool offset = params_.mapping.mapping != WeightMapping::differential;
    std::vector<float>& ref = sc_.ref;
    ref.assign(static_cast<std::size_t>(n), 0.0f);
    if (offset) {  // the reference column: normal `outputs` of each position, shared by the tile's ADCs
        const auto c = static_cast<std::uint64_t>(outputs);
        normals(c / 2);
        const float* z = c % 2 ? z1 : z0;
        const float* s = sums + outputs * sc;
        for (int v = 0; v < n; ++v) ref[v] = sigma(s[v * sv]) * z[v];
    }
    for (int a = 0; a < outputs; a += 2) {
        normals(static_cast<std::uint64_t>(a / 2));
        for (int j = 0; j < 2 && a + j < outputs; ++j) {
            const float* s = sums + (a + j) * sc;
            const float* z = j ? z1 : z0;
            float* d = delta + (a + j) * da;
            for (int v = 0; v < n; ++v) d[v * dv] += sigma(s[v * sv]) * z[v] - ref[v];
        }
    }
}

void AnalogLayer::set_cells(const device::IvParams& iv, const device::ReadConditions& read, CellSource source) {
    if (!source) fail("AnalogLayer: set_cells needs a cell source");
    iv_ = iv, read_ = read, cell_source_ = std::move(source);
    cells_.clear();
    for (std::size_t t = 0; t < mapping_.tiles.size(); ++t) cells_.push_back(std::make_unique<LazyCells>());
}

void AnalogLayer::set_cells(const device::IvParams& iv, const device::ReadConditions& read, std::vector<TileCells> cells) {
    if (cells.size() != mapping_.tiles.size()) fail("AnalogLayer: cells for ", cells.size(), " tiles, the mapping has ", mapping_.tiles.size());
    for (std::size_t t = 0; t < cells.size(); ++t) check_cells(static_cast<int>(t), cells[t]);
    auto all = std::make_shared<std::vector<TileCells>>(std::move(cells));
    set_cells(iv, read, [all](int t) { return std::move((*all)[static_cast<std::size_t>(t)]); });  // each tile taken once
}

void AnalogLayer::check_cells(int t, const TileCells& c) const {
    c.validate();
    const TilePlacement& p = mapping_.tiles[static_cast<std::size_t>(t)];
    if (c.rows != p.rows || c.cols != p.cols)
        fail("AnalogLayer: tile ", t, " cells are ", c.rows, " x ", c.cols, ", expected ", p.rows, " x ", p.cols);
}

int AnalogLayer::cells_built() const {
    int n = 0;
    for (const auto& c : cells_) n += c->built.load(std::memory_order_acquire) ? 1 : 0;
    return n;
}

const TileCells& AnalogLayer::tile_cells(int t) const {
    LazyCells& slot = *cells_[static_cast<std::size_t>(t)];
    std::call_once(slot.once, [&] {
        TileCells c = cell_source_(t);
        check_cells(t, c);
        slot.cells = std::move(c);
        slot.built.store(true, std::memory_order_release);
    });
    return slot.cells;
}

void AnalogLayer::chunk_differences(int t, const float* codes, int n, int plane, float* delta, float* sums) const {
    const TilePlacement& p = mapping_.tiles[t];
    const TileOperatingPoint& op = ops_[t];
    const int top = (1 << params_.input_bits) - 1;
    const bool pulse = params_.encoding == InputEncoding::pulse_width;
    Scratch& s = scratch();
    s.x.resize(static_cast<std::size_t>(n) * p.rows);
    const float inv_top = 1.0f / static_cast<float>(top);
    for (int v = 0; v < n; ++v) {
        const float* c = codes + static_cast<std::size_t>(v) * mapping_.inputs + p.row_begin;
        float* x = s.x.data() + static_cast<std::size_t>(v) * p.rows;
        if (pulse) {
#pragma omp simd
            for (int r = 0; r < p.rows; ++r) x[r] = c[r] * inv_top;
        } else {
#pragma omp simd
            for (int r = 0; r < p.rows; ++r) x[r] = static_cast<float>((static_cast<int>(c[r]) >> plane) & 1);
        }
    }
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<RowMajor> d(delta, n, p.outputs);
    if (params_.ir == IrModel::none) {
        Eigen::Map<const RowMajor> xs(s.x.data(), n, p.rows), g(diff_[t].data(), p.rows, p.outputs);
        d.noalias() = xs * g;
        if (sums) {
            const int sc = sum_columns(t);
            Eigen::Map<const RowMajor> gs(sum_[t].data(), p.rows, sc);
            Eigen::Map<RowMajor>(sums, n, sc).noalias() = xs * gs;
        }
        return;
    }
    // The exact solver on this chunk: for ir = exact, and for auto beyond the fast models' range.
    const auto solve_exact = [&] {
        if (cells_.empty()) fail("AnalogLayer: the exact solver needs the tiles' cells (set_cells)");
        s.bl_exact.resize(static_cast<std::size_t>(n) * p.cols);
        solve_tile_exact_batch(iv_, tile_cells(t), s.x.data(), n, read_, params_.wires, {}, s.bl_exact.data());
        for (int v = 0; v < n; ++v)
            for (int a = 0; a < p.outputs; ++a) {
                const double* bl = s.bl_exact.data() + static_cast<std::size_t>(v) * p.cols;
                d(v, a) = static_cast<float>(params_.mapping.mapping == WeightMapping::differential ? bl[2 * a] - bl[2 * a + 1]
                                                                                                     : bl[a] - bl[p.cols - 1]);
            }
        if (sums) {
            const int sc = sum_columns(t);
            for (int v = 0; v < n; ++v) {
                const double* bl = s.bl_exact.data() + static_cast<std::size_t>(v) * p.cols;
                for (int c = 0; c < sc; ++c) sums[static_cast<std::size_t>(v) * sc + c] = column_sum(bl, p, params_.mapping.mapping, c);
            }
        }
    };
    // auto on bit-line-dominated wiring, outside every fast model's validated wiring: exactly.
    const bool bitline_dominated = params_.wires.r_bl_ohm > kMaxBitlineToSourceRatio * params_.wires.r_sl_ohm;
    if (params_.ir == IrModel::exact || (params_.fast.model == FastIrModel::automatic && bitline_dominated)) {
        solve_exact();
        return;
    }
    const float* rho = nullptr;
    if (pulse) {
        s.y.resize(s.x.size());
        for (int v = 0; v < n; ++v)
            pulse_drop_factors_codes(codes + static_cast<std::size_t>(v) * mapping_.inputs + p.row_begin, p.rows, top,
                                     s.y.data() + static_cast<std::size_t>(v) * p.rows);
        rho = s.y.data();
    }
    s.bl.resize(static_cast<std::size_t>(n) * p.cols);
    // The linear pass first, for every model: its drop is the first-order check (and auto's switch);
    // then the asked model (auto: feedback where some bit line drops by more than 2 %).
    const FastIrModel asked = params_.fast.model;
    float first_order = 0.0f, drop = 0.0f;
    fast_ir_mvm(op, s.x.data(), rho, n, s.bl.data(), {FastIrModel::linear}, &first_order);
    drop = first_order;
    const FastIrModel run = asked == FastIrModel::automatic ? (first_order > kAutoLinearMaxDrop ? FastIrModel::feedback : FastIrModel::linear)
                                                            : asked;
    if (run != FastIrModel::linear && first_order <= kMaxFirstOrderDrop)
        fast_ir_mvm(op, s.x.data(), rho, n, s.bl.data(), {run}, &drop);
    const double limit = fast_model_max_drop(asked);
    if ((drop > limit || first_order > kMaxFirstOrderDrop) && asked == FastIrModel::automatic && !cells_.empty()) {
        solve_exact();  // auto: beyond every fast model's range, this chunk exactly
        return;
    }
    if (drop > limit || first_order > kMaxFirstOrderDrop)
        fail("tile ", t, " (", p.rows, " x ", p.cols, " cells, inputs ", p.row_begin, "-", p.row_begin + p.rows - 1,
             "): a bit line loses ", 100.0 * drop, " % of its current to IR drop (", 100.0 * first_order, " % to first order), outside the ",
             100 * limit, " % (first order ", 100 * kMaxFirstOrderDrop, " %)",
             " range of the '", to_string(asked), "' fast model, where its error would exceed 1 %; use smaller tiles "
             "(array.tile_rows) or lower wire resistance (array.r_bl_ohm, array.r_sl_ohm)",
             asked != FastIrModel::automatic ? ", array.ir_model = \"auto\" (feedback to 10 %, the exact solver beyond)" : "",
             ", or array.ir_model = \"exact\" (the Newton solver, slow)");
    for (int v = 0; v < n; ++v)
        for (int a = 0; a < p.outputs; ++a)
            d(v, a) = difference(s.bl.data() + static_cast<std::size_t>(v) * p.cols, p, params_.mapping.mapping, a);
    if (sums) {
        const int sc = sum_columns(t);
        for (int v = 0; v < n; ++v)
            for (int c = 0; c < sc; ++c)
                sums[static_cast<std::size_t>(v) * sc + c] =
                    column_sum(s.bl.data() + static_cast<std::size_t>(v) * p.cols, p, params_.mapping.mapping, c);
    }
}

bool AnalogLayer::lanes_linear() const {
    if (params_.ir != IrModel::fast) return false;
    if (params_.fast.model == FastIrModel::linear) return true;
    return params_.fast.model == FastIrModel::automatic &&
           !(params_.wires.r_bl_ohm > kMaxBitlineToSourceRatio * params_.wires.r_sl_ohm);
}

bool AnalogLayer::linear_lanes_stand(float drop) const {
    if (params_.fast.model == FastIrModel::automatic) return drop <= kAutoLinearMaxDrop;
    return drop <= fast_model_max_drop(params_.fast.model) && drop <= kMaxFirstOrderDrop;
}

float AnalogLayer::linear_lanes(int t, const float* values, const std::ptrdiff_t* off, int n, float* delta, float* sums,
                               std::size_t ld) const {
    const TilePlacement& p = mapping_.tiles[t];
    thread_local std::vector<float> xs, ys, bl;
    xs.resize(static_cast<std::size_t>(p.rows) * kLanes), ys.resize(xs.size()), bl.resize(static_cast<std::size_t>(p.cols) * kLanes);
    const bool pulse = params_.encoding == InputEncoding::pulse_width;
    // x as the per-vector path forms it (code / (2^B − 1), or the bit), y = x·ρ (bit-serial: ρ = 1).
    const float inv_top = 1.0f / static_cast<float>((1 << params_.input_bits) - 1);
    if (pulse) pulse_drop_factors_lanes(values, off, p.rows, (1 << params_.input_bits) - 1, ys.data());
    for (int i = 0; i < p.rows; ++i) {
        const float* v = values + off[i];
        float* x = xs.data() + static_cast<std::size_t>(i) * kLanes;
        float* y = ys.data() + static_cast<std::size_t>(i) * kLanes;
        if (pulse) {
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) x[j] = v[j] * inv_top, y[j] = x[j] * y[j];
        } else {
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) x[j] = v[j], y[j] = v[j];
        }
    }
    const float drop = fast_linear_lanes(ops_[t], xs.data(), ys.data(), n, bl.data(), kLanes);
    // Bit line c of vector j at bl[c·kLanes + j].
    const WeightMapping m = params_.mapping.mapping;
    for (int a = 0; a < p.outputs; ++a)
        for (int j = 0; j < n; ++j) delta[static_cast<std::size_t>(a) * ld + j] = difference(bl.data() + j, p, m, a, kLanes);
    if (sums)
        for (int c = 0; c < sum_columns(t); ++c)
            for (int j = 0; j < n; ++j) sums[static_cast<std::size_t>(c) * ld + j] = column_sum(bl.data() + j, p, m, c, kLanes);
    return drop;
}

void AnalogLayer::check_codes(const float* codes, std::size_t count) const {
    const float top = static_cast<float>((1 << params_.input_bits) - 1);
    // Branch-free, so that it vectorizes (NaN fails every comparison and is flagged).
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (std::size_t i = 0; i < count; ++i) {
        const float c = codes[i];
        bad |= static_cast<int>(!(c >= 0.0f)) | static_cast<int>(!(c <= top)) | static_cast<int>(std::floor(c) != c);
    }
    if (!bad) return;
    for (std::size_t i = 0; i < count; ++i)
        if (!(codes[i] >= 0.0f && codes[i] <= top && codes[i] == std::nearbyint(codes[i])))
            fail("AnalogLayer: input code ", codes[i], " (value ", i, ") is not an integer in [0, ", top, "]");
}

void AnalogLayer::tile_difference_currents(int t, const float* codes, int n, int plane, std::vector<float>& delta) const {
    check_codes(codes, static_cast<std::size_t>(n) * mapping_.inputs);
    const int outputs = mapping_.tiles[t].outputs;
    delta.resize(static_cast<std::size_t>(n) * outputs);
    for (int v0 = 0; v0 < n; v0 += kVectorChunk)
        chunk_differences(t, codes + static_cast<std::size_t>(v0) * mapping_.inputs, std::min(kVectorChunk, n - v0), plane,
                          delta.data() + static_cast<std::size_t>(v0) * outputs);
}

void AnalogLayer::calibrate(const float* codes, int n) {
    const int planes = params_.encoding == InputEncoding::pulse_width ? 1 : params_.input_bits;
    std::vector<float> delta;
    for (std::size_t t = 0; t < ops_.size(); ++t) {
        double worst = 0;
        for (int b = 0; b < planes; ++b) {
            tile_difference_currents(static_cast<int>(t), codes, n, b, delta);
            for (float d : delta) worst = std::max(worst, static_cast<double>(std::abs(d)));
        }
        if (worst > 0) full_scale_a_[t] = params_.adc.calibration_margin * worst;
    }
}

float AnalogLayer::input_scale() const {
    return params_.encoding == InputEncoding::pulse_width ? 1.0f / static_cast<float>((1 << params_.input_bits) - 1) : 1.0f;
}

void AnalogLayer::convert(int t, int plane, const float* delta, int n, std::ptrdiff_t dv, std::ptrdiff_t da, float* out,
                          std::ptrdiff_t ov, std::ptrdiff_t oa, double sign, AdcStats& stats) const {
    const TilePlacement& p = mapping_.tiles[t];
    const AdcErrors& e = adc_[t];
    const int bits = params_.adc.bits;
    const double lsb = bits == 0 ? full_scale_a_[t] : full_scale_a_[t] / double((1L << (bits - 1)) - 1);
    // Digital side: code·LSB in weight units, times the activation scale of this conversion.
    const double scale = sign * lsb / unit_current_a_ *
                         (params_.encoding == InputEncoding::pulse_width ? double((1 << params_.input_bits) - 1) : double(1 << plane));
    long clipped = 0;
    for (int a = 0; a < p.outputs; ++a) {
        const float* d = delta + a * da;
        float* o = out + (p.out_begin + a) * oa;
        const double gain = e.gain[a], offset = e.offset_lsb[a], sense = e.sense_offset_a[a];
        if (dv == 1 && ov == 1 && bits > 0) {
            // adc_convert's arithmetic, branch-free so that it vectorizes (the common, contiguous case).
            const double top = static_cast<double>((1L << (bits - 1)) - 1);
            long c = 0;
            for (int v = 0; v < n; ++v) {
                const double code = std::nearbyint(((1.0 + gain) * d[v] + sense) / lsb + offset);
                c += std::abs(code) > top;
                o[v] += static_cast<float>(std::min(std::max(code, -top), top) * scale);
            }
            clipped += c;
            continue;
        }
        for (int v = 0; v < n; ++v) {
            bool c = false;
            o[v * ov] += static_cast<float>(adc_convert(d[v * dv], lsb, bits, gain, offset, sense, c) * scale);
            clipped += c;
        }
    }
    stats.conversions += static_cast<long>(n) * p.outputs;
    stats.clipped += clipped;
}

void AnalogLayer::forward(const float* codes, int n, float* out, AdcStats* stats, const ConversionKey* key) const {
    check_codes(codes, static_cast<std::size_t>(n) * mapping_.inputs);
    if (conversion_noise() && (!key || key->per_image < 1))
        fail("AnalogLayer::forward: array.read_window_s > 0 draws noise per conversion, which needs the conversions' key");
    std::fill(out, out + static_cast<std::size_t>(n) * mapping_.outputs, 0.0f);
    const int planes = params_.encoding == InputEncoding::pulse_width ? 1 : params_.input_bits;
    AdcStats st;
    for (int v0 = 0; v0 < n; v0 += kVectorChunk) {
        const int m = std::min(kVectorChunk, n - v0);
        const float* chunk_codes = codes + static_cast<std::size_t>(v0) * mapping_.inputs;
        float* chunk_out = out + static_cast<std::size_t>(v0) * mapping_.outputs;
        for (std::size_t t = 0; t < ops_.size(); ++t) {
            const int outputs = mapping_.tiles[t].outputs;
            std::vector<float>& delta = scratch().delta;
            delta.resize(static_cast<std::size_t>(m) * outputs);
            const int sc = sum_columns(static_cast<int>(t));
            std::vector<float>& sums = scratch().sums;
            if (conversion_noise()) sums.resize(static_cast<std::size_t>(m) * sc);
            for (int b = 0; b < planes; ++b) {
                chunk_differences(static_cast<int>(t), chunk_codes, m, b, delta.data(), conversion_noise() ? sums.data() : nullptr);
                // The conversion noise, image by image of the chunk.
                for (int v = 0; conversion_noise() && v < m;) {
                    const std::uint64_t g = key->first_vector + static_cast<std::uint64_t>(v0 + v);
                    const auto per = static_cast<std::uint64_t>(key->per_image);
                    const std::uint64_t image = g / per, position = g % per;
                    const int count = static_cast<int>(std::min<std::uint64_t>(per - position, static_cast<std::uint64_t>(m - v)));
                    add_conversion_noise(static_cast<int>(t), b, hash_key(key->hash, image), position, count,
                                         sums.data() + static_cast<std::size_t>(v) * sc, sc, 1,
                                         delta.data() + static_cast<std::size_t>(v) * outputs, outputs, 1);
                    v += count;
                }
                convert(static_cast<int>(t), b, delta.data(), m, outputs, 1, chunk_out, mapping_.outputs, 1, 1.0, st);
            }
        }
    }
    if (stats) *stats += st;
}

}  // namespace flashmc::array
