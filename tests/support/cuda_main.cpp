// The entry point of every CUDA test executable: without a CUDA device it prints why and exits with 4,
// which ctest reports as "skipped" (SKIP_RETURN_CODE 4; Catch2 v2 has no SKIP macro).
#include <cuda_runtime.h>

#include <cstdio>

#if SPECDEC_CATCH2_MAJOR >= 3
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char* argv[]) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("no CUDA device (%s): skipping\n", status == cudaSuccess ? "count 0" : cudaGetErrorString(status));
    return 4;
  }
  return Catch::Session().run(argc, argv);
}
