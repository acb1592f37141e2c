//! Umbrella header for device code: the host library plus every kernel in specdec/cuda/. Needs nvcc.
#pragma once

#if !defined(__CUDACC__)
#error "<specdec/cuda.cuh> contains CUDA kernels: compile this translation unit with nvcc (a .cu file)."
#endif

#include "specdec/specdec.hpp"

#include "specdec/cuda/status.cuh"
#include "specdec/cuda/sampling.cuh"
#include "specdec/cuda/verify.cuh"
#include "specdec/cuda/verify_greedy_split.cuh"
#include "specdec/cuda/tree_flatten.cuh"
#include "specdec/cuda/kv_compaction.cuh"
#include "specdec/cuda/chain_speculative_sampling.cuh"
#include "specdec/cuda/tree_build.cuh"
#include "specdec/cuda/dynamic_tree_build.cuh"
#include "specdec/cuda/typical_acceptance.cuh"
#include "specdec/cuda/block_verification.cuh"
