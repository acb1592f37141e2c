//! A request's logits processing (temperature -> top-k -> top-p -> min-p) applied to one row on the device, as
//! a keep predicate plus the row statistics that p(x) needs: no processed row is ever written.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cub/block/block_scan.cuh>

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
//! -> top-p -> min-p) as a predicate. Processed logit (l - max) / T where kept, -inf elsewhere; p(l) =
//! exp(processed) / Z over the kept entries, computed as `specdec::target_row::p`.
struct processed_row {
  float max;               //!< the row's maximum (the argmax survives every filter)
  std::int32_t argmax;     //!< the lowest index holding it
  float temperature;       //!< > 0
  float top_k_threshold;   //!< keeps raw logits >= this (-inf: top-k off)
  std::uint32_t top_p_key;     //!< top-p keeps processed keys above this, ...
  std::int32_t top_p_last;     //!< ... and those equal to it with index <= this (0 and INT32_MAX: off)
  double log_min_p;        //!< keeps processed logits >= this (-inf: min-p off)
  double inv_sum;          //!< 1 / Z

  //! True when entry i (raw logit `l`) survives top-k and top-p.
  __device__ __forceinline__ bool keep_before_min_p(std::int32_t i, float l) const {
    if (l == neg_inf || !(l >= top_k_threshold)) return false;
    if (top_p_key == 0u) return true;  // top-p off (no float has key 0)
    const std::uint32_t key = order_key(processed_logit(l, max, temperature));
    return key > top_p_key || (key == top_p_key && i <= top_p_last);
  }
  //! True when entry i (raw logit `l`) survives the filters.
  __device__ __forceinline__ bool keep(std::int32_t i, float l) const {
    return keep_before_min_p(i, l) && static_cast<double>(processed_logit(l, max, temperature)) >= log_min_p;
  }
  //! The processed logit (-inf when filtered).
  __device__ __forceinline__ float processed(std::int32_t i, float l) const {
    return keep(i, l) ? processed_logit(l, max, temperature) : neg_inf;
  }
  //! p of entry i with raw logit `l` (0 when filtered).
  __device__ __forceinline__ float p(std::int32_t i, float l) const {
    return keep(i, l) ? probability(l, max, temperature, inv_sum) : 0.0f;
  }
};

//! The keep predicate of a processed_row as a functor for block_row_stats.
struct keep_processed {
  processed_row row;
  __device__ __forceinline__ bool operator()(std::int32_t i, float l) const { return row.keep(i, l); }
};

//! Shared memory of `block_top_p_boundary`.
template <int Block>
struct top_p_storage {
  double mass[256];
  unsigned int count[256];
  typename cub::BlockScan<std::int32_t, Block>::TempStorage scan;
  double above;       // normalised mass of the keys above the chosen digits
  std::uint32_t digit;
  std::int32_t ties;  // entries holding the boundary key
  std::int32_t kept_ties;
  bool all;           // the cumulative sum never reached top_p (rounding): keep everything
};

// exp(processed) in double over the entries top-k keeps: the CPU's top-p weights before normalising.
struct top_p_weight {
  processed_row row;
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const {
    return row.keep_before_min_p(i, l) ? exp(static_cast<double>(processed_logit(l, row.max, row.temperature))) : 0.0;
  }
};

//! Sets `row.top_p_key` / `row.top_p_last` to the CPU's nucleus: the shortest prefix, in (processed
//! value descending, index ascending) order, of the entries top-k keeps whose cumulative probability
//! exp(v) / total (in double) reaches `top_p`. One pass sums the total; radix select on the processed
//! keys, 8 bits per pass, histograms the normalised mass (shared double atomics) and walks the bins
//! from the top to the one where the cumulative mass reaches top_p; thread 0 then replays the CPU's
//! cumulative loop over the boundary key's ties (all of equal probability), and an ordered pass finds
//! the index of the last kept tie when not all are kept. Six or seven passes over the row.
//! The atomics sum in an unspecified order: only a cumulative sum within rounding of top_p can decide
//! differently from the CPU (a near-tie).
template <int Block, class T>
__device__ __noinline__ void block_top_p_boundary(const T* row, std::int32_t size, float top_p, processed_row& out,
                                                  top_p_storage<Block>& s, row_pass_storage<Block>& pass) {
  top_p_weight weight{out};
  const double total = block_row_sum<Block>(row, size, weight, pass);
  const double target = static_cast<double>(top_p);
  std::uint32_t prefix = 0;
  std::uint32_t mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();  // the previous pass's readers are done with the shared results
    for (int bin = static_cast<int>(threadIdx.x); bin < 256; bin += Block) {
      s.mass[bin] = 0.0;
      s.count[bin] = 0u;
    }
    if (shift == 24 && threadIdx.x == 0) s.above = 0.0;
    __syncthreads();
    auto visit = [&](std::int32_t first, const float* values, int count) {
      for (int j = 0; j < count; ++j) {
        if (!out.keep_before_min_p(first + j, values[j])) continue;
        const float v = processed_logit(values[j], out.max, out.temperature);
        const std::uint32_t key = order_key(v);
        if ((key & mask) != prefix) continue;
        const unsigned int bin = (key >> shift) & 255u;
        atomicAdd(&s.mass[bin], exp(static_cast<double>(v)) / total);
        atomicAdd(&s.count[bin], 1u);
      }
    };
    visit_row<Block>(row, size, visit);
    __syncthreads();
    if (threadIdx.x == 0) {
      // The first bin from the top where the cumulative mass reaches top_p holds the boundary entry.
      double above = s.above;
      int digit = 255;
      int lowest = -1;  // the last non-empty bin in order, and the mass above it
      double above_lowest = above;
      for (; digit >= 0; --digit) {
        if (s.count[digit] == 0) continue;
        if (above + s.mass[digit] >= target) break;
        lowest = digit;
        above_lowest = above;
        above += s.mass[digit];
      }
      // Never reached: at the top level the whole row sums below top_p (keep everything); deeper, the
      // chosen bin's parts summed a rounding below its total, and its last entry is the boundary.
      s.all = digit < 0 && shift == 24;
      if (digit < 0 && shift < 24) {
        digit = lowest;
        above = above_lowest;
      }
      s.digit = static_cast<std::uint32_t>(digit < 0 ? 0 : digit);
      s.above = above;
      s.ties = digit < 0 ? 0 : static_cast<std::int32_t>(s.count[digit]);
    }
    __syncthreads();
    if (s.all) return;  // top-p keeps everything: the fields stay "off"
    prefix |= s.digit << shift;
    mask |= 255u << shift;
  }
  // prefix is the boundary key; every entry above it is kept. The CPU's loop over the ties, in index
  // order, each adding the same probability: keep while the cumulative sum is below top_p.
  if (threadIdx.x == 0) {
    const double w = exp(static_cast<double>(from_order_key(prefix))) / total;
    double cumulative = s.above;
    std::int32_t kept = 0;
    while (kept < s.ties && cumulative < target) {
      cumulative += w;
      ++kept;
    }
    s.kept_ties = kept;
  }
  __syncthreads();
  out.top_p_key = prefix;
  const std::int32_t ties = s.ties;
  const std::int32_t kept_ties = s.kept_ties;
  if (kept_ties >= ties) {
    out.top_p_last = 0x7fffffff;
    return;
  }
  // The index of the kept_ties-th tie (1-based) in index order: chunks of Block, a BlockScan each.
  std::int32_t seen = 0;
  std::int32_t last = -1;
  for (std::int32_t start = 0; start < size && seen < kept_ties; start += Block) {
    const std::int32_t i = start + static_cast<std::int32_t>(threadIdx.x);
    const std::int32_t tie = i < size && out.keep_before_min_p(i, to_float(row[i])) &&
                                     order_key(processed_logit(to_float(row[i]), out.max, out.temperature)) == prefix
                                 ? 1
                                 : 0;
    std::int32_t position = 0;
    std::int32_t total_ties = 0;
    __syncthreads();  // scan storage reuse
    cub::BlockScan<std::int32_t, Block>(s.scan).ExclusiveSum(tie, position, total_ties);
    if (tie != 0 && seen + position + 1 == kept_ties) s.digit = static_cast<std::uint32_t>(i);  // one writer
    seen += total_ties;
  }
  __syncthreads();
  last = static_cast<std::int32_t>(s.digit);
  out.top_p_last = last;
}

//! Shared memory of `block_process_row`.
template <int Block>
struct process_storage {
  row_pass_storage<Block> pass;
  top_k_storage top_k;
  top_p_storage<Block> top_p;
};

//! Processes `row[0, size)` under `params` (temperature > 0): one pass of row statistics, four
//! radix-select passes with top-k, six or seven with top-p, and one more statistics pass when any
//! filter is on. Every thread gets the result.
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
  out.top_p_key = 0u;
  out.top_p_last = 0x7fffffff;
  out.log_min_p = -__builtin_huge_val();
  float sum = stats.sum;
  const bool top_k = params.top_k != sampling_params::top_k_off;
  const bool top_p = params.top_p < sampling_params::top_p_off;
  const bool min_p = params.min_p > sampling_params::min_p_off;
  if (top_k) out.top_k_threshold = block_top_k_threshold<Block>(row, size, params.top_k, storage.top_k);
  if (top_p) block_top_p_boundary<Block>(row, size, params.top_p, out, storage.top_p, storage.pass);
  if (min_p) out.log_min_p = log(static_cast<double>(params.min_p));
  if (top_k || top_p || min_p) {
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
