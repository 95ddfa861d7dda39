#pragma once
// Structure-aware fuzzing of HDF5 inputs (fuzz/README.md). The fuzz input is an edit script applied,
// through the HDF5 library, to a valid file that flashmc wrote: each edit replaces an attribute
// (another value, type or shape), a dataset (another shape, type or values), or removes or renames
// an object. The result is a well-formed HDF5 file with arbitrary content, which is what a loader
// must be robust against; byte-level mutation of the file itself mostly exercises libhdf5's own
// parser instead (the *_raw targets do that).
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "flashmc/core/error.hpp"
#include "flashmc/io/hdf5.hpp"

namespace flashmc::fuzz {

// Reads the script: bytes, then zeros once it is used up.
class Script {
public:
    Script(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    bool done() const { return n_ == 0; }
    std::uint8_t byte() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | byte();
        return v;
    }
    // Integers and reals that loaders get wrong: zero, signs, limits, powers of two, huge values.
    std::int64_t integer() {
        static const std::int64_t table[] = {0, 1, -1, 2, 3, -3, 7, 8, 9, 16, 64, 65, 255, 256, 65536, 65537,
                                             1 << 26, 1000000000, 2147483647, -2147483647 - 1, 4294967296LL,
                                             std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
        const std::uint8_t k = byte();
        if (k < sizeof table / sizeof table[0] * 8) return table[k % (sizeof table / sizeof table[0])];
        return static_cast<std::int64_t>(u64());
    }
    double real() {
        static const double table[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 1e-300, 1e-30, 1e30, 1e300, 1e9, 1e38, 3.5e38,
                                       std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                                       std::numeric_limits<double>::quiet_NaN(), 4294967296.0, 9.3e18};
        const std::uint8_t k = byte();
        if (k < sizeof table / sizeof table[0] * 8) return table[k % (sizeof table / sizeof table[0])];
        const std::uint64_t bits = u64();
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
    }
    template <class T> const T& pick(const std::vector<T>& v) { return v[byte() % v.size()]; }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

namespace edit_detail {

inline std::vector<std::string> links(hid_t g, bool groups) {
    std::vector<std::string> out;
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0) return out;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        char name[1024];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0) continue;
        H5O_info_t o;
        if (H5Oget_info_by_name2(g, name, &o, H5O_INFO_BASIC, H5P_DEFAULT) < 0) continue;
        if ((o.type == H5O_TYPE_GROUP) == groups && (o.type == H5O_TYPE_GROUP || o.type == H5O_TYPE_DATASET)) out.push_back(name);
    }
    return out;
}

inline void all_groups(hid_t root, const std::string& path, std::vector<std::string>& out) {
    out.push_back(path);
    h5::Handle g(H5Gopen2(root, path.c_str(), H5P_DEFAULT));
    if (g.id() < 0) return;
    for (const auto& c : links(g.id(), true)) all_groups(root, path == "/" ? "/" + c : path + "/" + c, out);
}

inline std::vector<std::string> attributes(hid_t obj) {
    std::vector<std::string> out;
    H5O_info_t o;
    if (H5Oget_info2(obj, &o, H5O_INFO_NUM_ATTRS) < 0) return out;
    for (hsize_t i = 0; i < o.num_attrs; ++i) {
        char name[1024];
        if (H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) >= 0) out.push_back(name);
    }
    return out;
}

inline hid_t numeric_type(std::uint8_t k) {
    const hid_t types[] = {H5T_NATIVE_INT8, H5T_NATIVE_UINT8, H5T_NATIVE_INT16, H5T_NATIVE_INT32, H5T_NATIVE_INT64,
                           H5T_NATIVE_UINT64, H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE};
    return types[k % 8];
}

// Writes `count` values (from the script, converted by HDF5 to `type`) under `name`.
inline void write_attr(hid_t obj, const std::string& name, hid_t type, const h5::Dims& dims, Script& s, bool integers) {
    H5Adelete(obj, name.c_str());
    h5::Handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    hsize_t n = 1;
    for (auto d : dims) n *= d;
    h5::Handle a(H5Acreate2(obj, name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT));
    if (a.id() < 0) return;
    if (integers) {
        std::vector<std::int64_t> v(n);
        for (auto& x : v) x = s.integer();
        H5Awrite(a.id(), H5T_NATIVE_INT64, v.data());
    } else {
        std::vector<double> v(n);
        for (auto& x : v) x = s.real();
        H5Awrite(a.id(), H5T_NATIVE_DOUBLE, v.data());
    }
}

inline void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
    H5Adelete(obj, name.c_str());
    h5::Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.id(), std::max<std::size_t>(1, value.size()));
    h5::Handle space(H5Screate(H5S_SCALAR));
    h5::Handle a(H5Acreate2(obj, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT));
    if (a.id() >= 0) H5Awrite(a.id(), type.id(), value.empty() ? "" : value.data());
}

// Replaces dataset `name` by one of the given shape and type; values from the script (a dataset
// too large to write is created chunked and left unwritten: its extent is all a reader sees).
inline void write_dataset(hid_t g, const std::string& name, hid_t type, const h5::Dims& dims, Script& s, const std::vector<double>& old) {
    H5Ldelete(g, name.c_str(), H5P_DEFAULT);
    hsize_t n = 1;
    for (auto d : dims) n = d != 0 && n > (hsize_t{1} << 62) / d ? hsize_t{1} << 62 : n * d;
    h5::Handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    h5::Handle plist(H5Pcreate(H5P_DATASET_CREATE));
    const bool lazy = n > (hsize_t{1} << 16);
    if (lazy && !dims.empty()) {
        h5::Dims chunk(dims.size(), 1);
        H5Pset_chunk(plist.id(), static_cast<int>(chunk.size()), chunk.data());
    }
    h5::Handle ds(H5Dcreate2(g, name.c_str(), type, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT));
    if (ds.id() < 0 || lazy) return;
    // The old values where there are any (so that a reshape keeps them), with a few replaced.
    std::vector<double> v(n);
    for (hsize_t i = 0; i < n; ++i) v[i] = old.empty() ? static_cast<double>(i % 7) - 3 : old[i % old.size()];
    for (int k = s.byte() % 4; k > 0 && n > 0; --k) v[s.u64() % n] = s.real();
    H5Dwrite(ds.id(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
}

}  // namespace edit_detail

// Applies the script to the file at `path` (every HDF5 error is ignored: an edit that HDF5 refuses
// is simply not made). Each edit: [operation][group][object][payload...].
inline void apply_edits(hid_t file, Script& s);
inline void apply_edits(const std::string& path, Script& s) {
    // Edited in memory and written back with a fresh integrity block (h5::edit_file), so that
    // the loader reaches the edited content instead of stopping at the checksum.
    try {
        h5::edit_file(path, [&](const h5::Group& root) { apply_edits(root.id(), s); });
    } catch (const Error&) {
    }
}
inline void apply_edits(hid_t file, Script& s) {
    using namespace edit_detail;
    std::vector<std::string> groups;
    all_groups(file, "/", groups);
    static const std::vector<std::string> words = {"conv2d", "linear", "batchnorm", "activation", "input_quant", "maxpool",
                                                   "avgpool", "global_avgpool", "add", "shortcut_a", "dropout", "input",
                                                   "requant", "identity", "flashmc.model", "flashmc.sweep", "", ",", "a,b",
                                                   "fc", "sigma,sigma", "x/y", std::string(300, 'q')};
    for (int edits = 0; !s.done() && edits < 16; ++edits) {
        const std::uint8_t op = s.byte() % 9;
        h5::Handle g(H5Gopen2(file, s.pick(groups).c_str(), H5P_DEFAULT));
        if (g.id() < 0) continue;
        const auto attrs = attributes(g.id());
        const auto datasets = links(g.id(), false);
        const auto subgroups = links(g.id(), true);
        switch (op) {
            case 0:  // an attribute becomes a scalar integer of some type
            case 1:  // ... a scalar real
                if (!attrs.empty()) write_attr(g.id(), s.pick(attrs), numeric_type(s.byte()), {}, s, op == 0);
                break;
            case 2: {  // ... an array of 0 to 4 values
                if (attrs.empty()) break;
                const std::string name = s.pick(attrs);
                write_attr(g.id(), name, numeric_type(s.byte()), {hsize_t(s.byte() % 5)}, s, s.byte() & 1);
                break;
            }
            case 3:  // ... a string
                if (!attrs.empty()) write_string_attr(g.id(), s.pick(attrs), s.pick(words));
                break;
            case 4:  // an attribute goes
                if (!attrs.empty()) H5Adelete(g.id(), s.pick(attrs).c_str());
                break;
            case 5: {  // a dataset changes shape, type or some values
                if (datasets.empty()) break;
                const std::string name = s.pick(datasets);
                h5::Handle ds(H5Dopen2(g.id(), name.c_str(), H5P_DEFAULT));
                h5::Handle space(H5Dget_space(ds.id()));
                const int rank = H5Sget_simple_extent_ndims(space.id());
                if (rank < 0 || rank > 4) break;
                h5::Dims dims(static_cast<std::size_t>(rank));
                H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
                hsize_t n = 1;
                for (auto d : dims) n *= d;
                std::vector<double> old(n <= (1 << 16) ? n : 0);
                if (!old.empty() && H5Dread(ds.id(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, old.data()) < 0) old.clear();
                h5::Handle ftype(H5Dget_type(ds.id()));
                hid_t type = H5Tget_class(ftype.id()) == H5T_STRING ? H5T_NATIVE_INT8 : H5Tget_native_type(ftype.id(), H5T_DIR_DEFAULT);
                h5::Handle own(type == H5T_NATIVE_INT8 ? -1 : type);
                ds = h5::Handle();
                switch (s.byte() % 5) {
                    case 0: if (dims.size() >= 2) std::swap(dims[0], dims[1]); break;   // transposed
                    case 1: if (!dims.empty()) dims[s.byte() % dims.size()] = static_cast<hsize_t>(s.integer() & 0xFFFFFFFFFFFLL); break;
                    case 2: if (dims.size() < 4) dims.push_back(1 + s.byte() % 3); else dims.pop_back(); break;
                    case 3: type = numeric_type(s.byte()); break;
                    default: break;  // same shape and type, new values
                }
                write_dataset(g.id(), name, type, dims, s, old);
                break;
            }
            case 6: {  // a dataset or a group goes
                const bool dataset = s.byte() & 1;
                const auto& from = (dataset && !datasets.empty()) || subgroups.empty() ? datasets : subgroups;
                if (!from.empty()) H5Ldelete(g.id(), s.pick(from).c_str(), H5P_DEFAULT);
                break;
            }
            case 7:  // a group is renamed (node order, names)
                if (!subgroups.empty()) H5Lmove(g.id(), s.pick(subgroups).c_str(), g.id(), (s.pick(words) + std::to_string(s.byte())).c_str(), H5P_DEFAULT, H5P_DEFAULT);
                break;
            case 8:  // a new attribute
                write_attr(g.id(), s.pick(words), numeric_type(s.byte()), {}, s, true);
                break;
        }
    }
}

}  // namespace flashmc::fuzz
