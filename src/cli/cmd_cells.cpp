// flashmc cells: sample N cells of one level through erase → program → retention → read and
// report the distributions, so a user can check a device card against measured data.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/core/rng.hpp"
#include "flashmc/device/cells.hpp"
#include "flashmc/io/atomic_file.hpp"
#include "flashmc/io/hdf5.hpp"

namespace flashmc::cli {
namespace {

using namespace flashmc::device;

const char* kUsage =
    "flashmc cells --device devices/X.toml --level L [--count N] [--program verify|open-loop|statistical]\n"
    "              [--cycles N] [--age-s T --temp-c C] [--reads N] [--verify-temp-c C] [--read-temp-c C]\n"
    "              [--grid ROWSxCOLS] [--seed S] [--set section.key=value]... [--out cells.csv|cells.h5]\n\n"
    "  --device        device card (TOML)\n"
    "  --level         magnitude level 0 … 2^(B-1)-1 programmed into every cell\n"
    "  --count         number of cells (default 10000)\n"
    "  --program       verify: pulse-level ISPP with verify (default); open-loop: no verify;\n"
    "                  statistical: the closed-form distribution of ISPP-verify\n"
    "  --cycles        P/E cycles before this program (default 0)\n"
    "  --age-s         retention time after programming, seconds (default 0)\n"
    "  --temp-c        retention temperature, °C (default 25); also that of the reads\n"
    "  --reads         inferences served after programming, spread over --age-s (read disturb,\n"
    "                  docs/physics.md §6a; default 0)\n"
    "  --verify-temp-c program-verify temperature, °C (default: the card's iv.reference_temperature_c)\n"
    "  --read-temp-c   read temperature, °C (default: the verify temperature)\n"
    "  --grid          cells per column x columns per tile, for the correlated V_th offsets\n"
    "                  (default 1x1: every cell independent)\n"
    "  --seed          random seed (default 1)\n"
    "  --set           override a card value, e.g. --set variation.sigma_vth_v=0.03 (repeatable)\n"
    "  --out           per-cell results: .csv or .h5 (read_current_a, and read_current_2_a: a second,\n"
    "                  independent read of the same cells, for the read-to-read noise)\n"
    "  --threads       OpenMP threads (results are the same for any count)\n";

struct Summary {
    double mean = 0, sd = 0, p1 = 0, p50 = 0, p99 = 0;
};

Summary summarize(std::vector<double> v) {
    Summary s;
    if (v.empty()) return s;
    const double n = static_cast<double>(v.size());
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = v.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
    std::sort(v.begin(), v.end());
    auto q = [&](double p) { return v[static_cast<std::size_t>(std::round(p * (n - 1)))]; };
    s.p1 = q(0.01), s.p50 = q(0.5), s.p99 = q(0.99);
    return s;
}

template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
    return std::vector<double>(v.begin(), v.end());
}

void print_row(const char* name, const Summary& s, const char* unit, double scale = 1.0) {
    std::printf("  %-22s %11.5g %11.4g %11.5g %11.5g %11.5g  %s\n", name, s.mean * scale, s.sd * scale, s.p1 * scale,
                s.p50 * scale, s.p99 * scale, unit);
}

Grid parse_grid(const std::string& s) {
    Grid g;
    if (s.empty()) return g;
    unsigned long long r = 0, c = 0;
    char x = 0, extra = 0;
    if (std::sscanf(s.c_str(), "%llu%c%llu%c", &r, &x, &c, &extra) != 3 || x != 'x' || r == 0 || c == 0)
        fail("cells: --grid expects ROWSxCOLS with positive integers, got '", s, "'");
    g.rows_per_column = r;
    g.columns_per_tile = c;
    return g;
}

int run(Args& a) {
    const std::string device_path = a.required("device");
    const long level = a.integer("level", -1);
    if (!a.has("level")) fail("cells: missing required option --level");
    const long count = a.integer("count", 10000);
    const std::string mode = a.str("program", "verify");
    const double cycles = a.number("cycles", 0.0);
    const double age_s = a.number("age-s", 0.0);
    const double age_temp_c = a.number("temp-c", 25.0);
    const double reads = a.number("reads", 0.0);
    const std::string verify_temp = a.str("verify-temp-c", "");
    const std::string read_temp = a.str("read-temp-c", "");
    const Grid grid = parse_grid(a.str("grid", ""));
    const long seed = a.integer("seed", 1);
    const auto overrides = a.all("set");
    const std::string out = a.str("out", "");
    a.threads();
    a.finish();

    const Card card = load_card(device_path, overrides);
    if (mode != "verify" && mode != "open-loop" && mode != "statistical")
        fail("cells: --program must be verify, open-loop or statistical, got '", mode, "'");
    if (level < 0 || level > card.levels.max_level())
        fail("cells: --level ", level, " is out of range [0, ", card.levels.max_level(), "] for ", card.levels.weight_bits,
             "-bit weights");
    // About 140 bytes of memory per cell (measured): 1e8 cells take 14 GB.
    if (count < 1 || count > 100000000L) fail("cells: --count ", count, " is out of range [1, 1e8] (about 140 bytes of memory per cell)");
    if (!(cycles >= 0 && cycles <= 1e7)) fail("cells: --cycles ", cycles, " is out of range [0, 1e7]");
    if (!(age_s >= 0)) fail("cells: --age-s must be >= 0, got ", age_s);
    if (!(reads >= 0 && reads <= 1e16)) fail("cells: --reads ", reads, " is out of range [0, 1e16]");
    if (!out.empty() && !out.ends_with(".csv") && !out.ends_with(".h5") && !out.ends_with(".hdf5"))
        fail("cells: --out must end in .csv, .h5 or .hdf5, got '", out, "'");
    const double verify_c = verify_temp.empty() ? card.iv.reference_temperature_c : a.number("verify-temp-c", 0);
    const double read_c = read_temp.empty() ? verify_c : a.number("read-temp-c", 0);
    if (!(verify_c >= -60 && verify_c <= 200)) fail("cells: --verify-temp-c ", verify_c, " is out of range [-60, 200]");
    if (!(read_c >= -60 && read_c <= 200)) fail("cells: --read-temp-c ", read_c, " is out of range [-60, 200]");

    const Streams streams(static_cast<std::uint64_t>(seed));
    const auto n = static_cast<std::size_t>(count);
    const LevelTargets targets = level_targets(card.iv, card.levels, verify_c);
    const std::vector<std::uint8_t> levels(n, static_cast<std::uint8_t>(level));

    CellArray cells = sample_cells(card, n, cycles, streams, grid);
    erase_cells(card, streams, cells);
    const std::vector<float> vth_erased = cells.vth_v;
    if (mode == "verify") program_verify(card, targets, levels, streams, cells);
    if (mode == "open-loop") program_open_loop(card, targets, levels, streams, cells);
    if (mode == "statistical") program_statistical(card, targets, levels, streams, cells);
    const std::vector<float> vth_programmed = cells.vth_v;
    live_cells(card, age_s, age_temp_c, reads, streams, cells);
    // Two independent reads of the same cells: the first is the one reported; their ratio is the
    // read-to-read noise, as repeated reads measure it (its σ over √2 is one read's).
    std::vector<float> current, current2;
    read_currents_a(card, cells, read_conditions(card, read_c), Noise::on, streams, 0, current);
    read_currents_a(card, cells, read_conditions(card, read_c), Noise::on, streams, 1, current2);

    const double i_target = targets.current_a[level];
    std::vector<double> ratio(n), log_ratio, read_to_read;
    long failures = 0;
    for (std::size_t i = 0; i < n; ++i) {
        ratio[i] = current[i] / i_target;
        if (current[i] > 0) log_ratio.push_back(std::log(ratio[i]));
        if (current[i] > 0 && current2[i] > 0) read_to_read.push_back(std::log(current2[i] / current[i]) / std::sqrt(2.0));
        failures += cells.program_failed[i];
    }

    std::printf("flashmc cells: %zu cells of card '%s' (%s), level %ld, program %s, %g P/E cycles\n", n,
                card.name.c_str(), device_path.c_str(), level, mode.c_str(), cycles);
    std::printf("  target: I = %.4g A at V_GS = %g V, V_DS = %g V, %g °C; V_th = %.5g V at %g °C (mean n)\n", i_target,
                card.levels.read_vgs_v, card.levels.read_vds_v, verify_c, targets.vth_v(level, card.iv.slope_n),
                card.iv.reference_temperature_c);
    if (age_s > 0) std::printf("  retention: %g s at %g °C\n", age_s, age_temp_c);
    if (reads > 0) std::printf("  read disturb: %g inferences at %g °C\n", reads, age_temp_c);
    std::printf("  read at %g °C\n", read_c);
    std::printf("  %-22s %11s %11s %11s %11s %11s\n", "quantity", "mean", "sigma", "p1", "p50", "p99");
    print_row("V_th erased", summarize(as_double(vth_erased)), "V");
    print_row("V_th programmed", summarize(as_double(vth_programmed)), "V");
    if (age_s > 0 || reads > 0) print_row("V_th aged", summarize(as_double(cells.vth_v)), "V");
    print_row("I_read / I_target", summarize(ratio), "");
    print_row("ln(I_read / I_target)", summarize(log_ratio), "");
    print_row("read noise ln(I2/I1)/√2", summarize(read_to_read), "");
    if (mode != "open-loop") print_row("pulses", summarize(as_double(cells.pulses)), "");
    std::printf("  program failures: %ld (%.3g %%)\n", failures, 100.0 * failures / static_cast<double>(n));

    if (out.ends_with(".csv")) {
        io::AtomicFile f(out);  // every write checked; `out` is the old or the whole new file
        f.write("cell,level,slope_n,vth_offset_v,beta,vth_erased_v,vth_programmed_v,vth_aged_v,pulses,program_failed,"
                "target_current_a,read_current_a,read_current_2_a\n");
        char line[512];
        for (std::size_t i = 0; i < n; ++i) {
            std::snprintf(line, sizeof line, "%zu,%ld,%.6g,%.6g,%.6g,%.7g,%.7g,%.7g,%d,%d,%.6g,%.6g,%.6g\n", i, level,
                          cells.slope_n[i], cells.vth_offset_v[i], cells.beta[i], vth_erased[i], vth_programmed[i],
                          cells.vth_v[i], int(cells.pulses[i]), int(cells.program_failed[i]), i_target, current[i], current2[i]);
            f.write(line);
        }
        f.commit();
    } else if (!out.empty()) {
        h5::AtomicWrite w(out);
        const h5::Group& root = w.root();
        h5::stamp(root, "flashmc.cells", 1);
        root.set_attr("device", device_path);
        root.set_attr("card_name", card.name);
        root.set_attr("card_text", card.text);
        root.set_attr("level", std::int64_t{level});
        root.set_attr("program", mode);
        root.set_attr("pe_cycles", cycles);
        root.set_attr("age_s", age_s);
        root.set_attr("age_temperature_c", age_temp_c);
        root.set_attr("reads", reads);
        root.set_attr("verify_temperature_c", verify_c);
        root.set_attr("read_temperature_c", read_c);
        root.set_attr("seed", std::int64_t{seed});
        root.set_attr("target_current_a", i_target);
        root.write("slope_n", cells.slope_n);
        root.write("vth_offset_v", cells.vth_offset_v);
        root.write("beta", cells.beta);
        root.write("vth_erased_v", vth_erased);
        root.write("vth_programmed_v", vth_programmed);
        root.write("vth_aged_v", cells.vth_v);
        root.write("pulses", std::vector<std::int32_t>(cells.pulses.begin(), cells.pulses.end()));
        root.write("program_failed", cells.program_failed);
        root.write("read_current_a", current);
        root.write("read_current_2_a", current2);
        w.commit();
    }
    if (!out.empty()) std::printf("  wrote %s\n", out.c_str());
    return 0;
}

const Registration reg({"cells", "sample cells of a device card through erase, program, retention and read", kUsage, run});

}  // namespace
}  // namespace flashmc::cli
