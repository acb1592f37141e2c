//! The k largest entries of a row in one pass, best first, ties to the lower id.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>

#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! Writes the ids and values of the `ids.size()` largest entries of `values` above -inf, in decreasing
//! order (ties to the lower id), and returns how many there were; the rest of `ids` / `top` is set to
//! token 0 with value -inf. One pass: an entry costs one comparison unless it enters. NaN-free input.
inline std::size_t top_k_descending(std::span<const float> values, std::span<token_id> ids, std::span<float> top) {
  const std::size_t k = ids.size();
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  std::size_t n = 0;
  float threshold = neg_inf;  // the k-th largest so far once k are held: an entry must beat it
  for (std::size_t i = 0; i < values.size() && k > 0; ++i) {
    const float v = values[i];
    if (!(v > threshold)) continue;
    std::size_t at = n < k ? n : k - 1;
    while (at > 0 && top[at - 1] < v) {
      top[at] = top[at - 1];
      ids[at] = ids[at - 1];
      --at;
    }
    top[at] = v;
    ids[at] = static_cast<token_id>(i);
    if (n < k) ++n;
    if (n == k) threshold = top[k - 1];
  }
  for (std::size_t c = n; c < k; ++c) {
    ids[c] = 0;
    top[c] = -std::numeric_limits<float>::infinity();
  }
  return n;
}

} // namespace detail
} // namespace v0
} // namespace specdec
