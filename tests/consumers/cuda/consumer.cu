// A user's CUDA translation unit: includes the device umbrella header and runs library code in a
// kernel. Without a device it only checks that the code compiled and linked.
#include <specdec/cuda.cuh>

#include <cstdio>

__global__ void draw(specdec::random_address address, float* out) {
  out[threadIdx.x] = specdec::uniform_float(address, threadIdx.x);
}

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("compiled and linked; no CUDA device to run on\n");
    return 0;
  }
  float* out = nullptr;
  if (cudaMalloc(&out, 4 * sizeof(float)) != cudaSuccess) return 1;
  const specdec::random_address address{1, 2, 3, 4, specdec::purpose::bonus};
  draw<<<1, 4>>>(address, out);
  float host[4] = {};
  const bool ok = cudaMemcpy(host, out, sizeof(host), cudaMemcpyDeviceToHost) == cudaSuccess &&
                  host[3] == specdec::uniform_float(address, 3);
  cudaFree(out);
  std::printf("device draw %s the host\n", ok ? "matches" : "DIFFERS FROM");
  return ok ? 0 : 1;
}
