//! Test helpers for the CUDA tests: an owning device buffer, host <-> device copies, and bfloat16 / half
//! rounding of host logits (so that the CPU reference sees exactly the values the kernel reads).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "support/cuda_check.cuh"

namespace specdec::test {

//! A device array of `size` T, freed on destruction.
template <class T>
class device_buffer {
public:
  explicit device_buffer(std::size_t size) : size_(size) {
    if (size_ > 0) SPECDEC_CHECK_CUDA(cudaMalloc(&data_, size_ * sizeof(T)));
  }
  explicit device_buffer(const std::vector<T>& host) : device_buffer(host.size()) { upload(host); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() { cudaFree(data_); }

  void upload(const std::vector<T>& host) {
    REQUIRE(host.size() <= size_);
    if (!host.empty()) SPECDEC_CHECK_CUDA(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  [[nodiscard]] std::vector<T> download() const {
    std::vector<T> host(size_);
    if (size_ > 0) SPECDEC_CHECK_CUDA(cudaMemcpy(host.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  [[nodiscard]] T* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

//! The logits a kernel reads for element type T: float as is, or rounded to bfloat16 or half
//! (`stored`), and the same values as float for the CPU reference (`exact`).
template <class T>
struct typed_logits {
  std::vector<T> stored;
  std::vector<float> exact;
};

template <class T>
typed_logits<T> make_typed(const std::vector<float>& logits) {
  typed_logits<T> out;
  out.stored.reserve(logits.size());
  out.exact.reserve(logits.size());
  for (const float x : logits) {
    if constexpr (std::is_same_v<T, float>) {
      out.stored.push_back(x);
      out.exact.push_back(x);
    } else if constexpr (std::is_same_v<T, __half>) {
      const T rounded = __float2half(x);
      out.stored.push_back(rounded);
      out.exact.push_back(__half2float(rounded));
    } else {
      const T rounded = __float2bfloat16(x);
      out.stored.push_back(rounded);
      out.exact.push_back(__bfloat162float(rounded));
    }
  }
  return out;
}

} // namespace specdec::test
