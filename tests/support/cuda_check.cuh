//! The one check() helper for CUDA runtime calls in tests: a failed call fails the test with its name.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "support/catch.hpp"

#define SPECDEC_CHECK_CUDA(expr)                                                          \
  do {                                                                                    \
    const cudaError_t specdec_check_status_ = (expr);                                     \
    INFO(#expr << ": " << cudaGetErrorString(specdec_check_status_));                     \
    REQUIRE(specdec_check_status_ == cudaSuccess);                                        \
  } while (false)
