//! Fundamental vocabulary types: token ids and index types.
#pragma once

#include <cstdint>

namespace specdec {
inline namespace v0 {

//! A token id: an index into the target model's vocabulary, in [0, vocab).
using token_id = std::int32_t;

//! The id that marks "no token" in padded outputs (paths, sibling links, empty slots).
inline constexpr token_id no_token = -1;

//! Sizes and indices along rows, columns and batches. Signed, so that differences and -1 sentinels
//! are natural; 64-bit, so that `rows * stride` over a [nodes, vocab] logits tensor never overflows.
using index_t = std::int64_t;

} // namespace v0
} // namespace specdec
