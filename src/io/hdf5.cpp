#include "flashmc/io/hdf5.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <type_traits>

#include <Eigen/Core>

#include "flashmc/core/error.hpp"
#include "flashmc/core/sha256.hpp"
#include "flashmc/core/version.hpp"

namespace flashmc::h5 {

namespace {
// Silence HDF5's own error stack printing once; we report errors ourselves.
struct Quiet {
    Quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const Quiet quiet;

hid_t check(hid_t id, const std::string& where, const std::string& what) {
    if (id < 0) fail(where, ": ", what);
    return id;
}
void check_status(herr_t s, const std::string& where, const std::string& what) {
    if (s < 0) fail(where, ": ", what);
}
}  // namespace

template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<std::int16_t>() { return H5T_NATIVE_INT16; }
template <> hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }

Handle& Handle::operator=(Handle&& o) noexcept {
    if (this != &o) {
        this->~Handle();
        id_ = o.id_;
        o.id_ = -1;
    }
    return *this;
}

Handle::~Handle() {
    if (id_ < 0) return;
    switch (H5Iget_type(id_)) {
        case H5I_FILE: H5Fclose(id_); break;
        case H5I_GROUP: H5Gclose(id_); break;
        case H5I_DATASET: H5Dclose(id_); break;
        case H5I_ATTR: H5Aclose(id_); break;
        case H5I_DATASPACE: H5Sclose(id_); break;
        case H5I_DATATYPE: H5Tclose(id_); break;
        case H5I_GENPROP_LST: H5Pclose(id_); break;
        default: break;
    }
    id_ = -1;
}

bool Group::has(const std::string& name) const {
    return H5Lexists(id(), name.c_str(), H5P_DEFAULT) > 0;
}

Group Group::open(const std::string& name) const {
    if (!has(name)) fail(where_, ": missing group '", name, "'");
    Group g(Handle(check(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), where_, "cannot open group '" + name + "'")), where_ + "/" + name);
    g.float_storage_ = float_storage_;
    return g;
}

Group Group::create(const std::string& name) const {
    Group g(Handle(check(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where_,
                         "cannot create group '" + name + "'")),
            where_ + "/" + name);
    g.float_storage_ = float_storage_;
    return g;
}

std::vector<std::string> Group::children() const {
    std::vector<std::string> names;
    H5G_info_t info;
    check_status(H5Gget_info(id(), &info), where_, "cannot list group");
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        ssize_t len = H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        if (len < 0) fail(where_, ": cannot read link name ", i);
        std::string s(static_cast<std::size_t>(len), '\0');
        H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, s.data(), s.size() + 1, H5P_DEFAULT);
        names.push_back(s);
    }
    return names;
}

namespace {
static_assert(std::endian::native == std::endian::little, "the binary16 memory type below is little-endian");

// IEEE binary16 as h5py lays out float16 (FloatStorage::Half).
Handle half_type() {
    Handle t(H5Tcopy(H5T_IEEE_F32LE));
    if (t.id() < 0 || H5Tset_fields(t.id(), 15, 10, 5, 0, 10) < 0 || H5Tset_size(t.id(), 2) < 0 ||
        H5Tset_ebias(t.id(), 15) < 0 || H5Tset_precision(t.id(), 16) < 0)
        fail("HDF5: cannot build the binary16 type");
    return t;
}

// How create_dataset prepares a compressed dataset for deflate.
struct Prefilter {
    bool pack_integers = false;  // scale-offset, integers (lossless)
    int decimal_scale = -1;      // >= 0: scale-offset, float D-scaling with this D
};

// Creates dataset `name` of `type` (in memory and in the file) and writes `data`; compressed from
// kCompressMinBytes on (see there): byte-shuffled, or packed by the scale-offset filter as `pre`
// says; then deflated.
void create_dataset(const Group& g, const std::string& name, hid_t type, const void* data, const Dims& dims,
                    Prefilter pre = {}) {
    const std::string what = "dataset '" + name + "'";
    Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), g.where(), "bad shape for " + what));
    Handle plist(check(H5Pcreate(H5P_DATASET_CREATE), g.where(), "cannot create a property list"));
    hsize_t total = 1;
    for (auto d : dims) total *= d;
    const std::size_t value_bytes = H5Tget_size(type);
    if (!dims.empty() && total * value_bytes >= kCompressMinBytes) {
        Dims chunk = dims;
        const hsize_t row_bytes = total / dims[0] * value_bytes;
        chunk[0] = std::clamp<hsize_t>(kChunkBytes / row_bytes, 1, dims[0]);
        check_status(H5Pset_chunk(plist.id(), static_cast<int>(chunk.size()), chunk.data()), g.where(), "cannot chunk " + what);
        if (pre.pack_integers)
            check_status(H5Pset_scaleoffset(plist.id(), H5Z_SO_INT, H5Z_SO_INT_MINBITS_DEFAULT), g.where(),
                         "cannot set the scale-offset filter of " + what);
        else if (pre.decimal_scale >= 0)
            check_status(H5Pset_scaleoffset(plist.id(), H5Z_SO_FLOAT_DSCALE, pre.decimal_scale), g.where(),
                         "cannot set the scale-offset filter of " + what);
        else
            check_status(H5Pset_shuffle(plist.id()), g.where(), "cannot set the shuffle filter of " + what);
        check_status(H5Pset_deflate(plist.id(), kDeflateLevel), g.where(), "cannot set the deflate filter of " + what);
    }
    Handle ds(check(H5Dcreate2(g.id(), name.c_str(), type, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT), g.where(),
                    "cannot create " + what));
    if (total > 0) check_status(H5Dwrite(ds.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), g.where(), "cannot write " + what);
}
}  // namespace

template <class T>
void Group::write(const std::string& name, const T* data, const Dims& dims) const {
    if constexpr (std::is_same_v<T, float>) {
        hsize_t total = 1;
        for (auto d : dims) total *= d;
        if (float_storage_ == FloatStorage::Scaled && dims.size() >= 2 && total * sizeof(float) >= kCompressMinBytes) {
            float max_abs = 0;
            for (std::size_t i = 0; i < total; ++i) {
                if (!(std::abs(data[i]) <= 65504.0f))  // the half range, so that the packed integers fit
                    fail(where_, ": dataset '", name, "' holds ", data[i], " at index ", i,
                         ", beyond the range of scaled storage (±65504): store it as float32");
                max_abs = std::max(max_abs, std::abs(data[i]));
            }
            // The smallest D >= 0 with 10^-D <= max|x| / kScaledSteps.
            int d = 0;
            while (max_abs > 0 && std::pow(10.0, -d) > max_abs / kScaledSteps) ++d;
            create_dataset(*this, name, native_type<float>(), data, dims, {.decimal_scale = d});
            return;
        }
        if (float_storage_ != FloatStorage::Float32) {
            std::vector<Eigen::half> half(total);
            for (std::size_t i = 0; i < half.size(); ++i) {
                half[i] = Eigen::half(data[i]);  // round to nearest, ties to even
                if (std::isfinite(data[i]) && !std::isfinite(static_cast<float>(half[i])))
                    fail(where_, ": dataset '", name, "' holds ", data[i], " at index ", i,
                         ", beyond the half-precision range (±65504): store it as float32");
            }
            create_dataset(*this, name, half_type().id(), half.data(), dims);
            return;
        }
    }
    Prefilter pre;
    if constexpr (std::is_integral_v<T>) {
        // Packed where max − min needs at most one bit less than the type: the packing gains
        // nothing on wider ranges, HDF5 1.14.5–1.14.6 cannot read back a chunk packed at the type's
        // full width (HDFGroup/hdf5 #5861), and HDF5 computes max − min in the type itself, which
        // overflows for a signed range beyond its maximum (#6517). Others are shuffled.
        hsize_t total = 1;
        for (auto d : dims) total *= d;
        if (total > 0) {
            const auto [lo, hi] = std::minmax_element(data, data + total);
            const std::uint64_t range = static_cast<std::uint64_t>(*hi) - static_cast<std::uint64_t>(*lo);
            pre.pack_integers = range < (std::uint64_t{1} << (8 * sizeof(T) - 1)) - 1;
        }
    }
    create_dataset(*this, name, native_type<T>(), data, dims, pre);
}

namespace {
std::string format_dims(const Dims& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
}

// The stored type, as messages name it.
std::string type_name(hid_t type) {
    const std::size_t bits = 8 * H5Tget_size(type);
    switch (H5Tget_class(type)) {
        case H5T_INTEGER:
            return std::to_string(bits) + "-bit " + (H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned " : "") + "integers";
        case H5T_FLOAT: return std::to_string(bits) + "-bit floats";
        case H5T_STRING: return "strings";
        default: return "a compound or other non-numeric type";
    }
}

// Whether values of the stored type convert to T without loss of range: integers into an integer
// type at least as wide (and of the same signedness, or unsigned into a wider signed type), any
// number into a floating-point type.
template <class T> bool fits(hid_t type) {
    const H5T_class_t cls = H5Tget_class(type);
    if constexpr (std::is_floating_point_v<T>) {
        return cls == H5T_FLOAT || cls == H5T_INTEGER;
    } else {
        if (cls != H5T_INTEGER) return false;
        const std::size_t size = H5Tget_size(type);
        const bool is_signed = H5Tget_sign(type) != H5T_SGN_NONE;
        if constexpr (std::is_signed_v<T>) return is_signed ? size <= sizeof(T) : size < sizeof(T);
        return !is_signed && size <= sizeof(T);
    }
}

// The shape of an open dataset or attribute's dataspace: {} for a scalar; fails for a null one.
Dims extent(hid_t space, const std::string& where, const std::string& what) {
    if (space < 0) fail(where, ": ", what, " has no readable dataspace");
    const H5S_class_t cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_SCALAR) return {};
    const int rank = H5Sget_simple_extent_ndims(space);
    if (cls != H5S_SIMPLE || rank < 0 || rank > H5S_MAX_RANK) fail(where, ": ", what, " has an empty or bad dataspace");
    Dims dims(static_cast<std::size_t>(rank));
    if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) fail(where, ": ", what, " has a bad dataspace");
    return dims;
}

// Number of values of `dims`, failing (before any allocation) above `max_values`.
std::uint64_t count_values(const Dims& dims, std::uint64_t max_values, const std::string& where, const std::string& what) {
    std::uint64_t n = 1;
    for (hsize_t d : dims) {
        if (d != 0 && n > max_values / d) fail(where, ": ", what, " has shape ", format_dims(dims), ": too large to read");
        n *= d;
    }
    if (n > max_values) fail(where, ": ", what, " has shape ", format_dims(dims), ": too large to read");
    return n;
}

template <class T>
std::vector<T> read_dataset(const Group& g, const std::string& name, const Dims* expected, Dims* dims_out) {
    const std::string what = "dataset '" + abbreviate(name) + "'";
    if (!g.has(name)) fail(g.where(), ": missing ", what);
    Handle ds(check(H5Dopen2(g.id(), name.c_str(), H5P_DEFAULT), g.where(), "cannot open " + what));
    const Handle space(H5Dget_space(ds.id()));
    const Dims dims = extent(space.id(), g.where(), what);
    if (expected && dims != *expected)
        fail(g.where(), ": ", what, " has shape ", format_dims(dims), ", expected ", format_dims(*expected));
    const Handle type(H5Dget_type(ds.id()));
    if (type.id() < 0 || !fits<T>(type.id()))
        fail(g.where(), ": ", what, " holds ", type.id() < 0 ? "an unreadable type" : type_name(type.id()), ", expected ",
             type_name(native_type<T>()));
    const std::uint64_t total = count_values(dims, kMaxReadBytes / sizeof(T), g.where(), what);
    std::vector<T> out(static_cast<std::size_t>(total));
    if (total > 0)
        check_status(H5Dread(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), g.where(),
                     "cannot read " + what + " (truncated or corrupted file?)");
    if (dims_out) *dims_out = dims;
    return out;
}
}  // namespace

Dims Group::shape(const std::string& name) const {
    const std::string what = "dataset '" + abbreviate(name) + "'";
    if (!has(name)) fail(where_, ": missing ", what);
    Handle ds(check(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), where_, "cannot open " + what));
    const Handle space(H5Dget_space(ds.id()));
    return extent(space.id(), where_, what);
}

template <class T>
std::vector<T> Group::read(const std::string& name, Dims* dims_out) const {
    return read_dataset<T>(*this, name, nullptr, dims_out);
}

template <class T>
std::vector<T> Group::read_shaped(const std::string& name, const Dims& shape) const {
    return read_dataset<T>(*this, name, &shape, nullptr);
}

#define FLASHMC_H5_INSTANTIATE(T)                                                                    \
    template void Group::write<T>(const std::string&, const T*, const Dims&) const;                 \
    template std::vector<T> Group::read<T>(const std::string&, Dims*) const;                        \
    template std::vector<T> Group::read_shaped<T>(const std::string&, const Dims&) const;
FLASHMC_H5_INSTANTIATE(float)
FLASHMC_H5_INSTANTIATE(double)
FLASHMC_H5_INSTANTIATE(std::int8_t)
FLASHMC_H5_INSTANTIATE(std::uint8_t)
FLASHMC_H5_INSTANTIATE(std::int16_t)
FLASHMC_H5_INSTANTIATE(std::int32_t)
FLASHMC_H5_INSTANTIATE(std::int64_t)
FLASHMC_H5_INSTANTIATE(std::uint64_t)
#undef FLASHMC_H5_INSTANTIATE

namespace {
void write_attr(const Group& g, const std::string& name, hid_t type, hid_t space, const void* data) {
    if (H5Aexists(g.id(), name.c_str()) > 0) H5Adelete(g.id(), name.c_str());
    Handle a(check(H5Acreate2(g.id(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), g.where(),
                   "cannot create attribute '" + name + "'"));
    check_status(H5Awrite(a.id(), type, data), g.where(), "cannot write attribute '" + name + "'");
}
Handle open_attr(const Group& g, const std::string& name) {
    if (H5Aexists(g.id(), name.c_str()) <= 0) fail(g.where(), ": missing attribute '", abbreviate(name), "'");
    return Handle(check(H5Aopen(g.id(), name.c_str(), H5P_DEFAULT), g.where(), "cannot open attribute '" + abbreviate(name) + "'"));
}

// The values of a numeric attribute (a scalar or a 1-D array of at most max_count values):
// integers exactly as int64, floats as double.
struct Numbers {
    bool integer = false;
    std::vector<std::int64_t> ints;
    std::vector<double> reals;
};

Numbers read_numbers(const Group& g, const std::string& name, std::size_t max_count, bool one) {
    const std::string what = "attribute '" + abbreviate(name) + "'";
    const Handle a = open_attr(g, name);
    const Handle space(H5Aget_space(a.id()));
    const Dims dims = extent(space.id(), g.where(), what);
    if (dims.size() > 1) fail(g.where(), ": ", what, " has shape ", format_dims(dims), ", expected ", one ? "one value" : "a list");
    const auto n = static_cast<std::size_t>(count_values(dims, one ? kMaxAttrValues : max_count, g.where(), what));
    if (one && n != 1) fail(g.where(), ": ", what, " holds ", n, " values, expected one");
    const Handle type(H5Aget_type(a.id()));
    const H5T_class_t cls = type.id() < 0 ? H5T_NO_CLASS : H5Tget_class(type.id());
    const std::string cannot = "cannot read " + what;
    Numbers v;
    if (cls == H5T_INTEGER && H5Tget_sign(type.id()) == H5T_SGN_NONE && H5Tget_size(type.id()) >= 8) {
        std::vector<std::uint64_t> u(n);
        if (n) check_status(H5Aread(a.id(), H5T_NATIVE_UINT64, u.data()), g.where(), cannot);
        for (std::uint64_t x : u)
            if (x > static_cast<std::uint64_t>(INT64_MAX)) fail(g.where(), ": ", what, " = ", x, " is out of range");
        v.integer = true;
        v.ints.assign(u.begin(), u.end());
    } else if (cls == H5T_INTEGER) {
        v.integer = true;
        v.ints.resize(n);
        if (n) check_status(H5Aread(a.id(), H5T_NATIVE_INT64, v.ints.data()), g.where(), cannot);
    } else if (cls == H5T_FLOAT) {
        v.reals.resize(n);
        if (n) check_status(H5Aread(a.id(), H5T_NATIVE_DOUBLE, v.reals.data()), g.where(), cannot);
    } else {
        fail(g.where(), ": ", what, " holds ", type.id() < 0 ? "an unreadable type" : type_name(type.id()), ", expected a number");
    }
    return v;
}

std::vector<std::int64_t> read_ints(const Group& g, const std::string& name, std::int64_t lo, std::int64_t hi,
                                    std::size_t max_count, bool one) {
    Numbers v = read_numbers(g, name, max_count, one);
    const std::size_t n = v.integer ? v.ints.size() : v.reals.size();
    auto what = [&](std::size_t i) { return "attribute '" + abbreviate(name) + "'" + (one ? "" : "[" + std::to_string(i) + "]"); };
    if (!v.integer) {
        v.ints.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const double d = v.reals[i];
            // An integer stored as a float (older files) must be one exactly.
            if (!(d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                fail(g.where(), ": ", what(i), " = ", d, " is not an integer");
            v.ints[i] = static_cast<std::int64_t>(d);
        }
    }
    for (std::size_t i = 0; i < n; ++i)
        if (v.ints[i] < lo || v.ints[i] > hi) fail(g.where(), ": ", what(i), " = ", v.ints[i], " is out of range [", lo, ", ", hi, "]");
    return v.ints;
}

std::vector<double> read_doubles(const Group& g, const std::string& name, std::size_t max_count, bool one) {
    Numbers v = read_numbers(g, name, max_count, one);
    if (v.integer) v.reals.assign(v.ints.begin(), v.ints.end());
    return v.reals;
}
}  // namespace

void Group::set_attr(const std::string& name, const std::string& value) const {
    Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.id(), std::max<std::size_t>(1, value.size()));
    H5Tset_cset(type.id(), H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR));
    std::string v = value.empty() ? std::string(1, '\0') : value;
    write_attr(*this, name, type.id(), space.id(), v.data());
}
void Group::set_attr(const std::string& name, double value) const {
    Handle space(H5Screate(H5S_SCALAR));
    write_attr(*this, name, H5T_NATIVE_DOUBLE, space.id(), &value);
}
void Group::set_attr(const std::string& name, std::int64_t value) const {
    Handle space(H5Screate(H5S_SCALAR));
    write_attr(*this, name, H5T_NATIVE_INT64, space.id(), &value);
}
void Group::set_attr(const std::string& name, const std::vector<double>& value) const {
    hsize_t n = value.size();
    Handle space(H5Screate_simple(1, &n, nullptr));
    write_attr(*this, name, H5T_NATIVE_DOUBLE, space.id(), value.data());
}
void Group::set_attr(const std::string& name, const std::vector<std::int64_t>& value) const {
    hsize_t n = value.size();
    Handle space(H5Screate_simple(1, &n, nullptr));
    write_attr(*this, name, H5T_NATIVE_INT64, space.id(), value.data());
}
bool Group::has_attr(const std::string& name) const { return H5Aexists(id(), name.c_str()) > 0; }

std::string Group::attr_string(const std::string& name) const {
    const std::string what = "attribute '" + abbreviate(name) + "'";
    const Handle a = open_attr(*this, name);
    const Handle space(H5Aget_space(a.id()));
    const Dims dims = extent(space.id(), where_, what);
    const std::uint64_t count = count_values(dims, kMaxAttrValues, where_, what);
    if (count != 1) fail(where_, ": ", what, " holds ", count, " values, expected one string");
    const Handle ftype(H5Aget_type(a.id()));
    if (ftype.id() < 0 || H5Tget_class(ftype.id()) != H5T_STRING) fail(where_, ": ", what, " is not a string");
    const std::string cannot = "cannot read " + what;
    if (H5Tis_variable_str(ftype.id()) > 0) {
        Handle mtype(H5Tcopy(H5T_C_S1));
        H5Tset_size(mtype.id(), H5T_VARIABLE);
        H5Tset_cset(mtype.id(), H5Tget_cset(ftype.id()));
        char* p = nullptr;
        check_status(H5Aread(a.id(), mtype.id(), &p), where_, cannot);
        const std::size_t n = p ? std::strlen(p) : 0;
        std::string s = n <= kMaxStringBytes ? std::string(p ? p : "", n) : std::string();
        H5Dvlen_reclaim(mtype.id(), space.id(), H5P_DEFAULT, &p);
        if (n > kMaxStringBytes) fail(where_, ": ", what, " is a string of ", n, " bytes, more than ", kMaxStringBytes);
        return s;
    }
    const std::size_t n = H5Tget_size(ftype.id());
    if (n == 0 || n > kMaxStringBytes) fail(where_, ": ", what, " is a string of ", n, " bytes (corrupted file?)");
    std::string s(n, '\0');
    check_status(H5Aread(a.id(), ftype.id(), s.data()), where_, cannot);
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}
double Group::attr_double(const std::string& name) const { return read_doubles(*this, name, 1, true)[0]; }
double Group::attr_double(const std::string& name, double lo, double hi) const {
    const double v = attr_double(name);
    if (!(v >= lo && v <= hi)) fail(where_, ": attribute '", abbreviate(name), "' = ", v, " is out of range [", lo, ", ", hi, "]");
    return v;
}
std::int64_t Group::attr_int(const std::string& name) const { return attr_int(name, INT64_MIN, INT64_MAX); }
std::int64_t Group::attr_int(const std::string& name, std::int64_t lo, std::int64_t hi) const {
    return read_ints(*this, name, lo, hi, 1, true)[0];
}
std::vector<double> Group::attr_doubles(const std::string& name, std::size_t max_count) const {
    return read_doubles(*this, name, max_count, false);
}
std::vector<std::int64_t> Group::attr_ints(const std::string& name, std::int64_t lo, std::int64_t hi, std::size_t max_count) const {
    return read_ints(*this, name, lo, hi, max_count, false);
}

namespace {
constexpr std::string_view kMagic = "flashmc-hdf5-integrity 1\n";
constexpr std::string_view kHdf5Signature = "\x89HDF\r\n\x1a\n";
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{1} << 36;  // 64 GiB: larger is a corrupted size

// The integrity block of a file whose bytes after the block are `body`.
std::string integrity_block(const char* body, std::size_t n) {
    std::string b = std::string(kMagic) + "bytes " + std::to_string(n) + "\nsha256 " + sha256_hex(body, n) + "\n";
    b.resize(kIntegrityBlockBytes, '\0');
    return b;
}

std::vector<char> read_bytes(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) fail(path, ": no such file");
    if (std::filesystem::is_directory(path, ec)) fail(path, ": is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open for reading");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::uint64_t>(in.tellg());
    if (!in || size > kMaxFileBytes) fail(path, ": cannot determine the file's size (or it exceeds 64 GiB)");
    std::vector<char> bytes(size);
    in.seekg(0);
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    if (static_cast<std::uint64_t>(in.gcount()) != size) fail(path, ": read error");
    return bytes;
}

bool has_magic(const std::vector<char>& bytes) {
    return bytes.size() >= kMagic.size() && std::string_view(bytes.data(), kMagic.size()) == kMagic;
}

// The file's bytes after checking its integrity block; throws Error naming what is wrong.
std::vector<char> read_verified(const std::string& path) {
    auto bytes = read_bytes(path);
    if (!has_magic(bytes)) {
        if (bytes.size() >= kHdf5Signature.size() && std::string_view(bytes.data(), kHdf5Signature.size()) == kHdf5Signature)
            fail(path, ": an HDF5 file without flashmc's integrity block (written by another tool, or by flashmc "
                       "before the block existed); if you trust it, `flashmc stamp ", path, "` adds one");
        fail(path, ": not a flashmc HDF5 file (no integrity block: truncated, corrupted or another format)");
    }
    if (bytes.size() < kIntegrityBlockBytes) fail(path, ": truncated (", bytes.size(), " bytes, shorter than its integrity block)");
    const std::size_t n = bytes.size() - kIntegrityBlockBytes;
    const std::string_view header(bytes.data(), kIntegrityBlockBytes);
    const auto at = header.find("bytes ");
    const std::string stated = at == std::string_view::npos ? "?" : std::string(header.substr(at + 6, header.find('\n', at) - at - 6));
    if (stated != std::to_string(n))
        fail(path, ": truncated or extended: its integrity block states ", stated.size() > 20 ? "garbage" : stated,
             " bytes of HDF5 data, the file holds ", n);
    if (integrity_block(bytes.data() + kIntegrityBlockBytes, n) != header)
        fail(path, ": corrupted: the SHA-256 of its content does not match its integrity block");
    return bytes;
}

// A file in memory (HDF5's core driver without a backing store): new, or opened from an image.
Handle memory_file(const std::string& label, const std::string& path, const std::vector<char>* image, bool writable) {
    Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), path, "cannot create a file access list"));
    check_status(H5Pset_fapl_core(fapl.id(), std::size_t{4} << 20, 0), path, "cannot select the in-memory driver");
    if (!image) {
        Handle fcpl(check(H5Pcreate(H5P_FILE_CREATE), path, "cannot create a file creation list"));
        check_status(H5Pset_userblock(fcpl.id(), kIntegrityBlockBytes), path, "cannot reserve the integrity block");
        return Handle(check(H5Fcreate(label.c_str(), H5F_ACC_TRUNC, fcpl.id(), fapl.id()), path, "cannot create the file in memory"));
    }
    check_status(H5Pset_file_image(fapl.id(), const_cast<char*>(image->data()), image->size()), path,
                 "cannot hand the file's image to HDF5");
    return Handle(check(H5Fopen(label.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.id()), path,
                        "cannot open HDF5 file (its integrity block is valid, so HDF5 cannot read this layout)"));
}

std::string memory_label(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    return path + ".memory." + std::to_string(counter++);  // a label, never a file
}

Group root_of(Handle file, const std::string& path) {
    hid_t root = H5Gopen2(file.id(), "/", H5P_DEFAULT);
    if (root < 0) fail(path, ": cannot open root group");
    // The root group keeps the file open (HDF5 closes the file when its last object closes).
    return Group(Handle(root), path);
}

}  // namespace

Group open_read(const std::string& path) {
    const auto bytes = read_verified(path);
    return root_of(memory_file(memory_label(path), path, &bytes, false), path);  // HDF5 keeps its own copy
}

void edit_file(const std::string& path, const std::function<void(const Group&)>& edit) {
    AtomicWrite w(path, read_verified(path));
    edit(w.root());
    w.commit();
}

std::string content_sha256(const std::string& path) {
    const auto bytes = read_verified(path);
    const std::string_view header(bytes.data(), kIntegrityBlockBytes);
    const auto at = header.find("sha256 ") + 7;
    return std::string(header.substr(at, 64));
}

bool add_integrity_block(const std::string& path) {
    auto bytes = read_bytes(path);
    if (has_magic(bytes)) {
        read_verified(path);
        return false;
    }
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, ": not an HDF5 file");
    // The bytes stay as they are, after the block: HDF5 addresses are relative to the superblock,
    // and a reader that finds it moved adjusts its base address (HDF5 file format spec, superblock
    // "Base Address"; what h5jam does). Opened once from memory before anything is written.
    const std::string block = integrity_block(bytes.data(), bytes.size());
    bytes.insert(bytes.begin(), block.begin(), block.end());
    root_of(memory_file(memory_label(path), path, &bytes, false), path);
    io::write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
    return true;
}

AtomicWrite::AtomicWrite(std::string path) : path_(std::move(path)), out_(path_) {
    file_ = memory_file(memory_label(out_.temporary()), path_, nullptr, true);
    root_.emplace(Handle(check(H5Gopen2(file_.id(), "/", H5P_DEFAULT), path_, "cannot open root group")), path_);
}

AtomicWrite::AtomicWrite(std::string path, const std::vector<char>& image) : path_(std::move(path)), out_(path_) {
    file_ = memory_file(memory_label(out_.temporary()), path_, &image, true);
    root_.emplace(Handle(check(H5Gopen2(file_.id(), "/", H5P_DEFAULT), path_, "cannot open root group")), path_);
}

AtomicWrite::~AtomicWrite() = default;  // root, then file (in memory), then the temporary is removed

void AtomicWrite::commit() {
    check_status(H5Fflush(file_.id(), H5F_SCOPE_LOCAL), path_, "cannot flush the file in memory");
    // The image is the HDF5 data from the superblock on (HDF5 leaves out the user block).
    const ssize_t size = H5Fget_file_image(file_.id(), nullptr, 0);
    if (size <= 0) fail(path_, ": cannot take the image of the file in memory");
    std::vector<char> image(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file_.id(), image.data(), image.size()) != size)
        fail(path_, ": cannot take the image of the file in memory");
    root_.reset();
    check_status(H5Fclose(file_.release()), path_, "cannot close the file in memory");
    out_.write(integrity_block(image.data(), image.size()));
    out_.write(image.data(), image.size());
    out_.commit();
}

void stamp(const Group& root, const std::string& filetype, int schema_version) {
    root.set_attr("filetype", filetype);
    root.set_attr("schema_version", schema_version);
    root.set_attr("flashmc_version", version());
    root.set_attr("git_commit", git_commit());
    root.set_attr("created", now_iso8601());
}

}  // namespace flashmc::h5
