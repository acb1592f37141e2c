//! Compiler and host/device portability macros, defined once for the whole library.
#pragma once

// SPECDEC_HD marks functions usable from host and device code. Without nvcc (or clang's CUDA mode) it
// compiles away, so every header outside specdec/cuda/ stays plain C++20.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define SPECDEC_HD __host__ __device__
#define SPECDEC_DEVICE __device__
#else
#define SPECDEC_HD
#define SPECDEC_DEVICE
#endif

#if defined(__CUDACC__)
#define SPECDEC_FORCEINLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define SPECDEC_FORCEINLINE inline __attribute__((always_inline))
#else
#define SPECDEC_FORCEINLINE inline
#endif

// True while compiling the device side of a CUDA translation unit.
#if defined(__CUDA_ARCH__)
#define SPECDEC_DEVICE_PASS 1
#else
#define SPECDEC_DEVICE_PASS 0
#endif
