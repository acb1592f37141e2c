//! The heap allocations of the test process so far, counted by a replaced global `operator new`
//! (defined once per test executable, in tests/support/allocation_counter.cpp), to prove that a steady
//! state allocates nothing.
#pragma once

#include <cstdint>

namespace specdec_test {

//! Every `operator new` call of the process so far (all threads).
std::int64_t allocations() noexcept;

} // namespace specdec_test
