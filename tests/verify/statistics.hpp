// Shared settings and helpers of the statistical verifier tests.
#pragma once

#include <cstdint>

#include <specdec/sampling/sampling_params.hpp>

namespace specdec_test {

// Sampling parameters in one line: temperature, then top-k, top-p, min-p (each "off" by default).
inline specdec::sampling_params params(float temperature, std::int32_t top_k = -1, float top_p = 1.0f,
                                       float min_p = 0.0f) {
  specdec::sampling_params p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  return p;
}

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

// A meta-test pairs a fault with a configuration where its exact TV distance from the target is at
// least 0.02: the first model seed from `seed` on (100 tried) whose `exact_tv(seed)` reaches it.
struct detectable_config {
  std::uint64_t seed;
  double tv;
};

template <class ExactTv>
detectable_config first_detectable(std::uint64_t seed, ExactTv&& exact_tv) {
  for (int tries = 0; tries < 100; ++tries, ++seed) {
    const double tv = exact_tv(seed);
    if (tv >= 0.02) return {seed, tv};
  }
  return {seed, 0.0};
}

}  // namespace specdec_test
