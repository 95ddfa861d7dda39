#pragma once
// A thin RAII wrapper over the HDF5 C API: files, groups, datasets and attributes, with errors
// that name the file and the object. Writers go through AtomicWrite: the data is written to a
// temporary file beside the target and renamed over it on commit, so the target path never holds a
// half-written file.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace flashmc::h5 {

using Dims = std::vector<hsize_t>;

template <class T> hid_t native_type();

// An owned HDF5 identifier (file, group, dataset, ...), closed on destruction.
class Handle {
public:
    Handle() = default;
    explicit Handle(hid_t id) : id_(id) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
    Handle& operator=(Handle&& o) noexcept;
    ~Handle();
    hid_t id() const { return id_; }
    explicit operator bool() const { return id_ >= 0; }

private:
    hid_t id_ = -1;
};

// A group (the root of a file is a group too). `where` names file and path for error messages.
class Group {
public:
    Group(Handle h, std::string where) : h_(std::move(h)), where_(std::move(where)) {}
    const std::string& where() const { return where_; }
    hid_t id() const { return h_.id(); }

    bool has(const std::string& name) const;
    Group open(const std::string& name) const;
    Group create(const std::string& name) const;
    std::vector<std::string> children() const;  // names, in creation/alphabetic order

    template <class T>
    void write(const std::string& name, const T* data, const Dims& dims, bool compress = false) const;
    template <class T>
    void write(const std::string& name, const std::vector<T>& v) const {
        write(name, v.data(), {static_cast<hsize_t>(v.size())});
    }
    // Reads a whole dataset; `dims` receives its shape. Throws if the type cannot convert.
    template <class T>
    std::vector<T> read(const std::string& name, Dims* dims = nullptr) const;
    Dims shape(const std::string& name) const;

    void set_attr(const std::string& name, const std::string& value) const;
    void set_attr(const std::string& name, const char* value) const { set_attr(name, std::string(value)); }
    void set_attr(const std::string& name, double value) const;
    void set_attr(const std::string& name, std::int64_t value) const;
    void set_attr(const std::string& name, int value) const { set_attr(name, std::int64_t{value}); }
    void set_attr(const std::string& name, const std::vector<double>& value) const;
    bool has_attr(const std::string& name) const;
    std::string attr_string(const std::string& name) const;
    double attr_double(const std::string& name) const;
    std::int64_t attr_int(const std::string& name) const;
    std::vector<double> attr_doubles(const std::string& name) const;

private:
    Handle h_;
    std::string where_;
};

// Opens an existing file read-only; throws Error naming the path if it is missing or not HDF5.
Group open_read(const std::string& path);
// Opens an existing file for reading and writing.
Group open_rw(const std::string& path);

// Writes `path` atomically: root() is the root group of a temporary file beside `path`;
// commit() closes it and renames it over `path`. Destroyed without commit, the temporary is removed.
class AtomicWrite {
public:
    explicit AtomicWrite(std::string path);
    ~AtomicWrite();
    AtomicWrite(const AtomicWrite&) = delete;
    AtomicWrite& operator=(const AtomicWrite&) = delete;
    Group& root() { return *root_; }
    void commit();

private:
    std::string path_, tmp_;
    Group* root_ = nullptr;
    bool done_ = false;
};

// Standard provenance attributes on a file's root: filetype, schema version, tool version,
// git commit, creation time.
void stamp(const Group& root, const std::string& filetype, int schema_version);

}  // namespace flashmc::h5
