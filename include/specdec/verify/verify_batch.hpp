//! Verification of a ragged batch of requests, each with its own tree, sampling parameters, random
//! address and stop tokens.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/ragged.hpp"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/tree/token_tree_batch.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! A batch step: request b's tree is `trees.tree(b)`, its logits (and q) rows are the rows
//! `[trees.offsets().begin(b), trees.offsets().end(b))` of the flat `[total_nodes, vocab]` tensors --
//! the layout of one batched tree forward.
struct verify_batch_input {
  token_tree_batch_view trees;
  const_matrix_view<float> target_logits;    //!< `[>= trees.total_nodes(), vocab]`
  const_matrix_view<float> draft_probs;      //!< `[>= trees.total_nodes(), vocab]`, or empty for rules without q
  std::span<const sampling_params> params;   //!< one per request
  std::span<const random_address> addresses; //!< one per request (its seed, request id and step)
  //! Optional stop tokens: with `stop_offsets` set, request b's are `stop_tokens[stop_offsets.begin(b)
  //! .. end(b))`; with `stop_offsets` left empty, every request shares all of `stop_tokens`.
  ragged_offsets stop_offsets;
  std::span<const token_id> stop_tokens;

  //! Request b's input, as `verify` takes it.
  [[nodiscard]] verify_input request(index_t b) const {
    const index_t first = trees.offsets().begin(b);
    const index_t nodes = trees.offsets().size(b);
    verify_input in;
    in.tree = trees.tree(b);
    in.target_logits = target_logits.middle_rows(first, nodes);
    in.draft_probs = draft_probs.empty() ? const_matrix_view<float>{} : draft_probs.middle_rows(first, nodes);
    in.params = params[static_cast<std::size_t>(b)];
    in.address = addresses[static_cast<std::size_t>(b)];
    if (stop_offsets.data() != nullptr) {
      in.stop_tokens = stop_tokens.subspan(static_cast<std::size_t>(stop_offsets.begin(b)),
                                           static_cast<std::size_t>(stop_offsets.size(b)));
    } else {
      in.stop_tokens = stop_tokens;
    }
    return in;
  }
};

//! Verifies every request of `batch` with `rule`, writing `results[b]`; the results equal those of
//! calling `rule.verify(batch.request(b), results[b])` one by one (that is how the CPU reference runs).
//! Validates the batch's shape first; a request's own error is rethrown with "in requests[b]: " in front,
//! and leaves the results of earlier requests written.
template <verifier Rule>
void verify_batch(Rule& rule, const verify_batch_input& batch, std::span<verify_result> results) {
  const index_t size = batch.trees.batch_size();
  batch.trees.offsets().validate("tree_offsets");
  expects(batch.params.size() == static_cast<std::size_t>(size), "params.size()", batch.params.size(), "== batch size");
  expects(batch.addresses.size() == static_cast<std::size_t>(size), "addresses.size()", batch.addresses.size(),
          "== batch size");
  expects(results.size() >= static_cast<std::size_t>(size), "results.size()", results.size(), ">= batch size");
  expects(batch.target_logits.rows() >= batch.trees.total_nodes(), "target_logits.rows()", batch.target_logits.rows(),
          ">= total nodes of the batch");
  expects(batch.draft_probs.empty() || batch.draft_probs.rows() >= batch.trees.total_nodes(), "draft_probs.rows()",
          batch.draft_probs.rows(), ">= total nodes of the batch");
  if (batch.stop_offsets.batch_size() > 0 || batch.stop_offsets.data() != nullptr) {
    batch.stop_offsets.validate("stop_offsets");
    expects(batch.stop_offsets.batch_size() == size, "stop_offsets batch size", batch.stop_offsets.batch_size(),
            "== batch size");
    expects(batch.stop_offsets.total_size() <= static_cast<index_t>(batch.stop_tokens.size()), "stop_tokens.size()",
            batch.stop_tokens.size(), ">= the last stop offset");
  }
  for (index_t b = 0; b < size; ++b) {
    detail::in_element("requests", b, [&] { rule.verify(batch.request(b), results[static_cast<std::size_t>(b)]); });
  }
}

} // namespace v0
} // namespace specdec
