#pragma once
// One exception type for every user-facing failure. It carries its context (file, key, record,
// layer) in the message; main() prints it on one line and exits non-zero.
#include <sstream>
#include <stdexcept>
#include <string>

namespace flashmc {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// fail("file.bin: record ", 12, ": label ", 11, " > 9") builds the message from its parts.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    throw Error(os.str());
}

}  // namespace flashmc
