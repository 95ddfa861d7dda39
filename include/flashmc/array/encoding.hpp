#pragma once
// Input encoding of unsigned activation codes c ∈ {0 … 2^B − 1} on word lines (docs/array.md §2).
//   pulse_width  the word line is at V_read for the fraction c / (2^B − 1) of the read period and at
//                0 V otherwise: every conducting cell sits at the read operating point, the charge
//                is linear in c; one conversion per period.
//   bit_serial   B cycles; in cycle b the word line is at V_read if bit b of c is set: every cycle is
//                a DC read of a 0/1 pattern; the ADC converts each cycle and the digital side adds
//                the codes shifted by b.
#include <string>

namespace flashmc::array {

enum class InputEncoding { pulse_width, bit_serial };
InputEncoding parse_input_encoding(const std::string& s);  // "pulse_width" | "bit_serial"
const char* to_string(InputEncoding e);

}  // namespace flashmc::array
