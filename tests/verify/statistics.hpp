// Shared settings of the statistical verifier tests.
#pragma once

#include <cstdint>

namespace specdec_test {

// Per-test significance. The suite runs about 40 statistical tests, so by Bonferroni a correct
// implementation fails anywhere with probability < 40 * 1e-6 = 4e-5 (< 1e-3 as required).
inline constexpr double alpha = 1e-6;

#if SPECDEC_SANITIZE_BUILD
// The sanitizer tier checks memory safety, not statistics: few samples, and no power assertions.
inline constexpr std::uint64_t trials = 10000;
inline constexpr bool has_power = false;
#else
inline constexpr std::uint64_t trials = 200000;
inline constexpr bool has_power = true;
#endif

}  // namespace specdec_test
