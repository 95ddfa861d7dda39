#include "flashmc/io/junit.hpp"

#include <cstdio>

#include "flashmc/io/atomic_file.hpp"

namespace flashmc::io {

namespace {

// Escapes &, <, >, " and ' (in an attribute also tab, newline and carriage return, which a parser
// would turn into spaces) and replaces what XML 1.0 forbids (other control characters, malformed
// UTF-8) by U+FFFD.
std::string escape(const std::string& s, bool attribute = true) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '&': out += "&amp;"; break;
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '"': out += "&quot;"; break;
                case '\'': out += "&apos;"; break;
                case '\t': out += attribute ? "&#9;" : "\t"; break;
                case '\n': out += attribute ? "&#10;" : "\n"; break;
                case '\r': out += "&#13;"; break;
                default: out += (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f ? "\xEF\xBF\xBD" : std::string(1, s[i]);
            }
            ++i;
            continue;
        }
        // A well-formed UTF-8 sequence passes whole; anything else is one replacement character.
        const std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = len > 0 && i + len <= s.size() && c >= 0xC2 && c <= 0xF4;
        for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (ok && len == 3) {  // no overlong forms, no surrogates, no U+FFFE/U+FFFF
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0) &&
                 !(c == 0xEF && c1 == 0xBF && static_cast<unsigned char>(s[i + 2]) >= 0xBE);
        }
        if (ok && len == 4) {
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
        }
        if (ok) {
            out.append(s, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

std::string seconds(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", s >= 0 ? s : 0.0);
    return b;
}

}  // namespace

std::string junit_xml(const JunitSuite& suite) {
    long failures = 0, errors = 0, skipped = 0;
    for (const auto& c : suite.cases) {
        failures += c.outcome == JunitCase::Outcome::failure;
        errors += c.outcome == JunitCase::Outcome::error;
        skipped += c.outcome == JunitCase::Outcome::skipped;
    }
    const std::string counts = " tests=\"" + std::to_string(suite.cases.size()) + "\" failures=\"" + std::to_string(failures) +
                               "\" errors=\"" + std::to_string(errors) + "\"";
    std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    x += "<testsuites name=\"" + escape(suite.name) + "\"" + counts + " time=\"" + seconds(suite.time_s) + "\">\n";
    x += "  <testsuite name=\"" + escape(suite.name) + "\"" + counts + " skipped=\"" + std::to_string(skipped) + "\" time=\"" +
         seconds(suite.time_s) + "\"" + (suite.timestamp.empty() ? "" : " timestamp=\"" + escape(suite.timestamp) + "\"") + ">\n";
    for (const auto& c : suite.cases) {
        x += "    <testcase classname=\"" + escape(c.classname) + "\" name=\"" + escape(c.name) + "\" time=\"" + seconds(c.time_s) + "\"";
        const char* tag = c.outcome == JunitCase::Outcome::failure ? "failure"
                          : c.outcome == JunitCase::Outcome::skipped ? "skipped"
                          : c.outcome == JunitCase::Outcome::error   ? "error"
                                                                     : nullptr;
        if (!tag && c.system_out.empty()) {
            x += "/>\n";
            continue;
        }
        x += ">\n";
        if (tag)
            x += std::string("      <") + tag + " message=\"" + escape(c.message) + "\">" + escape(c.detail, false) + "</" + tag + ">\n";
        if (!c.system_out.empty()) x += "      <system-out>" + escape(c.system_out, false) + "</system-out>\n";
        x += "    </testcase>\n";
    }
    x += "  </testsuite>\n</testsuites>\n";
    return x;
}

void write_junit(const std::string& path, const JunitSuite& suite) { write_file_atomic(path, junit_xml(suite)); }

}  // namespace flashmc::io
