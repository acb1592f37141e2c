//! A request's logits processing (temperature -> top-k -> min-p) applied to one row on the device, as
//! a keep predicate plus the row statistics that p(x) needs: no processed row is ever written.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cstdint>

#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/sampling/sampling_params.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {
namespace detail {

//! The order-preserving map of a float's bits to an unsigned key (for non-NaN values): larger float,
//! larger key.
__device__ __forceinline__ std::uint32_t order_key(float x) {
  const std::uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

//! The inverse of `order_key`.
__device__ __forceinline__ float from_order_key(std::uint32_t key) {
  return __uint_as_float((key & 0x80000000u) != 0 ? (key & 0x7fffffffu) : ~key);
}

//! Shared memory of `block_top_k_threshold`.
struct top_k_storage {
  unsigned int histogram[256];
  std::uint32_t digit;
  std::int32_t remaining;
  bool off;
};

//! The k-th largest finite-or-masked value of `row` (ties counted: the value v such that at least k
//! entries are >= v and fewer than k are > v), or -inf when the row has at most k entries that are not
//! -inf (the CPU's top-k then filters nothing). Radix select on `order_key`, 8 bits per pass from the
//! top: each pass histograms the next byte of the keys that match the digits chosen so far (shared
//! atomics), and thread 0 walks the 256 bins from the top to the bin holding the k-th. Four passes
//! over the row.
template <int Block, class T>
__device__ __noinline__ float block_top_k_threshold(const T* row, std::int32_t size, std::int32_t k, top_k_storage& storage) {
  std::uint32_t prefix = 0;  // the digits chosen so far, in place
  std::uint32_t mask = 0;    // the bits those digits occupy
  std::int32_t remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();  // the previous pass's readers are done with the shared results
    for (int bin = static_cast<int>(threadIdx.x); bin < 256; bin += Block) storage.histogram[bin] = 0u;
    __syncthreads();
    auto visit = [&](std::int32_t, const float* values, int count) {
      for (int j = 0; j < count; ++j) {
        if (values[j] == neg_inf) continue;  // -inf entries are already filtered
        const std::uint32_t key = order_key(values[j]);
        if ((key & mask) == prefix) atomicAdd(&storage.histogram[(key >> shift) & 255u], 1u);
      }
    };
    visit_row<Block>(row, size, visit);
    __syncthreads();
    if (threadIdx.x == 0) {
      if (shift == 24) {
        long long total = 0;
        for (int bin = 0; bin < 256; ++bin) total += storage.histogram[bin];
        storage.off = total <= k;
      }
      // Bins from the top: the k-th largest lies in the first bin where the count reaches `remaining`.
      std::int32_t above = 0;
      int digit = 255;
      for (; digit > 0; --digit) {
        const auto in_bin = static_cast<std::int32_t>(storage.histogram[digit]);
        if (above + in_bin >= remaining) break;
        above += in_bin;
      }
      storage.digit = static_cast<std::uint32_t>(digit);
      storage.remaining = remaining - above;
    }
    __syncthreads();
    if (storage.off) return neg_inf;
    prefix |= storage.digit << shift;
    mask |= 255u << shift;
    remaining = storage.remaining;
  }
  return from_order_key(prefix);
}

//! The processed target distribution of one row: the CPU's `logits_processor` (temperature -> top-k
//! -> min-p) as a predicate. Processed logit (l - max) / T where kept, -inf elsewhere; p(l) =
//! exp(processed) / Z over the kept entries, computed as `specdec::detail::target_row::p`. Top-p is
//! not part of it (see docs/cuda.md).
struct processed_row {
  float max;               //!< the row's maximum (the argmax survives every filter)
  std::int32_t argmax;     //!< the lowest index holding it
  float temperature;       //!< > 0
  float top_k_threshold;   //!< keeps raw logits >= this (-inf: top-k off)
  double log_min_p;        //!< keeps processed logits >= this (-inf: min-p off)
  double inv_sum;          //!< 1 / Z

  //! True when the entry with raw logit `l` survives the filters.
  __device__ __forceinline__ bool keep(float l) const {
    return l != neg_inf && l >= top_k_threshold &&
           static_cast<double>(processed_logit(l, max, temperature)) >= log_min_p;
  }
  //! The processed logit (-inf when filtered).
  __device__ __forceinline__ float processed(float l) const {
    return keep(l) ? processed_logit(l, max, temperature) : neg_inf;
  }
  //! p of the entry with raw logit `l` (0 when filtered).
  __device__ __forceinline__ float p(float l) const {
    return keep(l) ? probability(l, max, temperature, inv_sum) : 0.0f;
  }
};

//! The keep predicate of a processed_row as a functor for block_row_stats.
struct keep_processed {
  processed_row row;
  __device__ __forceinline__ bool operator()(float l) const { return row.keep(l); }
};

//! Shared memory of `block_process_row`.
template <int Block>
struct process_storage {
  row_pass_storage<Block> pass;
  top_k_storage top_k;
};

//! True when `params` asks for top-p, which the device kernels do not implement.
__device__ __forceinline__ bool uses_top_p(const sampling_params& params) {
  return params.top_p < sampling_params::top_p_off;
}

//! Processes `row[0, size)` under `params` (temperature > 0; top-p off): one pass of row statistics,
//! four radix-select passes with top-k, and one more statistics pass when top-k or min-p filters. Every
//! thread gets the result.
template <int Block, class T>
__device__ processed_row block_process_row(const T* row, std::int32_t size, const sampling_params& params,
                                           process_storage<Block>& storage) {
  processed_row out{};
  out.temperature = params.temperature;
  const float inv_t = 1.0f / params.temperature;
  const row_stats stats = block_row_stats<Block>(row, size, inv_t, storage.pass);
  out.max = stats.max;
  out.argmax = stats.index;
  out.top_k_threshold = neg_inf;
  out.log_min_p = -__builtin_huge_val();
  float sum = stats.sum;
  const bool top_k = params.top_k != sampling_params::top_k_off;
  const bool min_p = params.min_p > sampling_params::min_p_off;
  if (top_k) out.top_k_threshold = block_top_k_threshold<Block>(row, size, params.top_k, storage.top_k);
  if (min_p) out.log_min_p = log(static_cast<double>(params.min_p));
  if (top_k || min_p) {
    keep_processed keep{out};
    sum = block_row_stats<Block>(row, size, inv_t, keep, storage.pass).sum;
  }
  out.inv_sum = 1.0 / static_cast<double>(sum);
  return out;
}

} // namespace detail
} // namespace cuda
} // namespace v0
} // namespace specdec
