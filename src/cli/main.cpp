#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "command.hpp"
#include "flashmc/core/error.hpp"
#include "flashmc/core/parallel.hpp"
#include "flashmc/core/version.hpp"

namespace flashmc::cli {

namespace {
const std::string kNoValue(1, '\x01');  // marks an option given without a value
}  // namespace

std::map<std::string, Command>& registry() {
    static std::map<std::string, Command> r;
    return r;
}

Args::Args(std::string command, std::vector<std::string> argv) : command_(std::move(command)), argv_(argv) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.size() > 2 && a.rfind("--", 0) == 0) {
            std::string key = a.substr(2), value;
            bool has_value = false;
            if (auto eq = key.find('='); eq != std::string::npos) {
                value = key.substr(eq + 1);
                key = key.substr(0, eq);
                has_value = true;
            } else if (i + 1 < argv.size() && (argv[i + 1].rfind("--", 0) != 0 || argv[i + 1].size() == 2)) {
                value = argv[++i];
                has_value = true;
            }
            options_.emplace(key, has_value ? value : kNoValue);
        } else if (a == "-o" && i + 1 < argv.size()) {
            options_.emplace("out", argv[++i]);
        } else {
            positional_.push_back(a);
            positional_at_.push_back(i);
        }
    }
}

bool Args::has(const std::string& name) {
    used_[name] = true;
    return options_.count(name) > 0;
}

bool Args::flag(const std::string& name) {
    used_[name] = true;
    auto it = options_.find(name);
    if (it == options_.end()) return false;
    if (it->second != kNoValue) {
        // A flag followed by a positional argument: give the argument back, in its place among
        // the others ("convert --half IN OUT" keeps IN first).
        const auto flag_at = static_cast<std::size_t>(std::find(argv_.begin(), argv_.end(), "--" + name) - argv_.begin());
        const auto k = std::upper_bound(positional_at_.begin(), positional_at_.end(), flag_at) - positional_at_.begin();
        positional_.insert(positional_.begin() + k, it->second);
        positional_at_.insert(positional_at_.begin() + k, flag_at + 1);
        it->second = kNoValue;
    }
    return true;
}

std::string Args::str(const std::string& name, const std::string& fallback) {
    used_[name] = true;
    if (options_.count(name) > 1) fail(command_, ": option --", name, " given more than once");
    auto it = options_.find(name);
    if (it == options_.end()) return fallback;
    // An empty value ("--out ''", "--threads=") is a mistake, never a request for the default.
    if (it->second == kNoValue || it->second.empty()) fail(command_, ": option --", name, " needs a value");
    return it->second;
}

std::string Args::required(const std::string& name) {
    if (!has(name)) fail(command_, ": missing required option --", name);
    return str(name, "");
}

long Args::integer(const std::string& name, long fallback) {
    if (!has(name)) return fallback;
    const std::string s = str(name, "");
    try {
        std::size_t pos = 0;
        long v = std::stol(s, &pos);
        if (pos != s.size()) throw std::invalid_argument(s);
        return v;
    } catch (const std::exception&) {
        fail(command_, ": option --", name, " expects an integer, got '", abbreviate(s), "'");
    }
}

double Args::number(const std::string& name, double fallback) {
    if (!has(name)) return fallback;
    const std::string s = str(name, "");
    try {
        std::size_t pos = 0;
        double v = std::stod(s, &pos);
        // NaN and infinity mean nothing to any option (a NaN --checkpoint-s would never checkpoint).
        if (pos != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
        return v;
    } catch (const std::exception&) {
        fail(command_, ": option --", name, " expects a finite number, got '", abbreviate(s), "'");
    }
}

std::vector<std::string> Args::all(const std::string& name) {
    used_[name] = true;
    std::vector<std::string> out;
    auto [b, e] = options_.equal_range(name);
    for (auto it = b; it != e; ++it) {
        if (it->second == kNoValue || it->second.empty()) fail(command_, ": option --", name, " needs a value");
        out.push_back(it->second);
    }
    return out;
}

int Args::threads() {
    const long n = integer("threads", 0);
    if (n < 0 || n > 4096) fail(command_, ": option --threads expects 0 (all cores) to 4096, got ", n);
    set_threads(static_cast<int>(n));
    return static_cast<int>(n);
}

std::string Args::command_line() const {
    std::string s = "flashmc " + command_;
    for (const auto& a : argv_) {
        // Quote what a shell would split or expand.
        const bool plain = !a.empty() && a.find_first_of(" \t\"'\\$`*?[]{}();&|<>~#!") == std::string::npos;
        if (plain) {
            s += " " + a;
            continue;
        }
        s += " '";
        for (char ch : a) s += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
        s += "'";
    }
    return s;
}

void Args::finish(std::size_t max_positional) {
    for (auto& [k, v] : options_)
        if (!used_.count(k)) fail(command_, ": unknown option --", abbreviate(k), " (see 'flashmc help ", command_, "')");
    if (positional_.size() > max_positional)
        fail(command_, ": unexpected argument '", abbreviate(positional_[max_positional]), "' (see 'flashmc help ", command_, "')");
}

}  // namespace flashmc::cli

namespace {
void print_help() {
    std::printf("flashmc %s (%s): Monte Carlo robustness analysis of NOR-Flash compute-in-memory CNNs\n\n",
                flashmc::version().c_str(), flashmc::git_commit().c_str());
    std::printf("usage: flashmc <command> [options]    (flashmc help <command> for its options)\n\ncommands:\n");
    for (auto& [name, c] : flashmc::cli::registry()) std::printf("  %-12s %s\n", name.c_str(), c.summary);
}
}  // namespace

int main(int argc, char** argv) {
    using namespace flashmc::cli;
    // Over a file-size limit (ulimit -f) a write fails with EFBIG, reported like a full disk,
    // instead of the default SIGXFSZ killing the process mid-write.
    std::signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        if (argc >= 3 && registry().count(argv[2])) {
            auto& c = registry()[argv[2]];
            std::printf("flashmc %s: %s\n\n%s\n", c.name, c.summary, c.usage);
            return 0;
        }
        if (argc >= 3) {
            std::fprintf(stderr, "flashmc help: unknown command '%s' (try 'flashmc help')\n", flashmc::abbreviate(argv[2]).c_str());
            return 2;
        }
        print_help();
        return argc < 2 ? 2 : 0;
    }
    if (std::string(argv[1]) == "--version") {
        std::printf("flashmc %s (%s)\n", flashmc::version().c_str(), flashmc::git_commit().c_str());
        return 0;
    }
    auto it = registry().find(argv[1]);
    if (it == registry().end()) {
        std::fprintf(stderr, "flashmc: unknown command '%s' (try 'flashmc help')\n", flashmc::abbreviate(argv[1]).c_str());
        return 2;
    }
    try {
        Args args(argv[1], std::vector<std::string>(argv + 2, argv + argc));
        if (args.flag("help")) {
            std::printf("flashmc %s: %s\n\n%s\n", it->second.name, it->second.summary, it->second.usage);
            return 0;
        }
        return it->second.run(args);
    } catch (const flashmc::Error& e) {
        std::fprintf(stderr, "flashmc %s: error: %s\n", argv[1], e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flashmc %s: internal error: %s\n", argv[1], e.what());
        return 3;
    }
}
