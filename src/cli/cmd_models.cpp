#include <cstdio>

#include "command.hpp"
#include "flashmc/nn/zoo.hpp"

namespace flashmc::cli {
namespace {
int run(Args& a) {
    a.finish();
    std::printf("%-10s %12s %14s  %s\n", "model", "parameters", "MACs/image", "description");
    for (const auto& e : nn::zoo()) {
        nn::Model m = nn::build_model(e.name, 0);
        std::printf("%-10s %12ld %14ld  %s\n", e.name.c_str(), m.parameter_count(), m.macs_per_image(), e.description.c_str());
    }
    return 0;
}
const Registration reg({"models", "list the model zoo with parameter counts and MACs per image", "flashmc models", run});
}  // namespace
}  // namespace flashmc::cli
