#pragma once
// A thin RAII wrapper over the HDF5 C API: files, groups, datasets and attributes, with errors
// that name the file and the object. Writers go through AtomicWrite: the file is built in memory,
// then written through io::AtomicFile (temporary beside the target, every write checked, fsync,
// rename), so the target path never holds a half-written file, even on a full disk.
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "flashmc/io/atomic_file.hpp"

namespace flashmc::h5 {

using Dims = std::vector<hsize_t>;

// Sanity limits of the readers, checked before anything is allocated, so that a corrupted header
// (a flipped extent or length) is an error instead of an attempt to allocate gigabytes.
inline constexpr std::size_t kMaxStringBytes = std::size_t{1} << 26;  // one string attribute (64 MiB)
inline constexpr std::size_t kMaxAttrValues = std::size_t{1} << 16;   // one array attribute
inline constexpr std::uint64_t kMaxReadBytes = std::uint64_t{1} << 30; // one dataset (1 GiB)

template <class T> hid_t native_type();

// Datasets of at least this many bytes are stored in chunks of whole rows (first axis, at most
// kChunkBytes a chunk unless one row is larger), then deflated at level kDeflateLevel: floats
// byte-shuffled first, integers whose range needs at least one bit less than their type packed
// first by HDF5's scale-offset filter (lossless: each value minus its chunk's minimum, in the bits
// the chunk's range needs; 4-bit weight codes in 4 bits, 14% smaller than shuffle + deflate on the
// shipped models' codes), other integers shuffled (see write()). Below 4 KiB a chunk index costs
// about what compression saves; on the AlexNet model files level 4 comes within 2% of level 9's
// size (float32, binary16 and int8 codes) in at most 60% of its time. HDF5 readers (h5py, h5dump)
// decompress them without being told.
inline constexpr std::size_t kCompressMinBytes = 4096;
inline constexpr std::size_t kChunkBytes = std::size_t{1} << 18;
inline constexpr unsigned kDeflateLevel = 4;

// How write() stores float data: float32, or IEEE binary16 (half precision, h5py's float16: sign
// bit 15, exponent bits 10-14 with bias 15, mantissa bits 0-9), each value rounded to the nearest
// half, ties to even. Readers get either back as float (binary16 converts to float32 exactly).
// Scaled: tensors (rank >= 2, at least kCompressMinBytes as float32: the weights of a network) go
// through HDF5's scale-offset filter, D-scaling: each value stored as a whole number of steps
// 10^-D from its chunk's minimum, with D the smallest integer >= 0 whose step is at most
// max|x| / kScaledSteps, the chunk packed to the integer bits it needs, then deflated; any HDF5
// reader returns float32 values within one step of the originals (HDF5 rounds in float32: most
// land within half a step). Smaller datasets and vectors (biases, batch-norm statistics, quantizer
// state) go in as Half. About 40% smaller than Half for CNN weights (VGG16: 17.6 vs 25.2 MiB).
enum class FloatStorage { Float32, Half, Scaled };
inline constexpr double kScaledSteps = 256;

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
    hid_t release() { hid_t id = id_; id_ = -1; return id; }  // the caller closes it

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

    // Float data goes in as set_float_storage() says; a finite value beyond the half range
    // (±65504) is an Error naming the dataset, never an infinity, and so is a non-finite value
    // or one beyond ±65504 in a Scaled tensor.
    template <class T>
    void write(const std::string& name, const T* data, const Dims& dims) const;
    template <class T>
    void write(const std::string& name, const std::vector<T>& v) const {
        write(name, v.data(), {static_cast<hsize_t>(v.size())});
    }
    // Reads a whole dataset; `dims` receives its shape. Throws if the stored type does not fit T
    // (a float where T is an integer, a wider or differently signed integer) or the dataset holds
    // more than kMaxReadBytes. Any float dataset (binary16, float32, ...) reads into float or double
    // through HDF5's conversion; compressed ones are decompressed, and a chunk that does not
    // decompress is an Error.
    template <class T>
    std::vector<T> read(const std::string& name, Dims* dims = nullptr) const;
    // As read(), but the dataset's shape must be `shape` (rank and every extent), checked before
    // anything is allocated: the way loaders read, with shapes derived from checked attributes.
    template <class T>
    std::vector<T> read_shaped(const std::string& name, const Dims& shape) const;
    Dims shape(const std::string& name) const;

    void set_attr(const std::string& name, const std::string& value) const;
    void set_attr(const std::string& name, const char* value) const { set_attr(name, std::string(value)); }
    void set_attr(const std::string& name, double value) const;
    void set_attr(const std::string& name, std::int64_t value) const;
    void set_attr(const std::string& name, int value) const { set_attr(name, std::int64_t{value}); }
    void set_attr(const std::string& name, const std::vector<double>& value) const;
    void set_attr(const std::string& name, const std::vector<std::int64_t>& value) const;
    bool has_attr(const std::string& name) const;
    // Attribute readers. Each checks what it reads and throws Error naming the file, the object,
    // the attribute and the value: missing, an array where one value is expected, a string where a
    // number is expected (or the reverse), a value outside [lo, hi] (NaN is outside every range).
    // Integer readers also accept a float attribute holding an exact integer (files written before
    // index attributes were stored as integers).
    std::string attr_string(const std::string& name) const;  // at most kMaxStringBytes
    double attr_double(const std::string& name) const;       // any value, NaN and infinities included
    double attr_double(const std::string& name, double lo, double hi) const;
    std::int64_t attr_int(const std::string& name) const;    // any int64
    std::int64_t attr_int(const std::string& name, std::int64_t lo, std::int64_t hi) const;
    // A 1-D (or scalar) numeric attribute of at most max_count values.
    std::vector<double> attr_doubles(const std::string& name, std::size_t max_count = kMaxAttrValues) const;
    std::vector<std::int64_t> attr_ints(const std::string& name, std::int64_t lo, std::int64_t hi,
                                        std::size_t max_count = kMaxAttrValues) const;

    // The storage of float datasets written through this group and the groups created or opened
    // from it afterwards (float32 unless set).
    void set_float_storage(FloatStorage s) { float_storage_ = s; }

private:
    Handle h_;
    std::string where_;
    FloatStorage float_storage_ = FloatStorage::Float32;
};

// Every file flashmc writes begins with a 512-byte HDF5 user block, its integrity block:
//   "flashmc-hdf5-integrity 1\nbytes N\nsha256 HEX\n", NUL-padded to 512 bytes,
// N the number of bytes after the block and HEX the SHA-256 of exactly those bytes. Readers check
// it before libhdf5 parses a byte, so a truncated, corrupted or partly overwritten file is one Error
// naming it, never a crash inside libhdf5. It guards against accidents, not against a forged file.
// HDF5 tools and h5py read such files unchanged (a user block is standard HDF5).
inline constexpr std::size_t kIntegrityBlockBytes = 512;

// Opens an existing file read-only after checking its integrity block (the file is read into
// memory once); throws Error naming the path if it is missing, unverifiable or not HDF5.
Group open_read(const std::string& path);
// Edits a file: `edit` gets the root group of a writable in-memory copy (checked as open_read
// checks); the result is written atomically over `path` with a new integrity block.
void edit_file(const std::string& path, const std::function<void(const Group&)>& edit);
// Gives an HDF5 file without an integrity block (another tool's, or flashmc's from before the
// block) one, in place and atomically: the block is put before the file's bytes, which stay as
// they are. The file is trusted: libhdf5 parses it unchecked. Returns false (nothing written) for
// a file whose block is already valid; throws for one whose block does not match its content.
bool add_integrity_block(const std::string& path);
// The SHA-256 of a file's HDF5 data (the bytes after its integrity block), after checking the
// block: for a file stamped by add_integrity_block, the SHA-256 the file had before.
std::string content_sha256(const std::string& path);

// Writes `path` atomically: root() is the root group of a file that HDF5 builds in memory (HDF5
// itself never touches the disk, so a full disk cannot leave it with a half-closed file or an
// object id that crashes at exit). commit() flushes it, takes its image, closes the root group and
// the file, and hands the image to io::AtomicFile, which writes, syncs and renames it over `path`,
// or throws, leaving `path` as it was and no temporary behind. Destroyed without commit, nothing
// is written. A group created under root() may outlive commit(); it only keeps memory until closed.
class AtomicWrite {
public:
    explicit AtomicWrite(std::string path);
    // Starts from a copy of an existing file's image (with its integrity block; see edit_file).
    AtomicWrite(std::string path, const std::vector<char>& image);
    ~AtomicWrite();
    AtomicWrite(const AtomicWrite&) = delete;
    AtomicWrite& operator=(const AtomicWrite&) = delete;
    Group& root() { return *root_; }
    void commit();

private:
    std::string path_;
    io::AtomicFile out_;  // created first: a target that cannot be written fails before the work
    Handle file_;
    std::optional<Group> root_;
};

// Standard provenance attributes on a file's root: filetype, schema version, tool version,
// git commit, creation time.
void stamp(const Group& root, const std::string& filetype, int schema_version);

}  // namespace flashmc::h5
