#pragma once
// One exception type for every user-facing failure. It carries its context (file, key, record,
// layer) in the message; main() prints it on one line and exits non-zero.
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

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

// A value read from a file or the command line, as an error message shows it: at most `max`
// characters, cut with "…" (a 1 MB string in a file must not become a 1 MB message).
inline std::string abbreviate(std::string_view value, std::size_t max = 80) {
    if (value.size() <= max) return std::string(value);
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    return std::string(value.substr(0, cut)) + "\u2026 (" + std::to_string(value.size()) + " bytes)";
}

}  // namespace flashmc
