#pragma once
// Shared by the device parameter structs: validate_fields(p) checks every field that
// P::each_field lists against its range, naming it "section.key".
#include <string>

#include "flashmc/io/toml.hpp"

namespace flashmc::device {

template <class P>
void validate_fields(const P& p) {
    P::each_field(p, [](const char* key, const auto& value, Range range) {
        check_range(std::string(P::section) + "." + key, static_cast<double>(value), range);
    });
}

}  // namespace flashmc::device
