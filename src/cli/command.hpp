#pragma once
// The flashmc command line: one file per command (src/cli/cmd_*.cpp), each registering itself
// with a static Registration. Commands are thin: parse, call the library, print.
#include <map>
#include <string>
#include <vector>

namespace flashmc::cli {

// Parsed "--key value" / "--flag" / positional arguments. Every option a command reads is marked
// used; finish() rejects the rest, so a misspelled option never passes silently.
class Args {
public:
    Args(std::string command, std::vector<std::string> argv);
    bool flag(const std::string& name);                       // --name present (no value)
    std::string str(const std::string& name, const std::string& fallback);
    std::string required(const std::string& name);
    long integer(const std::string& name, long fallback);
    double number(const std::string& name, double fallback);
    std::vector<std::string> all(const std::string& name);    // repeated option, e.g. --set
    bool has(const std::string& name);
    const std::vector<std::string>& positional() const { return positional_; }
    // Throws on unread options and on more than `max_positional` positional arguments.
    void finish(std::size_t max_positional = 0);
    int threads();                                            // --threads N (0: all cores), applied to OpenMP
    std::string command_line() const;                         // "flashmc CMD ARGS..." as given (provenance)

private:
    std::string command_;
    std::vector<std::string> argv_;
    std::multimap<std::string, std::string> options_;
    std::map<std::string, bool> used_;
    std::vector<std::string> positional_;
    std::vector<std::size_t> positional_at_;  // their indices in argv, ascending
};

struct Command {
    const char* name;
    const char* summary;
    const char* usage;
    int (*run)(Args&);
};

std::map<std::string, Command>& registry();

struct Registration {
    explicit Registration(Command c) { registry()[c.name] = c; }
};

}  // namespace flashmc::cli
