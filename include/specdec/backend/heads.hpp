//! The concepts a head backend satisfies: Medusa's independent heads, and the regressive step that
//! Clover, Hydra, EAGLE, MTP and ReDrafter heads all share. The backend computes; the library owns the
//! tree search (`head_drafter` with a growth policy).
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "specdec/backend/tree_forward.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! The target's last-layer hidden states of tokens a request has just committed, as the decoders hand
//! them to a drafter (`observe_states`): row `i` of `hidden` is the state computed at position
//! `first + i`, over the token `tokens[first + i]` and everything before it (the state whose LM head
//! gives the distribution of `tokens[first + i + 1]`). The decoder sends the prompt's rows after
//! prefill (`first = 0`, `prompt.size() - 1` rows) and, after every step, the rows of the root and the
//! accepted drafts (`first` = the request's cached length before the step). Heads keep what they need:
//! Medusa the last row, EAGLE and Clover's augmenting block every row. Views are valid during the call.
struct context_states {
  request_id request = 0;
  //! Every token of the request so far; `tokens.back()` is the next root (its state comes next step).
  std::span<const token_id> tokens;
  //! The position of row 0.
  index_t first = 0;
  //! `[rows, hidden size]`.
  const_matrix_view<float> hidden;
};

//! Medusa heads (Cai et al., 2024): `h.num_heads()` heads on the target's last hidden state, head `k`
//! predicting the token `k + 1` places after the root, independently of the tokens guessed before it.
//! `h.apply_heads(states, logits)` writes head `k` applied to state row `r` into logits row
//! `r * num_heads() + k` (`logits` is `[states.rows() * num_heads(), vocab_size()]`;
//! `states` is `[rows, hidden_size()]`). `medusa_heads` adapts them to `regressive_heads`.
template <class H>
concept independent_heads = requires(H& h, const H& ch, const_matrix_view<float> states, matrix_view<float> logits) {
  { ch.num_heads() } -> std::convertible_to<index_t>;
  { ch.hidden_size() } -> std::convertible_to<index_t>;
  { ch.vocab_size() } -> std::convertible_to<index_t>;
  h.apply_heads(states, logits);
};

//! One regressive evaluation of a depth's frontier: for every row `r`, the node whose token is
//! `tokens[r]` is evaluated from its parent's state (the state stored at slot `parents[r]`, or the
//! request's context state -- the target's state before the root -- when `parents[r] == -1`); its own
//! state goes to slot `slots[r]` and its next-token logits to `logits` row `r`. Every node of one call
//! has depth `depth` (0: the root), so per-depth heads (Clover's, Medusa's) pick their weights from it.
//! Slots are the caller's indices, dense from 0 and reused from step to step: a backend keeps states in
//! a buffer it grows to the largest slot seen, and may follow `parents` to reach a node's ancestors
//! (EAGLE's draft layer attends to them).
struct head_step {
  request_id request = 0;
  std::int32_t depth = 0;
  std::span<const std::int32_t> parents;
  std::span<const token_id> tokens;
  std::span<const std::int32_t> slots;
};

//! Regressive heads: each node is evaluated from its parent's state and its own token, so children
//! depend on their ancestors (Clover's regressive connection and attention decoder, Hydra's sequential
//! heads, EAGLE's feature-level draft layer, MTP modules, ReDrafter's recurrent head, a layer-skipped
//! target):
//! - `h.vocab_size()`: the logits' columns (ids below both this and the target's mean the same token);
//! - `h.prepare(request, tokens)`, once per step before any `step` of `request` (`tokens.back()` is the
//!   root): runs what depends only on the context (Clover's augmenting block over the context states)
//!   and returns the deepest tree the heads can draft now (the number of per-depth heads; 0 when the
//!   request has no context state yet, e.g. a one-token prompt before its first step);
//! - `h.step(step, logits)`: evaluates one frontier (`head_step`), `logits` is
//!   `[step.tokens.size(), vocab_size()]`.
//! Optional hooks, called by `head_drafter` when present: `h.observe(states)` (`context_states`, the
//! target's states of committed tokens) and `h.release(request)`.
template <class H>
concept regressive_heads = requires(H& h, const H& ch, request_id request, std::span<const token_id> tokens,
                                    const head_step& step, matrix_view<float> logits) {
  { ch.vocab_size() } -> std::convertible_to<index_t>;
  { h.prepare(request, tokens) } -> std::convertible_to<index_t>;
  h.step(step, logits);
};

namespace detail {

template <class H>
void heads_observe(H& h, const context_states& states) {
  if constexpr (requires { h.observe(states); }) h.observe(states);
}
template <class H>
void heads_release(H& h, request_id request) {
  if constexpr (requires { h.release(request); }) h.release(request);
}

} // namespace detail

} // namespace v0
} // namespace specdec
