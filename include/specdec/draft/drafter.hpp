//! The drafter concept: what a drafting policy receives each step, what it hands back, and the hooks
//! through which the decoders keep its state in step with the request.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/backend/tree_forward.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/types.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! What a drafter is asked for one request at one step.
struct draft_context {
  //! The request's handle.
  request_id request = 0;
  //! Every token of the request so far, prompt then emitted tokens. `tokens.back()` is the root of the
  //! tree to draft: its KV is not cached yet. The target has cached `tokens.size() - 1` entries.
  std::span<const token_id> tokens;
  //! The most nodes the tree may have, the root included (>= 1; 1 means "no drafts this step").
  index_t max_nodes = 1;
  //! The deepest a draft may be (>= 0; 0 means "no drafts this step").
  index_t max_depth = 0;
  //! The target's vocabulary size: every drafted token must lie below it, and q rows span it.
  index_t vocab_size = 0;
  //! The step's random address (seed, request, step): a drafter draws at `address.at(node,
  //! purpose::draft_sample)` (or another draft purpose), never at a verification purpose.
  random_address address;
};

//! What a drafter writes: the tree and, for sampled schemes, the draft distributions q over the
//! target's vocabulary (row i: the distribution node i's children were drawn from, exactly as
//! sampled; rows of nodes without children are never read and may hold anything).
class draft_tree {
public:
  //! Starts a root-only tree over a vocabulary of `vocab` tokens; keeps the capacity.
  void reset(token_id root, index_t vocab) {
    tree.clear(root);
    vocab_ = vocab;
    q_rows_ = 0;
  }

  //! Row `node` of q, created zero-filled on first use (rows in between are zero-filled as well).
  //! Valid until the next `q_row` call that adds rows.
  std::span<float> q_row(index_t node) {
    expects(node >= 0 && node < tree.size(), "node", node, "a node of the drafted tree");
    if (node >= q_rows_) {
      const auto needed = static_cast<std::size_t>((node + 1) * vocab_);
      if (q_.size() < needed) q_.resize(needed);
      std::fill(q_.begin() + static_cast<std::ptrdiff_t>(q_rows_ * vocab_), q_.begin() + static_cast<std::ptrdiff_t>(needed), 0.0f);
      q_rows_ = node + 1;
    }
    return {q_.data() + node * vocab_, static_cast<std::size_t>(vocab_)};
  }

  //! q as a `[rows written, vocab]` view (empty when the drafter wrote none). Rows past the last one
  //! written belong to nodes without children.
  [[nodiscard]] const_matrix_view<float> draft_probs() const noexcept {
    return q_rows_ == 0 ? const_matrix_view<float>{} : const_matrix_view<float>(q_.data(), q_rows_, vocab_);
  }

  //! Pads q with zero rows to one row per node, the shape the verifiers take.
  void pad_q_rows() {
    if (q_rows_ > 0 && q_rows_ < tree.size()) q_row(tree.size() - 1);
  }

  [[nodiscard]] index_t vocab() const noexcept { return vocab_; }

  //! The drafted tree: node 0 is the context's last token.
  token_tree tree{0};

private:
  std::vector<float> q_;
  index_t q_rows_ = 0;
  index_t vocab_ = 0;
};

//! What the decoders tell a drafter after a step: the request's tokens now (the accepted drafts and the
//! correction or bonus appended; `tokens.back()` is the next root), how many drafts were accepted, and
//! the step's tree with its accepted path (root first).
struct draft_feedback {
  request_id request = 0;
  std::span<const token_id> tokens;
  index_t accepted = 0;
  token_tree_view tree;
  std::span<const std::int32_t> path;
};

//! A drafting policy: `D::scheme` states how it draws children (which rules stay lossless for its
//! trees), and `d.draft(context, out)` proposes the step's tree into `out`, within the context's
//! budgets. Optional hooks, called by the decoders when present:
//! - `d.start(request, prompt)` when a request begins;
//! - `d.observe(feedback)` after each step (adaptive lengths, caches of earlier generations);
//! - `d.observe_states(states)` after prefill and after each step, with the target's hidden states of
//!   the tokens just committed (`context_states`; head drafters), which requires a target that is a
//!   `hidden_state_source`;
//! - `d.release(request)` when a request ends.
template <class D>
concept drafter = requires(D& d, const draft_context& context, draft_tree& out) {
  { D::scheme } -> std::convertible_to<draft_scheme>;
  d.draft(context, out);
};

namespace detail {

//! Calls the optional drafter hooks when the drafter has them.
template <class D>
void drafter_start(D& d, request_id request, std::span<const token_id> prompt) {
  if constexpr (requires { d.start(request, prompt); }) d.start(request, prompt);
}
template <class D>
void drafter_observe(D& d, const draft_feedback& feedback) {
  if constexpr (requires { d.observe(feedback); }) d.observe(feedback);
}
template <class D>
void drafter_release(D& d, request_id request) {
  if constexpr (requires { d.release(request); }) d.release(request);
}

} // namespace detail

} // namespace v0
} // namespace specdec
