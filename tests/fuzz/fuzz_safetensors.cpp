//! The safetensors reader of examples/llama (head checkpoints come from outside): any byte string is
//! either refused with `specdec::invalid_argument`, or gives tensors whose byte ranges lie inside the
//! data, tile it without gaps or overlaps, and match their dtype and shape; every F32 tensor reads back
//! through `f32` with its own shape, and any other shape is refused.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  llama::safetensors file;
  if (!completes([&] { file = llama::safetensors::from_bytes(bytes, "fuzz"); })) return 0;
  FUZZ_REQUIRE(size >= 8, "a header length was read");
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | data[i];
  const std::uint64_t payload = size - 8 - header;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& entry : file.tensors()) {
    const std::string& name = entry.first;  // named, not structured bindings: lambdas capture them (C++20)
    const llama::tensor_info& t = entry.second;
    FUZZ_REQUIRE(t.begin <= t.end && t.end <= payload, "a tensor's range lies inside the data");
    FUZZ_REQUIRE(t.elements() >= 0, "a tensor has a non-negative element count");
    for (const std::int64_t d : t.shape) FUZZ_REQUIRE(d >= 0, "dimensions are non-negative");
    ranges.emplace_back(t.begin, t.end);
    if (t.dtype == "F32") {
      FUZZ_REQUIRE(t.end - t.begin == static_cast<std::uint64_t>(t.elements()) * 4, "F32 size = elements x 4");
      if (t.shape.size() == 1) {
        const std::vector<float> v = file.f32(name, {t.shape[0]});
        FUZZ_REQUIRE(static_cast<std::int64_t>(v.size()) == t.shape[0], "f32 returns every element");
        FUZZ_REQUIRE(!completes([&] { (void)file.f32(name, {t.shape[0] + 1}); }), "a wrong shape is refused");
      } else if (t.shape.size() == 2) {
        const std::vector<float> v = file.f32(name, {t.shape[0], t.shape[1]});
        FUZZ_REQUIRE(static_cast<std::int64_t>(v.size()) == t.elements(), "f32 returns every element");
      }
    }
  }
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t at = 0;
  for (const auto& [begin, end] : ranges) {
    FUZZ_REQUIRE(begin == at, "tensors tile the data without gaps or overlaps");
    at = end;
  }
  FUZZ_REQUIRE(at == payload, "the tensors cover the data");
  return 0;
}
