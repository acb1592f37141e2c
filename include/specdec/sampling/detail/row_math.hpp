//! Vectorisable row kernels behind argmax, logsumexp, softmax and top-p: a checked maximum and sums of
//! exponentials in double, written as fixed-width lane loops that the compiler turns into SIMD, and
//! compiled again for AVX2 and AVX-512, the widest that the running CPU has chosen at run time.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>

#include "specdec/core/config.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

inline constexpr std::size_t row_lanes = 16;  // independent accumulators: enough for AVX-512 widths

// The lane lambdas must inline into each target-specific copy of their loop, or the loop stays scalar.
#if defined(__GNUC__) || defined(__clang__)
#define SPECDEC_ROW_LAMBDA_INLINE __attribute__((always_inline))
#else
#define SPECDEC_ROW_LAMBDA_INLINE
#endif  // independent accumulators: enough for AVX-512 widths

//! exp(x) for x <= 0 (or -inf), accurate to about 2 ulp and free of float selects, so that loops over it
//! vectorise under the default -ftrapping-math: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2,
//! the classic degree-6 minimax polynomial for e^r (Cephes' expf coefficients), and 2^n built in the
//! exponent bits. Where the reduction gives n < -126 (x below about -87.6, -inf included) the result
//! is exactly 0, by an integer mask; just above, a few results are subnormal.
//! Every input x <= 0 is defined, however negative: n is read from the bits of x * log2e + 1.5 * 2^23,
//! which hold n only while that sum stays in [2^23, 2^24) -- below x of about -2.9e6 they are those of a
//! smaller or negative float. The integer arithmetic is therefore modulo 2^32 (unsigned: no signed
//! overflow, which once made x in (-1.74e7, -8.7e6] undefined), and the mask keeps exactly n in
//! [-126, 0]: every misread n falls outside that window, so such x give exactly 0 as they must.
//! Every use here exponentiates logits minus their maximum, which are <= 0; a positive x gives 0 for
//! n >= 1 (not a use the library makes).
[[nodiscard]] SPECDEC_FORCEINLINE float exp_nonpositive(float x) noexcept {
  constexpr float log2e = 1.44269504088896341f;
  constexpr float ln2_hi = 0.693359375f;  // ln 2 split so that n * ln2_hi is exact
  constexpr float ln2_lo = -2.12194440e-4f;
  constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float shifted = x * log2e + round_magic;
  const float n = shifted - round_magic;
  // n modulo 2^32 while shifted is in [2^23, 2^24); some value outside [-126, 0] otherwise (see above).
  const std::uint32_t n_bits = std::bit_cast<std::uint32_t>(shifted) - std::bit_cast<std::uint32_t>(round_magic);
  const float r = (x - n * ln2_hi) - n * ln2_lo;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  const float e_r = poly * r * r + r + 1.0f;
  // n in [-126, 0] <=> n + 126 in [0, 126] as unsigned: 2^n is a normal float. Outside, all bits are
  // masked off (the NaN that -inf makes of r included).
  const std::uint32_t in_range = 0u - static_cast<std::uint32_t>(n_bits + 126u <= 126u);
  const float scale = std::bit_cast<float>(((n_bits + 127u) & in_range) << 23);
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(e_r * scale) & in_range);
}

//! Maps a float's bits to an int32 that orders like the float (for non-NaN values).
[[nodiscard]] constexpr std::int32_t ordered_key(std::int32_t bits) noexcept {
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

//! The maximum of a row, the lowest index holding it, and whether any entry is NaN or +inf (`bad`), in
//! one vectorisable pass of integer operations on the bits. Rows shorter than 2^31.
struct checked_max_result {
  float max;
  std::int32_t index;
  bool bad;
};

//! The lane loop of `checked_max`, compiled once per instruction set by the wrappers below.
[[nodiscard]] SPECDEC_FORCEINLINE checked_max_result checked_max_lanes(std::span<const float> row) noexcept {
  constexpr std::int32_t positive_inf = 0x7f800000;
  const std::int32_t lowest = ordered_key(std::bit_cast<std::int32_t>(-std::numeric_limits<float>::infinity()));
  std::int32_t lane_max[row_lanes];
  std::int32_t lane_index[row_lanes];
  std::int32_t lane_bad[row_lanes];
  for (std::size_t j = 0; j < row_lanes; ++j) {
    lane_max[j] = lowest;
    lane_index[j] = static_cast<std::int32_t>(j);
    lane_bad[j] = 0;
  }
  const auto lane = [&](std::size_t j, std::size_t i) SPECDEC_ROW_LAMBDA_INLINE {
    const std::int32_t bits = std::bit_cast<std::int32_t>(row[i]);
    // NaN: magnitude bits above +inf's; +inf: exactly its bits (-inf is allowed).
    lane_bad[j] |= static_cast<std::int32_t>((bits & 0x7fffffff) > positive_inf) | static_cast<std::int32_t>(bits == positive_inf);
    const std::int32_t key = ordered_key(bits);
    const bool greater = key > lane_max[j];  // strict: each lane keeps its first maximum
    lane_max[j] = greater ? key : lane_max[j];
    lane_index[j] = greater ? static_cast<std::int32_t>(i) : lane_index[j];
  };
  const std::size_t n = row.size();
  const std::size_t full = n - n % row_lanes;
  for (std::size_t i = 0; i < full; i += row_lanes) {
    for (std::size_t j = 0; j < row_lanes; ++j) lane(j, i + j);
  }
  for (std::size_t i = full; i < n; ++i) lane(i - full, i);
  checked_max_result out{0.0f, lane_index[0], false};
  std::int32_t max = lane_max[0];
  std::int32_t bad = 0;
  for (std::size_t j = 0; j < row_lanes; ++j) {
    if (lane_max[j] > max || (lane_max[j] == max && lane_index[j] < out.index)) {
      max = lane_max[j];
      out.index = lane_index[j];
    }
    bad |= lane_bad[j];
  }
  out.max = std::bit_cast<float>(ordered_key(max));  // ordered_key is its own inverse
  out.bad = bad != 0;
  return out;
}

//! The lane loop of `sum_exp`: lane j sums the entries j, j + 16, ... in increasing order, then the tail
//! and the lanes are added in a fixed order. Each instruction set runs the same float and double
//! operations in the same order, so every path gives the same bits.
[[nodiscard]] SPECDEC_FORCEINLINE double sum_exp_lanes(std::span<const float> row, float shift, float divisor) noexcept {
  double lane_sum[row_lanes] = {};
  const std::size_t n = row.size();
  const std::size_t full = n - n % row_lanes;
  for (std::size_t i = 0; i < full; i += row_lanes) {
    for (std::size_t j = 0; j < row_lanes; ++j) {
      lane_sum[j] += static_cast<double>(exp_nonpositive((row[i + j] - shift) / divisor));
    }
  }
  double sum = 0.0;
  for (std::size_t i = full; i < n; ++i) sum += static_cast<double>(exp_nonpositive((row[i] - shift) / divisor));
  for (std::size_t j = 0; j < row_lanes; ++j) sum += lane_sum[j];
  return sum;
}

//! w_i = exp_nonpositive(row_i) into `weights`, and their sum in double in exactly `sum_exp(row, 0, 1)`'s
//! order (the same lanes; `(x - 0) / 1 == x` for every x, so the same bits), for top-p.
[[nodiscard]] SPECDEC_FORCEINLINE double exp_and_sum_lanes(std::span<const float> row, float* weights) noexcept {
  double lane_sum[row_lanes] = {};
  const std::size_t n = row.size();
  const std::size_t full = n - n % row_lanes;
  for (std::size_t i = 0; i < full; i += row_lanes) {
    for (std::size_t j = 0; j < row_lanes; ++j) {
      const float e = exp_nonpositive(row[i + j]);
      weights[i + j] = e;
      lane_sum[j] += static_cast<double>(e);
    }
  }
  double sum = 0.0;
  for (std::size_t i = full; i < n; ++i) {
    const float e = exp_nonpositive(row[i]);
    weights[i] = e;
    sum += static_cast<double>(e);
  }
  for (std::size_t j = 0; j < row_lanes; ++j) sum += lane_sum[j];
  return sum;
}

//! The instruction sets the row kernels are compiled for. `baseline` is whatever the including
//! translation unit targets (SSE2 on x86-64 without -m flags); `avx2` and `avx512` are compiled with
//! function-level target attributes and chosen at run time, so users need no -march flag.
enum class row_isa : std::uint8_t { baseline, avx2, avx512 };

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define SPECDEC_ROW_DISPATCH 1
#else
#define SPECDEC_ROW_DISPATCH 0
#endif

#if SPECDEC_ROW_DISPATCH
// AVX2 without FMA: a target that has FMA lets the compiler fuse exp_nonpositive's multiply-adds
// (GCC's default -ffp-contract=fast, clang's -ffp-contract=on), which would change the exponentials'
// last bits. So the sums run on AVX2 alone on every AVX2 or AVX-512 machine, bit for bit equal to the
// baseline, and AVX-512 serves the maximum, whose integer operations cannot be fused.
#define SPECDEC_ROW_TARGET_AVX2 __attribute__((target("avx2")))
#if defined(__clang__)
#define SPECDEC_ROW_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2")))
#else
#define SPECDEC_ROW_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,prefer-vector-width=512")))
#endif

SPECDEC_ROW_TARGET_AVX2 inline checked_max_result checked_max_avx2(std::span<const float> row) noexcept {
  return checked_max_lanes(row);
}
SPECDEC_ROW_TARGET_AVX512 inline checked_max_result checked_max_avx512(std::span<const float> row) noexcept {
  return checked_max_lanes(row);
}
SPECDEC_ROW_TARGET_AVX2 inline double sum_exp_avx2(std::span<const float> row, float shift, float divisor) noexcept {
  return sum_exp_lanes(row, shift, divisor);
}
SPECDEC_ROW_TARGET_AVX2 inline double exp_and_sum_avx2(std::span<const float> row, float* weights) noexcept {
  return exp_and_sum_lanes(row, weights);
}
#endif

//! Whether the running CPU (and this build) can run the kernels compiled for `isa`.
[[nodiscard]] inline bool row_isa_available(row_isa isa) noexcept {
#if SPECDEC_ROW_DISPATCH
  switch (isa) {
    case row_isa::baseline: return true;
    case row_isa::avx2: return __builtin_cpu_supports("avx2") != 0;
    case row_isa::avx512:
      return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
             __builtin_cpu_supports("avx512vl") != 0 && __builtin_cpu_supports("avx512dq") != 0;
  }
  return false;
#else
  return isa == row_isa::baseline;
#endif
}

//! The widest available instruction set, detected once per process.
[[nodiscard]] inline row_isa best_row_isa() noexcept {
  static const row_isa best = row_isa_available(row_isa::avx512) ? row_isa::avx512
                              : row_isa_available(row_isa::avx2) ? row_isa::avx2
                                                                 : row_isa::baseline;
  return best;
}

//! The maximum of a row, the lowest index holding it, and whether any entry is NaN or +inf (`bad`), in
//! one vectorised pass of integer operations on the bits, on instruction set `isa` (which must be
//! available). Every path returns the same result. Rows shorter than 2^31.
[[nodiscard]] inline checked_max_result checked_max(std::span<const float> row, row_isa isa) noexcept {
#if SPECDEC_ROW_DISPATCH
  if (isa == row_isa::avx512) return checked_max_avx512(row);
  if (isa == row_isa::avx2) return checked_max_avx2(row);
#endif
  (void)isa;
  return checked_max_lanes(row);
}
[[nodiscard]] inline checked_max_result checked_max(std::span<const float> row) noexcept {
  return checked_max(row, best_row_isa());
}

//! sum_i exp((x_i - shift) / divisor) in double, for shift >= every x_i and divisor > 0, in one
//! vectorised pass. The float operations per entry are exactly those of processing a logit with
//! temperature `divisor` and exponentiating it, so sums and single entries agree bit for bit. Every
//! instruction set gives the same bits (the AVX-512 machines run the AVX2 loop; see above).
[[nodiscard]] inline double sum_exp(std::span<const float> row, float shift, float divisor, row_isa isa) noexcept {
#if SPECDEC_ROW_DISPATCH
  if (isa != row_isa::baseline) return sum_exp_avx2(row, shift, divisor);
#endif
  (void)isa;
  return sum_exp_lanes(row, shift, divisor);
}
[[nodiscard]] inline double sum_exp(std::span<const float> row, float shift, float divisor) noexcept {
  return sum_exp(row, shift, divisor, best_row_isa());
}

//! `exp_and_sum_lanes` on instruction set `isa`; the same bits on every path.
[[nodiscard]] inline double exp_and_sum(std::span<const float> row, float* weights, row_isa isa) noexcept {
#if SPECDEC_ROW_DISPATCH
  if (isa != row_isa::baseline) return exp_and_sum_avx2(row, weights);
#endif
  (void)isa;
  return exp_and_sum_lanes(row, weights);
}
[[nodiscard]] inline double exp_and_sum(std::span<const float> row, float* weights) noexcept {
  return exp_and_sum(row, weights, best_row_isa());
}

} // namespace detail
} // namespace v0
} // namespace specdec
