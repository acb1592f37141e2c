// Philox and the uniform conversions computed inside a kernel must match the host bit for bit: the
// CPU references and the kernels draw the same numbers for the same address.
#include <specdec/cuda.cuh>

#include <vector>

#include "support/cuda_check.cuh"

namespace {

__global__ void philox_kernel(const specdec::philox_words* counters, const specdec::philox_key* keys, int count,
                              specdec::philox_words* out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);  // one thread per vector
  if (i < count) out[i] = specdec::philox4x32_10(counters[i], keys[i]);
}

__global__ void address_kernel(specdec::random_address address, unsigned int count, float* uniforms, float* gumbels) {
  const unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;  // one thread per vocabulary entry
  if (i < count) {
    uniforms[i] = specdec::uniform_float(address, i);
    gumbels[i] = specdec::gumbel_from_uniform(uniforms[i]);
  }
}

template <class T>
T* device_copy(const std::vector<T>& host) {
  T* device = nullptr;
  SPECDEC_CHECK_CUDA(cudaMalloc(&device, host.size() * sizeof(T)));
  SPECDEC_CHECK_CUDA(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return device;
}

}  // namespace

TEST_CASE("philox4x32_10 in a kernel reproduces Random123's known-answer vectors") {
  const std::vector<specdec::philox_words> counters{
      {{0u, 0u, 0u, 0u}}, {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}};
  const std::vector<specdec::philox_key> keys{{{0u, 0u}}, {{0xffffffffu, 0xffffffffu}}, {{0xa4093822u, 0x299f31d0u}}};
  const std::vector<specdec::philox_words> expected{
      {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}};
  auto* d_counters = device_copy(counters);
  auto* d_keys = device_copy(keys);
  specdec::philox_words* d_out = nullptr;
  SPECDEC_CHECK_CUDA(cudaMalloc(&d_out, 3 * sizeof(specdec::philox_words)));
  philox_kernel<<<1, 32>>>(d_counters, d_keys, 3, d_out);
  SPECDEC_CHECK_CUDA(cudaGetLastError());
  std::vector<specdec::philox_words> out(3);
  SPECDEC_CHECK_CUDA(cudaMemcpy(out.data(), d_out, 3 * sizeof(specdec::philox_words), cudaMemcpyDeviceToHost));
  for (int i = 0; i < 3; ++i) REQUIRE(out[static_cast<std::size_t>(i)] == expected[static_cast<std::size_t>(i)]);
  cudaFree(d_counters);
  cudaFree(d_keys);
  cudaFree(d_out);
}

TEST_CASE("uniform and Gumbel draws at an address agree between host and device") {
  const specdec::random_address address{0xfeedfaceull, 3, 17, 42, specdec::purpose::residual};
  constexpr unsigned int count = 4099;  // not a multiple of 4: the last block is partial
  float* d_uniforms = nullptr;
  float* d_gumbels = nullptr;
  SPECDEC_CHECK_CUDA(cudaMalloc(&d_uniforms, count * sizeof(float)));
  SPECDEC_CHECK_CUDA(cudaMalloc(&d_gumbels, count * sizeof(float)));
  address_kernel<<<specdec::cuda::blocks_for(count, 256), 256>>>(address, count, d_uniforms, d_gumbels);
  SPECDEC_CHECK_CUDA(cudaGetLastError());
  std::vector<float> uniforms(count), gumbels(count);
  SPECDEC_CHECK_CUDA(cudaMemcpy(uniforms.data(), d_uniforms, count * sizeof(float), cudaMemcpyDeviceToHost));
  SPECDEC_CHECK_CUDA(cudaMemcpy(gumbels.data(), d_gumbels, count * sizeof(float), cudaMemcpyDeviceToHost));
  int gumbel_ulp_differences = 0;
  for (unsigned int i = 0; i < count; ++i) {
    REQUIRE(uniforms[i] == specdec::uniform_float(address, i));  // integer maths: exact
    const float host = specdec::gumbel_from_uniform(uniforms[i]);
    // logf on the device and in glibc are both within 1 ulp of the exact result, not always equal.
    REQUIRE_THAT(gumbels[i], WithinRel(host, 1e-5f) || WithinAbs(host, 1e-6f));
    gumbel_ulp_differences += gumbels[i] != host ? 1 : 0;
  }
  // Two nested logarithms compound their last-bit differences: on an H200 (2026-11-28) 615 of these
  // 4099 draws (15%) differed in the last bits, all within the bound above. More than a quarter would
  // mean the device computes a different function (another log implementation or fast-math flags).
  INFO("Gumbel draws differing in the last bits: " << gumbel_ulp_differences << " of " << count);
  CHECK(gumbel_ulp_differences <= static_cast<int>(count / 4));
  cudaFree(d_uniforms);
  cudaFree(d_gumbels);
}
