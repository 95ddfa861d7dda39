#pragma once
// Writing a file so that its path only ever holds the previous content or the complete new one,
// also on a full disk, over a file-size limit or after kill -9. Every output of flashmc (HDF5
// files through h5::AtomicWrite, CSV files directly) goes through AtomicFile:
//   1. the bytes go to a temporary beside the target, `DIR/.NAME.tmp.<pid>.<n>`;
//   2. commit() checks every write, fsyncs and closes the temporary (checked), renames it over
//      the target and fsyncs the directory;
//   3. on any failure, and when destroyed without commit, the temporary is removed, the target is
//      left as it was, and one Error names the target and the system's reason.
// A run killed mid-write leaves its temporary behind; the next write of the same target removes
// the temporaries of processes that no longer run (and any older than a day).
// A target that exists and is not a regular file (a pipe, /dev/stdout) is written in place; a
// symbolic link to a file has the file it points to replaced, the link kept.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace flashmc::io {

class AtomicFile {
public:
    // Creates the target's directory if needed, removes stale temporaries of the target and
    // creates this write's temporary. Throws Error if it cannot.
    explicit AtomicFile(std::string path);
    ~AtomicFile();  // without commit(): the temporary is removed, the target untouched
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    // Buffered; throws Error (after removing the temporary) when the system refuses the bytes.
    void write(std::string_view bytes);
    void write(const void* data, std::size_t size) { write(std::string_view(static_cast<const char*>(data), size)); }
    // Puts the file in place: write out, fsync, close, rename, fsync the directory. Throws Error
    // (after removing the temporary; the target unchanged) if any step fails.
    void commit();

    const std::string& path() const { return path_; }
    const std::string& temporary() const { return tmp_; }

private:
    void write_out(const char* data, std::size_t size);
    void flush_buffer();
    [[noreturn]] void abandon(const std::string& what, int err);

    std::string path_, target_, tmp_;  // target_: path_, or the file a symbolic link path_ points to
    std::string buffer_;
    int fd_ = -1;
    bool direct_ = false;  // target is not a regular file: written in place
    bool done_ = false;
};

// The whole content at once: AtomicFile f(path); f.write(bytes); f.commit().
void write_file_atomic(const std::string& path, std::string_view bytes);

// The temporaries of `path` (this scheme's, and the `NAME.tmp.<pid>.<n>` of earlier versions)
// that lie in its directory, whoever wrote them.
std::vector<std::string> temporaries_of(const std::string& path);
// Removes those of processes that no longer run, or older than a day; returns how many.
int remove_stale_temporaries(const std::string& path);

}  // namespace flashmc::io
