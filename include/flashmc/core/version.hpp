#pragma once
#include <string>

namespace flashmc {
std::string version();     // e.g. "0.1.0"
std::string git_commit();  // short commit hash at build time, or "unknown"
std::string now_iso8601(); // current UTC time, e.g. "2026-11-24T23:50:00Z"
}  // namespace flashmc
