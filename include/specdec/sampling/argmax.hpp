//! Validation of a logits row and argmax with ties broken toward the lowest token id.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/sampling/detail/row_math.hpp"

namespace specdec {
inline namespace v0 {

//! The position and value of a row's maximum.
struct argmax_result {
  token_id index;  //!< the lowest index holding the maximum
  float value;     //!< the maximum
};

//! Finds the maximum of a row of logits in one pass, validating it on the way: every entry must be
//! finite or -inf (-inf is the standard mask for padding, grammars and top-k) and at least one must be
//! finite. Throws `specdec::invalid_argument` naming `name[i]` for a NaN or +inf entry, or `name` for
//! an empty or all -inf row, or a row longer than 2^31 - 1 entries. Ties go to the lowest index: greedy verification relies on this rule so
//! that a drafter, a verifier and a kernel agree on "the" argmax. One vectorised pass over the row.
[[nodiscard]] inline argmax_result checked_argmax(std::span<const float> logits,
                                                  std::string_view name = "logits") {
  constexpr float inf = std::numeric_limits<float>::infinity();
  expects(!logits.empty(), name, "an empty row", "at least one entry");
  // Token ids are int32: a longer row would wrap the index of its maximum.
  expects(logits.size() <= static_cast<std::size_t>(std::numeric_limits<token_id>::max()), name, logits.size(),
          "a row of at most 2^31 - 1 entries (token ids are int32)");
  // One vectorised pass finds the maximum, its first index and flags bad entries; a scalar pass runs
  // only to name a bad entry.
  const detail::checked_max_result scan = detail::checked_max(logits);
  if (scan.bad) [[unlikely]] {
    for (std::size_t i = 0; i < logits.size(); ++i) {
      expects_element(logits[i] < inf, name, i, logits[i], "finite or -inf logits");
    }
  }
  expects(scan.max != -inf, name, "a row of all -inf", "at least one finite logit");
  return {static_cast<token_id>(scan.index), scan.max};
}

//! The index of the largest logit, ties broken toward the lowest token id; validates like
//! `checked_argmax`. O(V), one read of the row.
[[nodiscard]] inline token_id argmax(std::span<const float> logits, std::string_view name = "logits") {
  return checked_argmax(logits, name).index;
}

//! Throws `specdec::invalid_argument` unless `logits` is a valid row (see `checked_argmax`).
inline void validate_logits(std::span<const float> logits, std::string_view name = "logits") {
  (void)checked_argmax(logits, name);
}

} // namespace v0
} // namespace specdec
