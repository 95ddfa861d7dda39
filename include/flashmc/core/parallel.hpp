#pragma once
// OpenMP thread control. Results never depend on the count: work is split by deterministic keys,
// and reductions whose order could change bits are done in a fixed order.
namespace flashmc {
void set_threads(int n);  // n <= 0: leave OpenMP's default
int threads();
}  // namespace flashmc
