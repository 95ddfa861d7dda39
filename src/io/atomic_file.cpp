#include "flashmc/io/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "flashmc/core/error.hpp"

namespace flashmc::io {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBufferBytes = 1 << 16;
constexpr double kStaleAfterSeconds = 24 * 3600.0;  // a temporary this old is stale even if its pid runs

std::string directory_of(const std::string& path) {
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The pid in a temporary's name `[.]NAME.tmp.<pid>.<n>`, or -1 if `file` is not one of `name`'s.
long temporary_pid(const std::string& file, const std::string& name) {
    for (const std::string& prefix : {"." + name + ".tmp.", name + ".tmp."}) {
        if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string_view rest = std::string_view(file).substr(prefix.size());
        const auto dot = rest.find('.');
        if (dot == std::string_view::npos || !all_digits(rest.substr(0, dot)) || !all_digits(rest.substr(dot + 1)) || dot > 9)
            continue;
        return std::stol(std::string(rest.substr(0, dot)));
    }
    return -1;
}

bool process_runs(long pid) {
    if (pid <= 0) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::vector<std::string> temporaries_of(const std::string& path) {
    std::vector<std::string> out;
    const std::string name = fs::path(path).filename().string();
    if (name.empty()) return out;
    std::error_code ec;
    for (fs::directory_iterator it(directory_of(path), ec), end; !ec && it != end; it.increment(ec)) {
        const std::string file = it->path().filename().string();
        if (temporary_pid(file, name) >= 0) out.push_back(it->path().string());
    }
    return out;
}

int remove_stale_temporaries(const std::string& path) {
    const std::string name = fs::path(path).filename().string();
    const long self = static_cast<long>(::getpid());
    const auto now = fs::file_time_type::clock::now();
    int removed = 0;
    for (const std::string& tmp : temporaries_of(path)) {
        const long pid = temporary_pid(fs::path(tmp).filename().string(), name);
        std::error_code ec;
        const auto mtime = fs::last_write_time(tmp, ec);
        const bool old = !ec && std::chrono::duration<double>(now - mtime).count() > kStaleAfterSeconds;
        // A live process's temporary may be a write in progress (this process's too): leave it.
        if (old || (pid != self && !process_runs(pid)))
            if (::unlink(tmp.c_str()) == 0) ++removed;
    }
    return removed;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), target_(path_) {
    if (path_.empty()) fail("cannot write a file with an empty name");
    const fs::path parent = fs::path(path_).parent_path();
    if (!parent.empty()) {
        std::error_code ec;
        if (!fs::is_directory(parent, ec)) {
            fs::create_directories(parent, ec);
            if (ec) fail(path_, ": cannot create directory ", parent.string(), ": ", ec.message());
        }
    }
    struct stat st;
    const bool target_exists = ::stat(path_.c_str(), &st) == 0;
    if (target_exists && S_ISDIR(st.st_mode)) fail(path_, ": is a directory");
    if (target_exists && !S_ISREG(st.st_mode)) {
        // A pipe, a terminal, /dev/stdout: no rename is possible; write straight into it.
        direct_ = true;
        fd_ = ::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd_ < 0) fail(path_, ": cannot open for writing: ", std::strerror(errno));
        return;
    }
    // A symbolic link to a file: replace the file it points to, not the link.
    struct stat link;
    if (target_exists && ::lstat(path_.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
        std::error_code ec;
        const fs::path real = fs::canonical(path_, ec);
        if (!ec) target_ = real.string();
    }
    remove_stale_temporaries(target_);
    static std::atomic<unsigned> counter{0};
    const fs::path target_dir = fs::path(target_).parent_path();
    const std::string dir = target_dir.empty() ? std::string() : target_dir.string() + "/";
    const std::string stem = dir + "." + fs::path(target_).filename().string() + ".tmp." + std::to_string(::getpid()) + ".";
    for (int attempt = 0; fd_ < 0; ++attempt) {
        tmp_ = stem + std::to_string(counter++);
        fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd_ < 0 && (errno != EEXIST || attempt > 100))
            fail(path_, ": cannot create temporary file ", tmp_, ": ", std::strerror(errno));
    }
    // The new file keeps the permissions of the one it replaces.
    if (target_exists) (void)::fchmod(fd_, st.st_mode & 07777);
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!done_ && !direct_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::abandon(const std::string& what, int err) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    std::string outcome;
    if (direct_) {
        outcome = " (written in place: the output is incomplete)";
    } else {
        ::unlink(tmp_.c_str());
        outcome = exists(target_) ? "; the previous file is left unchanged" : "; no file was written";
    }
    done_ = true;
    buffer_.clear();
    fail(path_, ": ", what, ": ", std::strerror(err), outcome);
}

void AtomicFile::write_out(const char* p, std::size_t left) {
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) abandon("cannot write", n < 0 ? errno : ENOSPC);
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

void AtomicFile::flush_buffer() {
    write_out(buffer_.data(), buffer_.size());
    buffer_.clear();
}

void AtomicFile::write(std::string_view bytes) {
    if (done_ || fd_ < 0) fail(path_, ": write after the file was committed or abandoned");
    if (buffer_.size() + bytes.size() > kBufferBytes) {
        flush_buffer();
        if (bytes.size() > kBufferBytes) return write_out(bytes.data(), bytes.size());
    }
    buffer_.append(bytes);
}

void AtomicFile::commit() {
    if (done_ || fd_ < 0) fail(path_, ": committed twice or after a failure");
    flush_buffer();
    if (!direct_ && ::fsync(fd_) != 0) abandon("cannot sync to disk", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) abandon("cannot close", errno);
    if (direct_) {
        done_ = true;
        return;
    }
    if (::rename(tmp_.c_str(), target_.c_str()) != 0) abandon("cannot rename " + tmp_ + " into place", errno);
    done_ = true;
    // The rename itself must reach the disk: sync the directory (some file systems cannot: EINVAL).
    const int dir = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        const int rc = ::fsync(dir), err = errno;
        ::close(dir);
        if (rc != 0 && err != EINVAL && err != ENOTSUP && err != EROFS)
            fail(path_, ": written, but its directory could not be synced to disk: ", std::strerror(err));
    }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
    AtomicFile f(path);
    f.write(bytes);
    f.commit();
}

}  // namespace flashmc::io
