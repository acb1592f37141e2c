//! What every verifier returns: the accepted path, the emitted tokens with their log-probabilities, and
//! per-depth acceptance.
#pragma once

#include <cstdint>
#include <vector>

#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! The outcome of one verification step, the same type for every rule. The caller owns it and passes
//! it to each step: `clear` keeps the capacity, so a decoding loop allocates nothing once warm.
//!
//! A step always emits at least one token: the accepted drafts in order, then one more token, the
//! *correction* (sampled after a rejection) or the *bonus* (sampled at a leaf, after every draft on
//! the path was accepted) -- unless emission ends early at a stop token.
struct verify_result {
  //! The accepted node path from the root: `path[0] == 0` (the root) and `path[d]` is the accepted node
  //! at depth d. `path.size() - 1` drafts were accepted. Its KV entries are the ones to keep.
  std::vector<std::int32_t> path;
  //! The emitted tokens: the accepted drafts (`tree.token(path[1..])`), then the correction or bonus.
  std::vector<token_id> tokens;
  //! log p(token) for each emitted token, p being the request's processed target distribution at the
  //! token's parent; for greedy requests, the unprocessed log-softmax of the target logits (the
  //! processed greedy distribution is one-hot, so its log-probabilities carry no information).
  std::vector<float> logprobs;
  //! Per depth d = 1, 2, ...: 1 if a draft at depth d was accepted, 0 if every draft at depth d below the
  //! path was rejected. Depths with no drafts below the path (after a leaf, or after a stop) are absent.
  std::vector<std::uint8_t> depth_accepted;
  //! True when emission ended at a stop token (the stop token is the last emitted token).
  bool stopped = false;

  //! The number of accepted draft tokens.
  [[nodiscard]] index_t accepted() const noexcept { return static_cast<index_t>(path.size()) - 1; }
  //! The last accepted node: the new root's parent, whose KV is the last to keep.
  [[nodiscard]] std::int32_t last_node() const noexcept { return path.back(); }

  //! Resets to "nothing accepted yet" (path = {root}); keeps the capacity.
  void clear() {
    path.assign(1, 0);
    tokens.clear();
    logprobs.clear();
    depth_accepted.clear();
    stopped = false;
  }
};

} // namespace v0
} // namespace specdec
