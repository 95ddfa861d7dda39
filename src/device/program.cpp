#include "flashmc/device/program.hpp"

#include <algorithm>
#include <cmath>

#include "flashmc/core/error.hpp"
#include "flashmc/device/params.hpp"

namespace flashmc::device {

void EraseParams::validate() const {
    validate_fields(*this);
    if (verify_vth_v < mean_vth_v)
        fail("erase.verify_vth_v = ", verify_vth_v, " must not lie below erase.mean_vth_v = ", mean_vth_v,
             " (the erase verify would reject most of the erased distribution)");
}

void ProgramParams::validate() const {
    validate_fields(*this);
    if (double_verify() && coarse_margin_v < coarse_step_v)
        fail("program.coarse_margin_v = ", coarse_margin_v, " must be at least program.coarse_step_v = ", coarse_step_v,
             " (the coarse ladder must stop below the target)");
}

}  // namespace flashmc::device
