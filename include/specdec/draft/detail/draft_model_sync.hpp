//! Keeps a draft model's KV cache in step with a request's tokens across decoding steps.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "specdec/backend/draft_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! Tracks, per request, what a draft model's KV holds, so that each step extends it by exactly what it
//! lacks: the request's tokens up to the last sync (`trusted`, never changed since) followed by the
//! drafts fed since. At the next sync the drafts that the request's tokens now confirm (accepted drafts)
//! stay cached, the rest is rolled back, and the missing tokens are extended in one call. O(new tokens)
//! per sync, and O(drafts) memory per request: a warm drafter allocates nothing.
template <draft_model Model>
class draft_model_sync {
public:
  //! Brings the model's KV for `request` to `tokens` (the request's tokens, the root last) and writes
  //! the draft logits after the root to `next_logits` (the model's vocabulary size).
  void sync(Model& model, request_id request, std::span<const token_id> tokens, std::span<float> next_logits) {
    state& s = at(request);
    if (model.length(request) != s.trusted + static_cast<index_t>(s.drafts.size()) ||
        s.trusted > static_cast<index_t>(tokens.size())) {  // released or rolled back elsewhere: start over
      s.trusted = 0;
      s.drafts.clear();
    }
    auto common = static_cast<std::size_t>(s.trusted);
    for (std::size_t i = 0; i < s.drafts.size() && common < tokens.size() && s.drafts[i] == tokens[common]; ++i) ++common;
    common = std::min(common, tokens.size() - 1);  // the root is always extended: its logits are the first row
    model.rollback(request, static_cast<index_t>(common));
    model.extend(request, tokens.subspan(common), next_logits);
    s.trusted = static_cast<index_t>(tokens.size());
    s.drafts.clear();
  }

  //! Extends the request's KV by one drafted token and writes the logits after it.
  void extend(Model& model, request_id request, token_id token, std::span<float> next_logits) {
    model.extend(request, std::span<const token_id>(&token, 1), next_logits);
    at(request).drafts.push_back(token);
  }

  //! The number of tokens the model holds for `request`.
  [[nodiscard]] index_t length(request_id request) {
    const state& s = at(request);
    return s.trusted + static_cast<index_t>(s.drafts.size());
  }

  //! Drops the request's model state.
  void release(Model& model, request_id request) {
    model.release(request);
    state& s = at(request);
    s.trusted = 0;
    s.drafts.clear();
  }

private:
  struct state {
    index_t trusted = 0;            // the request's tokens cached as of the last sync
    std::vector<token_id> drafts;   // drafts fed after them
  };
  state& at(request_id request) {
    if (request >= states_.size()) states_.resize(static_cast<std::size_t>(request) + 1);
    return states_[request];
  }
  std::vector<state> states_;
};

//! Maps a draft model's logits into the target's vocabulary: ids below both sizes carry over, target ids
//! the draft model lacks get -inf (never drafted, q = 0), draft ids beyond the target's are dropped.
inline void map_to_target_vocab(std::span<const float> draft_logits, std::span<float> target_row) noexcept {
  const std::size_t shared = std::min(draft_logits.size(), target_row.size());
  std::copy(draft_logits.begin(), draft_logits.begin() + static_cast<std::ptrdiff_t>(shared), target_row.begin());
  std::fill(target_row.begin() + static_cast<std::ptrdiff_t>(shared), target_row.end(), -std::numeric_limits<float>::infinity());
}

} // namespace detail
} // namespace v0
} // namespace specdec
