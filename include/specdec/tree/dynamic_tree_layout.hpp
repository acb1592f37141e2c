//! The candidate numbering of EAGLE-2 dynamic trees (`dynamic_tree_builder`), as index maths shared by
//! the CPU builder's tests and the device tree builder (`specdec/cuda/dynamic_tree_build.cuh`).
#pragma once

#include <cstdint>

#include "specdec/core/config.hpp"

namespace specdec {
inline namespace v0 {

//! Where `dynamic_tree_builder` puts each candidate, for `top_k` = k and `max_depth` = D. Candidate 0
//! is the root; expansion round d (0 <= d < D) expands `frontier_size(d)` nodes (the root, then the k
//! best candidates of the previous round: always k, since a round generates at least k) into k
//! children each, which receive the consecutive ids `[first_generated(d), first_generated(d) +
//! generated(d))`: row r (the frontier's r-th node in generation order), column c is id
//! `first_generated(d) + r * k + c`, and has depth d + 1. All functions are O(1) and usable on host
//! and device; sizes are in 64 bits (k up to 4095 and D up to 255 overflow 32).
struct dynamic_tree_layout {
  std::int32_t top_k = 1;      //!< k >= 1
  std::int32_t max_depth = 1;  //!< D >= 1

  //! Nodes expanded in round `depth`: 1 (the root) in round 0, k afterwards.
  [[nodiscard]] SPECDEC_HD constexpr std::int64_t frontier_size(std::int32_t depth) const noexcept {
    return depth == 0 ? 1 : top_k;
  }
  //! Candidates generated in round `depth`: frontier_size(depth) * k.
  [[nodiscard]] SPECDEC_HD constexpr std::int64_t generated(std::int32_t depth) const noexcept {
    return frontier_size(depth) * top_k;
  }
  //! The id of the first candidate generated in round `depth` (for depth = D: the candidate count).
  //! 1 + k for round 1, and k^2 more per later round.
  [[nodiscard]] SPECDEC_HD constexpr std::int64_t first_generated(std::int32_t depth) const noexcept {
    const std::int64_t k = top_k;
    return depth == 0 ? 1 : 1 + k + static_cast<std::int64_t>(depth - 1) * k * k;
  }
  //! Every candidate of a build, the root included: 1 + k + (D - 1) k^2.
  [[nodiscard]] SPECDEC_HD constexpr std::int64_t candidates() const noexcept { return first_generated(max_depth); }
  //! The depth of candidate `id` (< candidates()): 0 for the root, d + 1 for the ids of round d.
  [[nodiscard]] SPECDEC_HD constexpr std::int32_t depth_of(std::int64_t id) const noexcept {
    const std::int64_t k = top_k;
    if (id == 0) return 0;
    if (id < 1 + k) return 1;
    return static_cast<std::int32_t>(2 + (id - 1 - k) / (k * k));  // rounds >= 1 hold k^2 ids each
  }
};

} // namespace v0
} // namespace specdec
