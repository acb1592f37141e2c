//! KV compaction on the device: applies each request's accepted path (its keep-list) in place to a
//! contiguous or a paged KV cache of any element type.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "specdec/core/types.hpp"
#include "specdec/cuda/status.cuh"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! A contiguous cache, in elements: request b's entry at logical position p is the `outer_count`
//! slices `data + b * batch_stride + p * seq_stride + o * outer_stride`, each `inner_size` contiguous
//! elements. `[batch][layers][heads][seq][dim]` is seq_stride = dim, outer = layers * heads with
//! outer_stride = capacity * dim, inner = dim; `[batch][seq][heads][dim]` is seq_stride = heads * dim,
//! outer = 1, inner = heads * dim.
struct kv_layout {
  std::int64_t batch_stride = 0;
  std::int64_t seq_stride = 0;
  std::int64_t outer_count = 1;
  std::int64_t outer_stride = 0;
  std::int64_t inner_size = 0;
};

//! A paged cache (vLLM, FlashInfer), in elements: physical slot s lies in block s / block_size at offset
//! s % block_size and starts at `data + (s / block_size) * block_stride + (s % block_size) * slot_stride`;
//! its `outer_count` slices of `inner_size` contiguous elements are `outer_stride` apart. Request b's
//! logical position p is slot `block_tables[b * max_blocks + p / block_size] * block_size + p %
//! block_size`. vLLM `[blocks][block_size][heads][dim]`: slot_stride = heads * dim, outer = 1, inner =
//! heads * dim; FlashInfer HND `[blocks][heads][block_size][dim]`: slot_stride = dim, outer = heads with
//! outer_stride = block_size * dim, inner = dim.
struct paged_kv_layout {
  std::int64_t block_size = 1;
  std::int64_t block_stride = 0;
  std::int64_t slot_stride = 0;
  std::int64_t outer_count = 1;
  std::int64_t outer_stride = 0;
  std::int64_t inner_size = 0;
};

//! The accepted paths as verification writes them (`verify_outputs`), in device memory: request b's
//! path is `path[offsets[b] + d]`, d in [0, accepted[b]] (the root at d = 0), and its tree node i was
//! written by the forward at logical position `context_lengths[b] + i`. A request with accepted <= 0
//! has nothing to move.
struct accepted_paths {
  const std::int32_t* offsets = nullptr;
  const std::int32_t* path = nullptr;
  const std::int32_t* accepted = nullptr;
  const std::int32_t* context_lengths = nullptr;
};

//! Threads per block of the compaction kernels.
inline constexpr int kv_block_size = 256;

namespace detail {

// Byte-level form of both layouts: a slot's byte offset is computed by the caller's functor.
struct byte_layout {
  std::int64_t outer_count;
  std::int64_t outer_stride;  // bytes
  std::int64_t inner_units;   // units of the copy width per slice
};

struct contiguous_slots {
  std::int64_t batch_stride;  // bytes
  std::int64_t seq_stride;    // bytes
  __device__ __forceinline__ std::int64_t operator()(std::int64_t b, std::int64_t position) const {
    return b * batch_stride + position * seq_stride;
  }
};

struct paged_slots {
  const std::int32_t* block_tables;
  std::int64_t max_blocks;
  std::int64_t block_size;
  std::int64_t block_stride;  // bytes
  std::int64_t slot_stride;   // bytes
  __device__ __forceinline__ std::int64_t operator()(std::int64_t b, std::int64_t position) const {
    const std::int64_t block = block_tables[b * max_blocks + position / block_size];  // vLLM's slot mapping
    return block * block_stride + (position % block_size) * slot_stride;
  }
};

//! Grid (B, y): request b = blockIdx.x; the units of one entry (outer_count * inner_units, unit = the
//! copy width) are spread over blockIdx.y and the threads, grid-stride. Each thread moves its own units
//! for every move of the request, in increasing depth: the keep-list order, in which no move overwrites
//! a position that a later move reads; a unit is only ever touched by one thread, so no barrier is needed.
template <class Unit, class Slots>
__global__ void __launch_bounds__(kv_block_size)
    compact_kernel(char* cache, byte_layout layout, Slots slots, accepted_paths paths) {
  const std::int64_t b = blockIdx.x;
  const std::int32_t accepted = paths.accepted[b];
  if (accepted <= 0) return;
  const std::int32_t* path = paths.path + paths.offsets[b];
  const std::int64_t context = paths.context_lengths[b];
  const std::int64_t units = layout.outer_count * layout.inner_units;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.y) * kv_block_size + threadIdx.x; e < units;
       e += static_cast<std::int64_t>(gridDim.y) * kv_block_size) {
    const std::int64_t o = e / layout.inner_units;  // slice
    const std::int64_t k = e % layout.inner_units;  // unit within the slice
    const std::int64_t within = o * layout.outer_stride + k * static_cast<std::int64_t>(sizeof(Unit));
    for (std::int32_t d = 1; d <= accepted; ++d) {
      const std::int32_t node = path[d];
      if (node == d) continue;  // already in place
      const Unit value = *reinterpret_cast<const Unit*>(cache + slots(b, context + node) + within);
      *reinterpret_cast<Unit*>(cache + slots(b, context + d) + within) = value;
    }
  }
}

// The widest copy unit (16, 4 or 1 bytes) dividing every byte offset the kernel forms.
[[nodiscard]] inline int copy_width(const void* base, std::int64_t inner_bytes, std::int64_t a, std::int64_t b,
                                    std::int64_t c, std::int64_t d) {
  const auto all = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(base)) |
                   static_cast<std::uint64_t>(inner_bytes | a | b | c | d);
  return (all & 15u) == 0 ? 16 : (all & 3u) == 0 ? 4 : 1;
}

template <class Slots>
[[nodiscard]] cudaError_t launch_compact(char* cache, std::int64_t inner_bytes, std::int64_t outer_count,
                                         std::int64_t outer_stride_bytes, int width, const Slots& slots,
                                         const accepted_paths& paths, std::int64_t batch, cudaStream_t stream) {
  const std::int64_t units = outer_count * (inner_bytes / width);
  const auto y = static_cast<unsigned int>(units / kv_block_size + 1 < 1024 ? units / kv_block_size + 1 : 1024);
  const dim3 grid(static_cast<unsigned int>(batch), y);
  const byte_layout layout{outer_count, outer_stride_bytes, inner_bytes / width};
  if (width == 16) {
    compact_kernel<uint4><<<grid, kv_block_size, 0, stream>>>(cache, layout, slots, paths);
  } else if (width == 4) {
    compact_kernel<std::uint32_t><<<grid, kv_block_size, 0, stream>>>(cache, layout, slots, paths);
  } else {
    compact_kernel<std::uint8_t><<<grid, kv_block_size, 0, stream>>>(cache, layout, slots, paths);
  }
  return cudaGetLastError();
}

[[nodiscard]] inline bool valid_paths(const accepted_paths& p) {
  return p.offsets != nullptr && p.path != nullptr && p.accepted != nullptr && p.context_lengths != nullptr;
}

} // namespace detail

//! Applies every request's keep-list to a contiguous cache in place: for d = 1..accepted[b] in
//! increasing depth, the entry at `context + path[d]` moves to `context + d` (skipped when equal), which
//! is the CPU's `keep_list` + `apply_keep_list` for the same path. `T` is any trivially copyable element
//! type; copies go in 16-, 4- or 1-byte units, the widest that divides the base address, the strides
//! and the slice size in bytes. Grid: one row of blocks per request, `kv_block_size` threads, the
//! entry's units spread over blocks and threads; a request with nothing accepted returns at once.
//! Preconditions (device data, not checked): positions within the cache, paths as verification writes
//! them. Returns cudaErrorInvalidValue for a null cache or path array, a batch beyond 2^31 - 1 or a
//! non-positive slice; else the launch status. No allocation, no synchronisation, capturable.
template <class T>
[[nodiscard]] cudaError_t compact_kv_cache(T* cache, const kv_layout& layout, const accepted_paths& paths,
                                           std::int64_t batch, cudaStream_t stream = nullptr) {
  static_assert(std::is_trivially_copyable_v<T>, "KV cache elements must be trivially copyable");
  if (cache == nullptr || !detail::valid_paths(paths) || batch < 0 || batch > 0x7fffffff || layout.inner_size <= 0 ||
      layout.outer_count <= 0) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  constexpr auto size = static_cast<std::int64_t>(sizeof(T));
  const int width = detail::copy_width(cache, layout.inner_size * size, layout.batch_stride * size,
                                       layout.seq_stride * size, layout.outer_stride * size, 0);
  return detail::launch_compact(reinterpret_cast<char*>(cache), layout.inner_size * size, layout.outer_count,
                                layout.outer_stride * size, width,
                                detail::contiguous_slots{layout.batch_stride * size, layout.seq_stride * size}, paths,
                                batch, stream);
}

//! The paged form of `compact_kv_cache`: positions go through request b's row of `block_tables`
//! (`[batch, max_blocks]` row-major, device memory), as the CPU's paged `apply_keep_list`. The block
//! tables must not map two logical blocks of a request to one physical block.
template <class T>
[[nodiscard]] cudaError_t compact_paged_kv_cache(T* cache, const paged_kv_layout& layout, const std::int32_t* block_tables,
                                                 std::int64_t max_blocks, const accepted_paths& paths,
                                                 std::int64_t batch, cudaStream_t stream = nullptr) {
  static_assert(std::is_trivially_copyable_v<T>, "KV cache elements must be trivially copyable");
  if (cache == nullptr || block_tables == nullptr || !detail::valid_paths(paths) || batch < 0 || batch > 0x7fffffff ||
      layout.inner_size <= 0 || layout.outer_count <= 0 || layout.block_size <= 0 || max_blocks <= 0) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  constexpr auto size = static_cast<std::int64_t>(sizeof(T));
  const int width = detail::copy_width(cache, layout.inner_size * size, layout.block_stride * size,
                                       layout.slot_stride * size, layout.outer_stride * size, 0);
  return detail::launch_compact(
      reinterpret_cast<char*>(cache), layout.inner_size * size, layout.outer_count, layout.outer_stride * size, width,
      detail::paged_slots{block_tables, max_blocks, layout.block_size, layout.block_stride * size, layout.slot_stride * size},
      paths, batch, stream);
}

} // namespace cuda
} // namespace v0
} // namespace specdec
