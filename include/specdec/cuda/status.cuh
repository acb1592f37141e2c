//! Status handling shared by every CUDA launcher: launchers never throw, they return cudaError_t.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_runtime.h>

//! Inside a function returning cudaError_t: evaluates `expr` (a cudaError_t) and returns it unless it
//! is cudaSuccess. Launchers use it after each kernel launch as
//! `SPECDEC_CUDA_TRY(cudaGetLastError());` so that a bad configuration surfaces at its source.
#define SPECDEC_CUDA_TRY(expr)                 \
  do {                                         \
    const cudaError_t specdec_status_ = (expr); \
    if (specdec_status_ != cudaSuccess) {      \
      return specdec_status_;                  \
    }                                          \
  } while (false)

namespace specdec {
inline namespace v0 {
namespace cuda {

//! Blocks of `block_size` threads (> 0) needed to cover `work_items` items (at least one block).
[[nodiscard]] constexpr unsigned int blocks_for(long long work_items, unsigned int block_size) noexcept {
  const long long blocks = (work_items + block_size - 1) / block_size;
  return blocks > 0 ? static_cast<unsigned int>(blocks) : 1u;
}

} // namespace cuda
} // namespace v0
} // namespace specdec
