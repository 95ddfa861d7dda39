#include "flashmc/array/tile_file.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "flashmc/core/error.hpp"
#include "flashmc/io/toml.hpp"

namespace flashmc::array {

std::vector<double> read_csv_matrix(const std::string& path, int rows, int cols) {
    std::ifstream f(path);
    if (!f) fail(path, ": cannot open file");
    if (rows < 1 || cols < 1 || static_cast<long>(rows) * cols > kMaxTileCells)
        fail(path, ": ", rows, " x ", cols, " values exceed the limit of ", kMaxTileCells);
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(rows) * cols);
    std::string line;
    int lineno = 0, got_rows = 0;
    while (std::getline(f, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        ++got_rows;
        if (got_rows > rows) fail(path, ": line ", lineno, ": more than the expected ", rows, " rows of ", cols, " values");
        int got = 0;
        std::size_t pos = 0;
        while (true) {
            const std::size_t comma = line.find(',', pos);
            const std::string field = line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            const char* s = field.c_str();
            char* end = nullptr;
            errno = 0;
            const double v = std::strtod(s, &end);
            while (end && (*end == ' ' || *end == '\t')) ++end;
            if (end == s || *end != '\0' || errno == ERANGE || !std::isfinite(v))
                fail(path, ": line ", lineno, ", value ", got + 1, ": '", abbreviate(field), "' is not a number");
            if (got < cols) out.push_back(v);  // a longer line is reported below; its extra values are not kept
            ++got;
            if (comma == std::string::npos) break;
            pos = comma + 1;
        }
        if (got != cols) fail(path, ": line ", lineno, ": expected ", cols, " values, got ", got);
    }
    if (got_rows != rows) fail(path, ": expected ", rows, " rows of ", cols, " values, got ", got_rows, " rows");
    return out;
}

TileSpec load_tile_spec(const std::string& path) {
    TomlDocument doc = TomlDocument::from_file(path);
    auto root = doc.root();
    const char* keys[] = {"rows",          "cols",   "r_bl_ohm", "r_sl_ohm",   "read_vgs_v", "read_vds_v",
                          "temperature_c", "device", "vth_csv",  "inputs_csv", "slope_n_csv"};
    for (const char* k : keys) root.has(k);
    doc.finish();
    TileSpec s;
    s.source = path;
    root.require("rows", s.rows, Range{1, 65536});
    root.require("cols", s.cols, Range{1, 65536});
    if (static_cast<long>(s.rows) * s.cols > kMaxTileCells)
        fail(path, ": a tile of ", s.rows, " x ", s.cols, " cells exceeds the limit of ", kMaxTileCells, " cells");
    root.require("r_bl_ohm", s.wires.r_bl_ohm, Range{0, 1e6});
    root.require("r_sl_ohm", s.wires.r_sl_ohm, Range{0, 1e6});
    root.require("read_vgs_v", s.read.vgs_v, Range{-5, 10});
    root.require("read_vds_v", s.read.vds_v, Range{1e-3, 5});
    root.require("temperature_c", s.read.temperature_c, Range{-60, 200});
    std::string device, vth_csv, inputs_csv, slope_csv;
    root.require("device", device);
    root.require("vth_csv", vth_csv);
    root.require("inputs_csv", inputs_csv);
    root.read("slope_n_csv", slope_csv);
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    auto resolve = [&](const std::string& p) {
        const std::filesystem::path q(p);
        return (q.is_absolute() ? q : dir / q).string();
    };
    s.card = device::load_card(resolve(device));

    // Cell V_th: one CSV line per row, one value per column (the tile as seen from above).
    const std::string vth_path = resolve(vth_csv);
    const std::vector<double> vth = read_csv_matrix(vth_path, s.rows, s.cols);
    std::vector<double> slope;
    if (!slope_csv.empty()) slope = read_csv_matrix(resolve(slope_csv), s.rows, s.cols);
    s.cells.rows = s.rows, s.cells.cols = s.cols;
    const std::size_t n = static_cast<std::size_t>(s.rows) * s.cols;
    s.cells.vth_v.resize(n), s.cells.slope_n.resize(n);
    for (int r = 0; r < s.rows; ++r)
        for (int c = 0; c < s.cols; ++c) {
            const std::size_t k = static_cast<std::size_t>(r) * s.cols + c;
            const double v = vth[k], sn = slope.empty() ? s.card.iv.slope_n : slope[k];
            if (!(v >= -5 && v <= 10))
                fail(vth_path, ": V_th of row ", r, ", column ", c, " = ", v, " V is out of range [-5, 10]");
            if (!(sn >= 1 && sn <= 10))
                fail(resolve(slope_csv), ": slope n of row ", r, ", column ", c, " = ", sn, " is out of range [1, 10]");
            s.cells.vth_v[s.cells.index(r, c)] = static_cast<float>(v);
            s.cells.slope_n[s.cells.index(r, c)] = static_cast<float>(sn);
        }
    const std::string in_path = resolve(inputs_csv);
    s.inputs = read_csv_matrix(in_path, s.rows, 1);
    for (int r = 0; r < s.rows; ++r)
        if (!(s.inputs[r] >= 0 && s.inputs[r] <= 1))
            fail(in_path, ": input of row ", r, " = ", s.inputs[r], " is out of range [0, 1] (0/1 or a pulse fraction)");
    return s;
}

}  // namespace flashmc::array
