//! The concepts a draft model satisfies: an autoregressive model with its own KV state, optionally able
//! to evaluate a token tree in one call.
#pragma once

#include <concepts>
#include <span>

#include "specdec/backend/tree_forward.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! An independent draft model (a small LM that shares the target's tokenizer or maps into it):
//! - `m.vocab_size()`: its vocabulary size (ids below both its and the target's mean the same tokens;
//!   drafters map its logits into the target's vocabulary);
//! - `m.extend(request, tokens, next_logits)`: appends `tokens` (at least one) to the request's KV
//!   (starting the request on first use) and writes the logits of the token after the last one
//!   (`next_logits.size() == vocab_size()`);
//! - `m.length(request)`: how many tokens its KV holds for `request` (0 for an unknown request);
//! - `m.rollback(request, length)`: drops every entry past `length` (`length <= m.length(request)`);
//! - `m.release(request)`: forgets `request`.
template <class M>
concept draft_model = requires(M& m, const M& cm, request_id request, std::span<const token_id> tokens,
                               std::span<float> next_logits, index_t length) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  m.extend(request, tokens, next_logits);
  { cm.length(request) } -> std::convertible_to<index_t>;
  m.rollback(request, length);
  m.release(request);
};

//! A draft model that evaluates tree nodes in one call, for tree drafting:
//! `m.extend_tree(request, tree, first, logits)` evaluates nodes `[first, tree.size())` of `tree`, whose
//! root is the last token of the request's KV and whose nodes `[1, first)` were evaluated by earlier
//! calls since the last `rollback`. Node `i` attends to the request's KV and to its own ancestors; it is
//! appended at KV slot `length_before_tree + i - 1`; its next-token logits go to `logits` row
//! `i - first`. A `rollback` to the pre-tree length removes every tree node.
template <class M>
concept tree_draft_model = draft_model<M> && requires(M& m, request_id request, const token_tree_view& tree, index_t first,
                                                       matrix_view<float> logits) {
  m.extend_tree(request, tree, first, logits);
};

} // namespace v0
} // namespace specdec
