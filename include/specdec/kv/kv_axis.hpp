//! One non-sequence axis of a KV cache: its extent and stride, as the cache views take them.
#pragma once

#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! One axis of a KV cache other than the sequence (or slot) axis: its extent and its stride in
//! elements, e.g. layers, K/V, heads, head dimension. `strided_kv_cache` and `paged_kv_cache` take up
//! to six, and return them from `axes()`.
struct kv_axis {
  index_t extent = 1;
  index_t stride = 0;
};

} // namespace v0
} // namespace specdec
