#include "flashmc/io/hdf5.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "flashmc/core/error.hpp"
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
    return Group(Handle(check(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), where_, "cannot open group '" + name + "'")),
                 where_ + "/" + name);
}

Group Group::create(const std::string& name) const {
    return Group(Handle(check(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where_,
                              "cannot create group '" + name + "'")),
                 where_ + "/" + name);
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

template <class T>
void Group::write(const std::string& name, const T* data, const Dims& dims, bool compress) const {
    Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), where_, "bad shape"));
    Handle plist(H5Pcreate(H5P_DATASET_CREATE));
    hsize_t total = 1;
    for (auto d : dims) total *= d;
    if (compress && total >= 4096 && !dims.empty()) {
        Dims chunk = dims;
        // Chunk along the first axis so that a chunk holds about 64k elements.
        hsize_t row = total / dims[0];
        chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(dims[0], 65536 / std::max<hsize_t>(row, 1)));
        for (std::size_t i = 1; i < chunk.size(); ++i) chunk[i] = dims[i];
        H5Pset_chunk(plist.id(), static_cast<int>(chunk.size()), chunk.data());
        H5Pset_shuffle(plist.id());
        H5Pset_deflate(plist.id(), 4);
    }
    Handle ds(check(H5Dcreate2(id(), name.c_str(), native_type<T>(), space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT),
                    where_, "cannot create dataset '" + name + "'"));
    if (total > 0)
        check_status(H5Dwrite(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where_,
                     "cannot write dataset '" + name + "'");
}

Dims Group::shape(const std::string& name) const {
    if (!has(name)) fail(where_, ": missing dataset '", name, "'");
    Handle ds(check(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), where_, "cannot open dataset '" + name + "'"));
    Handle space(H5Dget_space(ds.id()));
    int rank = H5Sget_simple_extent_ndims(space.id());
    if (rank < 0) fail(where_, ": dataset '", name, "' has a bad dataspace");
    Dims dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    return dims;
}

template <class T>
std::vector<T> Group::read(const std::string& name, Dims* dims_out) const {
    Dims dims = shape(name);
    hsize_t total = 1;
    for (auto d : dims) total *= d;
    std::vector<T> out(total);
    Handle ds(check(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), where_, "cannot open dataset '" + name + "'"));
    if (total > 0)
        check_status(H5Dread(ds.id(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), where_,
                     "cannot read dataset '" + name + "' (truncated or corrupted file?)");
    if (dims_out) *dims_out = dims;
    return out;
}

#define FLASHMC_H5_INSTANTIATE(T)                                                                    \
    template void Group::write<T>(const std::string&, const T*, const Dims&, bool) const;           \
    template std::vector<T> Group::read<T>(const std::string&, Dims*) const;
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
    if (H5Aexists(g.id(), name.c_str()) <= 0) fail(g.where(), ": missing attribute '", name, "'");
    return Handle(check(H5Aopen(g.id(), name.c_str(), H5P_DEFAULT), g.where(), "cannot open attribute '" + name + "'"));
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
bool Group::has_attr(const std::string& name) const { return H5Aexists(id(), name.c_str()) > 0; }

std::string Group::attr_string(const std::string& name) const {
    Handle a = open_attr(*this, name);
    Handle ftype(H5Aget_type(a.id()));
    if (H5Tget_class(ftype.id()) != H5T_STRING) fail(where_, ": attribute '", name, "' is not a string");
    if (H5Tis_variable_str(ftype.id()) > 0) {
        Handle mtype(H5Tcopy(H5T_C_S1));
        H5Tset_size(mtype.id(), H5T_VARIABLE);
        H5Tset_cset(mtype.id(), H5Tget_cset(ftype.id()));
        char* p = nullptr;
        check_status(H5Aread(a.id(), mtype.id(), &p), where_, "cannot read attribute '" + name + "'");
        std::string s = p ? p : "";
        Handle space(H5Aget_space(a.id()));
        H5Dvlen_reclaim(mtype.id(), space.id(), H5P_DEFAULT, &p);
        return s;
    }
    std::size_t n = H5Tget_size(ftype.id());
    std::string s(n, '\0');
    check_status(H5Aread(a.id(), ftype.id(), s.data()), where_, "cannot read attribute '" + name + "'");
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
}
double Group::attr_double(const std::string& name) const {
    Handle a = open_attr(*this, name);
    double v = 0;
    check_status(H5Aread(a.id(), H5T_NATIVE_DOUBLE, &v), where_, "cannot read attribute '" + name + "'");
    return v;
}
std::int64_t Group::attr_int(const std::string& name) const {
    Handle a = open_attr(*this, name);
    std::int64_t v = 0;
    check_status(H5Aread(a.id(), H5T_NATIVE_INT64, &v), where_, "cannot read attribute '" + name + "'");
    return v;
}
std::vector<double> Group::attr_doubles(const std::string& name) const {
    Handle a = open_attr(*this, name);
    Handle space(H5Aget_space(a.id()));
    hssize_t n = H5Sget_simple_extent_npoints(space.id());
    std::vector<double> v(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
    if (!v.empty())
        check_status(H5Aread(a.id(), H5T_NATIVE_DOUBLE, v.data()), where_, "cannot read attribute '" + name + "'");
    return v;
}

namespace {
Group open_file(const std::string& path, unsigned flags) {
    if (!std::filesystem::exists(path)) fail(path, ": no such file");
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, ": not an HDF5 file (truncated or corrupted?)");
    hid_t f = H5Fopen(path.c_str(), flags, H5P_DEFAULT);
    if (f < 0) fail(path, ": cannot open HDF5 file (truncated or corrupted?)");
    Handle file(f);
    hid_t root = H5Gopen2(file.id(), "/", H5P_DEFAULT);
    if (root < 0) fail(path, ": cannot open root group");
    // The root group keeps the file open (HDF5 closes the file when its last object closes).
    return Group(Handle(root), path);
}
}  // namespace

Group open_read(const std::string& path) { return open_file(path, H5F_ACC_RDONLY); }
Group open_rw(const std::string& path) { return open_file(path, H5F_ACC_RDWR); }

AtomicWrite::AtomicWrite(std::string path) : path_(std::move(path)) {
    static std::atomic<int> counter{0};
    auto parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty() && !std::filesystem::exists(parent)) std::filesystem::create_directories(parent);
    tmp_ = path_ + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
    hid_t f = H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) fail(path_, ": cannot create file (", tmp_, ")");
    Handle file(f);
    hid_t root = H5Gopen2(file.id(), "/", H5P_DEFAULT);
    root_ = new Group(Handle(root), path_);
}

AtomicWrite::~AtomicWrite() {
    delete root_;
    if (!done_) std::remove(tmp_.c_str());
}

void AtomicWrite::commit() {
    H5Fflush(root_->id(), H5F_SCOPE_GLOBAL);
    delete root_;
    root_ = nullptr;
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) fail(path_, ": cannot rename ", tmp_, " into place: ", ec.message());
    done_ = true;
}

void stamp(const Group& root, const std::string& filetype, int schema_version) {
    root.set_attr("filetype", filetype);
    root.set_attr("schema_version", schema_version);
    root.set_attr("flashmc_version", version());
    root.set_attr("git_commit", git_commit());
    root.set_attr("created", now_iso8601());
}

}  // namespace flashmc::h5
