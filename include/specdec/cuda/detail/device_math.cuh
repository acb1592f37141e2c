//! Device scalar maths shared by the kernels: logits conversion, the CPU references' exp_nonpositive
//! replayed operation by operation, and the (value, index) pairs that row reductions combine.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "specdec/core/config.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {
namespace detail {

inline constexpr float neg_inf = -__builtin_huge_valf();

//! A logit of any supported storage type as float (accumulation is always in float or double).
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

//! True for the logits element types the kernels are instantiated for.
template <class T>
inline constexpr bool is_logit_type = std::is_same_v<T, float> || std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

//! `specdec::detail::exp_nonpositive` (sampling/detail/row_math.hpp) on the device, with every float
//! operation spelled as a round-to-nearest intrinsic so that nvcc cannot contract a multiply and an
//! add into an FMA: the host computes the same operations unfused, so both give the same bits. That
//! makes p(x) = exp((l_x - max) / T) / Z bit-identical to the CPU reference's for the same Z.
__device__ __forceinline__ float exp_nonpositive(float x) {
  constexpr float log2e = 1.44269504088896341f;
  constexpr float ln2_hi = 0.693359375f;
  constexpr float ln2_lo = -2.12194440e-4f;
  constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float shifted = __fadd_rn(__fmul_rn(x, log2e), round_magic);
  const float n = __fsub_rn(shifted, round_magic);
  const std::int32_t n_int = __float_as_int(shifted) - __float_as_int(round_magic);
  const float r = __fsub_rn(__fsub_rn(x, __fmul_rn(n, ln2_hi)), __fmul_rn(n, ln2_lo));
  float poly = 1.9875691500e-4f;
  poly = __fadd_rn(__fmul_rn(poly, r), 1.3981999507e-3f);
  poly = __fadd_rn(__fmul_rn(poly, r), 8.3334519073e-3f);
  poly = __fadd_rn(__fmul_rn(poly, r), 4.1665795894e-2f);
  poly = __fadd_rn(__fmul_rn(poly, r), 1.6666665459e-1f);
  poly = __fadd_rn(__fmul_rn(poly, r), 5.0000001201e-1f);
  // poly * r * r + r + 1, left to right as on the host.
  const float e_r = __fadd_rn(__fadd_rn(__fmul_rn(__fmul_rn(poly, r), r), r), 1.0f);
  const std::int32_t in_range = -static_cast<std::int32_t>(n_int >= -126);  // all ones or zero
  const float scale = __int_as_float(((n_int + 127) & in_range) << 23);
  return __int_as_float(__float_as_int(__fmul_rn(e_r, scale)) & in_range);
}

//! The processed logit of the CPU's logits_processor, `(l - max) / temperature`, rounded as there.
__device__ __forceinline__ float processed_logit(float logit, float max, float temperature) {
  return __fdiv_rn(__fsub_rn(logit, max), temperature);
}

//! p(x) exactly as `specdec::target_row::p` computes it from the row's max and 1 / Z:
//! `float(double(exp_nonpositive((l - max) / T)) * inv_sum)`.
__device__ __forceinline__ float probability(float logit, float max, float temperature, double inv_sum) {
  return static_cast<float>(static_cast<double>(exp_nonpositive(processed_logit(logit, max, temperature))) * inv_sum);
}

//! A candidate of an argmax-style reduction: the best score seen (float, or double for the races over
//! double residuals) and its index (-1: none yet). The winner of two is the higher score, ties to the
//! lower index, so any split of a row across threads reduces to the sequential scan's answer.
template <class Score>
struct scored {
  Score score;
  std::int32_t index;
};

using scored_index = scored<float>;

template <class Score = float>
__device__ __forceinline__ scored<Score> no_candidate() {
  return {static_cast<Score>(neg_inf), -1};
}

//! True when `a` beats `b` (an absent candidate never wins).
template <class Score>
__device__ __forceinline__ bool beats(const scored<Score>& a, const scored<Score>& b) {
  if (a.index < 0) return false;
  if (b.index < 0) return true;
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

//! Binary operator for cub::BlockReduce over scored candidates.
struct best_of {
  template <class Score>
  __device__ __forceinline__ scored<Score> operator()(const scored<Score>& a, const scored<Score>& b) const {
    return beats(b, a) ? b : a;
  }
};

//! Statistics of one row in a single pass: its maximum, the lowest index holding it, and
//! sum = sum_i exp((l_i - max) * inv_t) over the finite entries (the softmax normaliser at temperature
//! 1 / inv_t, relative to the maximum). `index` is -1 for a row without a finite entry.
struct row_stats {
  float max;
  std::int32_t index;
  float sum;
};

__device__ __forceinline__ row_stats empty_stats() { return {neg_inf, -1, 0.0f}; }

//! sum * exp((from - to) * inv_t) for to >= from; an empty sum (from = -inf) stays 0.
__device__ __forceinline__ float rescale(float sum, float from, float to, float inv_t) {
  return from == neg_inf ? 0.0f : sum * __expf((from - to) * inv_t);
}

//! Binary operator for cub::BlockReduce over row_stats (the online-softmax merge).
struct merge_stats {
  float inv_t;
  __device__ __forceinline__ row_stats operator()(const row_stats& a, const row_stats& b) const {
    const bool b_wins = b.index >= 0 && (a.index < 0 || b.max > a.max || (b.max == a.max && b.index < a.index));
    const row_stats& w = b_wins ? b : a;
    const float max = w.max;
    return {max, w.index, rescale(a.sum, a.max, max, inv_t) + rescale(b.sum, b.max, max, inv_t)};
  }
};

} // namespace detail
} // namespace cuda
} // namespace v0
} // namespace specdec
