//! Conversions of Philox words to uniform, exponential and Gumbel variates. Host and device.
#pragma once

#include <cmath>
#include <cstdint>

#include "specdec/core/config.hpp"
#include "specdec/core/philox.hpp"

namespace specdec {
inline namespace v0 {

//! A float uniform in the open interval (0, 1) from one 32-bit word: `((x >> 9) + 0.5) * 2^-23`.
//! 23 random bits plus the half make a 24-bit significand, exact in float, so the result lies in
//! [2^-24, 1 - 2^-24] and is never 0 or 1. (The tempting `(x + 0.5) * 2^-32` and
//! `((x >> 8) + 0.5) * 2^-24` both round to 1.0f for the largest words, which breaks `u < p / q`
//! tests and `-log(u)` draws.)
[[nodiscard]] SPECDEC_HD constexpr float uniform_float(std::uint32_t x) noexcept {
  return (static_cast<float>(x >> 9) + 0.5f) * 0x1p-23f;
}

//! A double uniform in (0, 1) from two words: 52 random bits (all of `hi`, the top 20 of `lo`) plus
//! the half make a 53-bit significand, exact in double, so the result lies in [2^-53, 1 - 2^-53].
//! (With 53 random bits, k + 0.5 needs 54 bits and the largest k rounds to exactly 1.0.)
[[nodiscard]] SPECDEC_HD constexpr double uniform_double(std::uint32_t hi, std::uint32_t lo) noexcept {
  const std::uint64_t k = (static_cast<std::uint64_t>(hi) << 20) | (lo >> 12);
  return (static_cast<double>(k) + 0.5) * 0x1p-52;
}

//! An Exp(1) variate from a uniform in (0, 1): -log(u), positive and finite.
[[nodiscard]] SPECDEC_HD inline float exponential_from_uniform(float u) noexcept {
#if SPECDEC_DEVICE_PASS
  return -logf(u);
#else
  return -std::log(u);
#endif
}

//! A standard Gumbel variate from a uniform in (0, 1): -log(-log(u)), finite for every u the
//! conversions above produce (|g| < 17 in float).
[[nodiscard]] SPECDEC_HD inline float gumbel_from_uniform(float u) noexcept {
#if SPECDEC_DEVICE_PASS
  return -logf(-logf(u));
#else
  return -std::log(-std::log(u));
#endif
}

//! The float uniform for vocabulary entry (or draw) `i` at `address`.
[[nodiscard]] SPECDEC_HD constexpr float uniform_float(const random_address& address, std::uint32_t i) noexcept {
  return uniform_float(address.word(i));
}

//! The double uniform at `address`, from words 0 and 1 of block 0 (one decision per address).
[[nodiscard]] SPECDEC_HD constexpr double uniform_double(const random_address& address) noexcept {
  const philox_words b = address.block(0);
  return uniform_double(b.w[0], b.w[1]);
}

} // namespace v0
} // namespace specdec
