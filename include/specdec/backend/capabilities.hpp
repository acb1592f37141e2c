//! Optional model capabilities that head drafters (Medusa, Clover, Hydra, EAGLE) and self-speculation
//! need beyond `target_model`, one concept each, so a drafter requires exactly what it uses.
#pragma once

#include <concepts>
#include <span>

#include "specdec/backend/tree_forward.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! The last layer's hidden states (after the final norm, the LM head's input) of the rows the latest
//! call evaluated: `m.hidden_size()` and `m.last_hidden_states()`, a `[rows, hidden_size()]` view
//! valid until the next call -- after `forward`, one row per tree node (flat batch order); after
//! `prefill(request, prompt)`, one row per cached prompt token (`prompt.size() - 1` rows). The
//! decoders hand a request's committed rows to head drafters (`context_states`): Medusa and Hydra heads
//! read the last one, EAGLE and Clover's augmenting block all of them.
template <class M>
concept hidden_state_source = requires(const M& m) {
  { m.hidden_size() } -> std::convertible_to<index_t>;
  { m.last_hidden_states() } -> std::convertible_to<const_matrix_view<float>>;
};

//! The token embedding table applied to ids: `m.embed(tokens, out)` writes row `r` of `out`
//! (`[tokens.size(), hidden_size()]`) with the embedding of `tokens[r]` (Clover's and EAGLE's input).
template <class M>
concept token_embedder = requires(const M& m, std::span<const token_id> tokens, matrix_view<float> out) {
  { m.hidden_size() } -> std::convertible_to<index_t>;
  m.embed(tokens, out);
};

//! The model's LM head applied to arbitrary states: `m.apply_lm_head(states, logits)` maps
//! `[rows, hidden_size()]` states to `[rows, vocab_size()]` logits (heads that share the target's
//! classifier, as Clover and EAGLE do).
template <class M>
concept lm_head = requires(const M& m, const_matrix_view<float> states, matrix_view<float> logits) {
  { m.hidden_size() } -> std::convertible_to<index_t>;
  { m.vocab_size() } -> std::convertible_to<index_t>;
  m.apply_lm_head(states, logits);
};

//! A forward through the first `layers` layers only, then the final norm and the LM head
//! (self-speculative layer skip, LayerSkip / Draft & Verify): `m.num_layers()` and
//! `m.forward_partial(batch, layers, logits)` with `forward`'s contract, writing its KV to a cache of
//! its own that `commit` and `release` keep in step with the full model's.
template <class M>
concept partial_forward = requires(M& m, const M& cm, const tree_forward_batch& batch, index_t layers, matrix_view<float> logits) {
  { cm.num_layers() } -> std::convertible_to<index_t>;
  m.forward_partial(batch, layers, logits);
};

} // namespace v0
} // namespace specdec
