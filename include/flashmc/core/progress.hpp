#pragma once
// Progress reporting: on a terminal a one-line bar with rate and ETA, redrawn in place; otherwise
// (logs, CI) a plain line at most every `interval_s` seconds and one at the end.
#include <chrono>
#include <cstdio>
#include <string>

namespace flashmc {

class Progress {
public:
    Progress(std::string label, long total, double interval_s = 10.0, std::FILE* out = stderr);
    // Report `done` units finished; `extra` is appended (e.g. "loss 1.23").
    void update(long done, const std::string& extra = "");
    void finish(const std::string& extra = "");
    double elapsed_s() const;

private:
    void draw(long done, const std::string& extra, bool final);
    std::string label_;
    long total_;
    double interval_s_;
    std::FILE* out_;
    bool tty_;
    std::chrono::steady_clock::time_point start_, last_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace flashmc
