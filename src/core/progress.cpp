#include "flashmc/core/progress.hpp"

#include <unistd.h>

#include <cmath>

namespace flashmc {

std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    char buf[32];
    long t = std::lround(s);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%lds", t);
    return buf;
}

Progress::Progress(std::string label, long total, double interval_s, std::FILE* out)
    : label_(std::move(label)), total_(total), interval_s_(interval_s), out_(out),
      tty_(isatty(fileno(out)) != 0), start_(std::chrono::steady_clock::now()), last_(start_) {}

double Progress::elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(long done, const std::string& extra) {
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_).count();
    if (since < (tty_ ? 0.2 : interval_s_)) return;
    last_ = now;
    draw(done, extra, false);
}

void Progress::finish(const std::string& extra) { draw(total_, extra, true); }

void Progress::draw(long done, const std::string& extra, bool final) {
    double el = elapsed_s();
    double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
    double eta = done > 0 ? el * (total_ - done) / done : NAN;
    if (tty_) {
        const int width = 28;
        int filled = static_cast<int>(frac * width);
        std::string bar(filled, '#');
        bar.resize(width, '.');
        std::fprintf(out_, "\r%s [%s] %ld/%ld %s ETA %s %s\033[K", label_.c_str(), bar.c_str(), done,
                     total_, format_duration(el).c_str(), final ? "0s" : format_duration(eta).c_str(),
                     extra.c_str());
        if (final) std::fputc('\n', out_);
    } else {
        std::fprintf(out_, "%s: %ld/%ld (%.0f%%) elapsed %s ETA %s %s\n", label_.c_str(), done, total_,
                     100.0 * frac, format_duration(el).c_str(),
                     final ? "0s" : format_duration(eta).c_str(), extra.c_str());
    }
    std::fflush(out_);
}

}  // namespace flashmc
