// Monte Carlo benchmark (issue: MC throughput and per-trial overhead), on ResNet-20 W4A4 shapes:
//   1. digital integer inference, images/s and effective GFLOP/s (2·MACs per image);
//   2. static-error trials as the sweep runs them (one unit = one chip + its images, units spread
//      over the threads): effective GFLOP/s against the measured SGEMM peak (target ≥ 50 %), and
//      the per-trial overhead (sample + erase + program + age every cell, then read the effective
//      weights) against the time to run 1,000 test images on the chip (target ≤ 10 %), stage by stage;
//   3. the array path (issue 16's cases, 256 x 256 tiles, pulse-width inputs, batches of 50 images):
//      fast IR drop at 10 ohm per pitch + 8-bit ADCs with static errors + a fresh noisy read per
//      batch; the same without IR drop; both without read noise (the noise's share); and both with the
//      shot noise of every conversion over a 100 ns read window (array.read_window_s). Each case
//      reports the whole units (chip sampling included) and the inference alone (images over the
//      units' run time: the per-batch noisy reads included, the chip sampling not), and the noisy
//      reads' own share of that run time (begin_batch, timed).
// The network is an untrained ResNet-20 (or --model) quantized after a random calibration batch: its shapes,
// and therefore the costs, are those of the shipped model; accuracy is not measured here.
//   bench_mc [--threads N] [--images N] [--trials N] [--program statistical|verify|open-loop] [--only TEXT]
//            [--model resnet20|resnet18|vgg16|alexnet]   (a zoo network, untrained; default resnet20)
//   (--only: run only the cases whose label contains TEXT, e.g. "array", "no IR", "IR 10 ohm, ADC, noise", "auto")
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bench_util.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/device/card.hpp"
#include "flashmc/mc/chip.hpp"
#include "flashmc/nn/qat.hpp"
#include "flashmc/nn/zoo.hpp"

using namespace flashmc;
using namespace flashmc::bench;

namespace {

struct UnitTimes {
    double chip_s = 0, run_s = 0, weights_s = 0;  // chip_s: sample_chip + the MVM override (weights_s)
    double reads_s = 0;                           // the per-batch noisy reads (begin_batch), within run_s
    mc::ChipStageTimes stages;
};

// One unit as the sweep runs it: sample the chip, build the MVM override, run the images.
UnitTimes run_unit(const nn::QuantModel& q, const std::vector<int>& analog, const device::Card& card,
                   const mc::ChipSettings& chip, const mc::ArraySettings& arr, const std::vector<std::uint8_t>& images,
                   int n_images, long trial, int batch) {
    UnitTimes t;
    auto t0 = Clock::now();
    const mc::Chip c = mc::sample_chip(q, analog, card, chip, arr.analog.mapping, 1, 0, trial, &t.stages);
    const auto t_override = Clock::now();
    std::unique_ptr<mc::TrackedMvm> mvm;
    mc::ArrayMvm* array = nullptr;
    if (arr.is_static()) {
        mvm = std::make_unique<mc::StaticMvm>(q, c, card, chip, false);
    } else {
        auto a = std::make_unique<mc::ArrayMvm>(q, c, card, chip, arr, nullptr, false);
        array = a.get();
        mvm = std::move(a);
    }
    t.chip_s = seconds_since(t0);
    t.weights_s = seconds_since(t_override);
    t0 = Clock::now();
    Tensor logits;
    for (int b = 0; b < n_images; b += batch) {
        const int n = std::min(batch, n_images - b);
        if (array) {
            const auto t_read = Clock::now();
            array->begin_batch(static_cast<std::uint64_t>(b));
            t.reads_s += seconds_since(t_read);
        }
        q.forward(images.data() + static_cast<std::size_t>(b) * 3072, n, logits, nullptr, mvm.get());
    }
    t.run_s = seconds_since(t0);
    return t;
}

// `trials` units over the threads (units in parallel, each single-threaded, as in run_sweep).
void run_units(const char* label, const nn::QuantModel& q, const std::vector<int>& analog, const device::Card& card,
               const mc::ChipSettings& chip, const mc::ArraySettings& arr, const std::vector<std::uint8_t>& images,
               int n_images, int trials, double macs, double peak, int batch = 250) {
    std::vector<UnitTimes> t(static_cast<std::size_t>(trials));
    const auto t0 = Clock::now();
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < trials; ++i) t[static_cast<std::size_t>(i)] = run_unit(q, analog, card, chip, arr, images, n_images, i, batch);
    const double wall = seconds_since(t0);
    UnitTimes m;  // means over the units
    for (const auto& u : t) {
        m.chip_s += u.chip_s / trials, m.run_s += u.run_s / trials, m.weights_s += u.weights_s / trials;
        m.reads_s += u.reads_s / trials;
        m.stages.sample_s += u.stages.sample_s / trials, m.stages.erase_s += u.stages.erase_s / trials;
        m.stages.program_s += u.stages.program_s / trials, m.stages.age_s += u.stages.age_s / trials;
    }
    const double run_1000 = m.run_s * 1000.0 / n_images;  // one unit's time for 1,000 images
    auto pct = [&](double s) { return 100 * s / run_1000; };
    const double gflops = 2.0 * macs * n_images * trials / wall / 1e9;
    std::printf("%-28s %7.2f s/unit  %8.0f img/s  %7.1f GFLOP/s eff  %5.1f%% of peak  chip %6.3f s = %5.1f%% of 1000 images\n",
                label, wall / trials, n_images * trials / wall, gflops, 100 * gflops / peak, m.chip_s, pct(m.chip_s));
    // The inference alone (per-batch read noise included, chip sampling not): images over the units'
    // run time, the units running in parallel on the threads.
    const double run_rate = n_images / m.run_s * std::min(trials, omp_get_max_threads());
    std::printf("%-28s inference alone: %8.0f img/s  %7.1f GFLOP/s eff  %5.1f%% of peak\n", "", run_rate,
                2.0 * macs * run_rate / 1e9, 100 * 2.0 * macs * run_rate / 1e9 / peak);
    if (m.reads_s > 0)
        std::printf("%-28s noisy reads (begin_batch): %.3f s per unit = %.1f%% of its run time\n", "", m.reads_s,
                    100 * m.reads_s / m.run_s);
    std::printf("%-28s chip stages: sample %.3f s (%.1f%%), erase %.3f s (%.1f%%), program %.3f s (%.1f%%), age %.3f s "
                "(%.1f%%), weights/operating points %.3f s (%.1f%%)\n",
                "", m.stages.sample_s, pct(m.stages.sample_s), m.stages.erase_s, pct(m.stages.erase_s), m.stages.program_s,
                pct(m.stages.program_s), m.stages.age_s, pct(m.stages.age_s), m.weights_s, pct(m.weights_s));
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 2, images_n = 1000, trials = 4;
    std::string program = "statistical", only, model = "resnet20";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--images") && i + 1 < argc) images_n = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--trials") && i + 1 < argc) trials = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--program") && i + 1 < argc) program = argv[++i];
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!std::strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    }
    set_threads(threads);
    std::printf("flashmc bench_mc: %d threads, %s w4a4, %d images, %d trials per case\n\n", threads, model.c_str(), images_n, trials);
    const double peak = sgemm_peak_gflops(1.0);

    nn::Model m = nn::build_model(model, 1);
    const double macs = static_cast<double>(m.macs_per_image());
    Tensor calib(32, 3, 32, 32);
    Stream r = Streams(3).at({1});
    for (auto& v : calib.data) v = static_cast<float>(r.normal());
    nn::prepare_qat(m, nn::parse_quant("w4a4"), calib);
    const nn::QuantModel q = nn::export_quantized(m);
    std::vector<std::uint8_t> images(static_cast<std::size_t>(images_n) * 3072);
    for (auto& p : images) p = static_cast<std::uint8_t>(r.below(256));
    const auto analog = mc::analog_nodes(q, {});
    const device::Card card = device::load_card(std::string(FLASHMC_SOURCE_DIR) + "/devices/nor40_cim.toml");

    mc::ChipSettings chip;
    chip.program = program == "verify" ? mc::ProgramMode::verify
                   : program == "open-loop" ? mc::ProgramMode::open_loop : mc::ProgramMode::statistical;
    chip.retention_time_s = 3.15e7;  // one year, so that aging is in the per-trial cost
    auto wanted = [&](const char* label) { return only.empty() || std::strstr(label, only.c_str()) != nullptr; };
    if (only.empty()) {
        // 1. Digital integer inference (all threads on one batch stream).
        Tensor logits;
        const double t_dig = time_it([&] {
            for (int b = 0; b < images_n; b += 250) q.forward(images.data() + static_cast<std::size_t>(b) * 3072, std::min(250, images_n - b), logits);
        }, 2.0);
        std::printf("%-28s %8.0f img/s  %7.1f GFLOP/s eff  %5.1f%% of peak\n\n", "digital integer inference", images_n / t_dig,
                    2 * macs * images_n / t_dig / 1e9, 100 * 2 * macs * images_n / t_dig / 1e9 / peak);
        // 2. Static-error trials.
        mc::ArraySettings ideal;
        run_units(("static, " + program).c_str(), q, analog, card, chip, ideal, images, images_n, trials, macs, peak);
    }
    // 3. The array path: one unit per thread, a tenth of the images each, batches of 50.
    mc::ArraySettings arr;
    arr.analog.ir = array::IrModel::fast;
    arr.analog.wires = {10.0, 10.0};
    arr.analog.adc.bits = 8;
    arr.analog.adc.gain_sigma_rel = 0.01, arr.analog.adc.offset_sigma_lsb = 0.5;
    arr.read_noise = mc::ReadNoise::per_batch;
    const int arr_images = std::max(1, images_n / 10);
    if (wanted("array: IR 10 ohm, ADC, noise"))
        run_units("array: IR 10 ohm, ADC, noise", q, analog, card, chip, arr, images, arr_images, threads, macs, peak, 50);
    // auto: the engine hands the layers a cell source (the exact solver beyond the fast models'
    // range, not reached at 10 ohm): a noisy read must cost the same as linear's.
    mc::ArraySettings automatic = arr;
    automatic.analog.fast.model = array::FastIrModel::automatic;
    if (wanted("array: IR 10 ohm auto, ADC, noise"))
        run_units("array: IR 10 ohm auto, ADC, noise", q, analog, card, chip, automatic, images, arr_images, threads, macs, peak, 50);
    mc::ArraySettings no_ir = arr;
    no_ir.analog.ir = array::IrModel::none;
    no_ir.analog.wires = {};
    if (wanted("array: ADC, noise (no IR)"))
        run_units("array: ADC, noise (no IR)", q, analog, card, chip, no_ir, images, arr_images, threads, macs, peak, 50);
    mc::ArraySettings quiet = arr;
    quiet.read_noise = mc::ReadNoise::off;
    if (wanted("array: IR 10 ohm, ADC (no noise)"))
        run_units("array: IR 10 ohm, ADC (no noise)", q, analog, card, chip, quiet, images, arr_images, threads, macs, peak, 50);
    mc::ArraySettings quiet_no_ir = no_ir;
    quiet_no_ir.read_noise = mc::ReadNoise::off;
    if (wanted("array: ADC (no IR, no noise)"))
        run_units("array: ADC (no IR, no noise)", q, analog, card, chip, quiet_no_ir, images, arr_images, threads, macs, peak, 50);
    // Conversion (shot) noise: a second GEMM for the bit lines' sums and one normal per conversion.
    for (const auto& [label, base] : {std::pair{"array: IR 10 ohm, ADC, noise, shot 100 ns", arr}, std::pair{"array: ADC, noise, shot 100 ns (no IR)", no_ir}}) {
        mc::ArraySettings shot = base;
        shot.analog.read_window_s = 1e-7;
        if (wanted(label)) run_units(label, q, analog, card, chip, shot, images, arr_images, threads, macs, peak, 50);
    }
    return 0;
}
