//! The batched KV keep-list of a verified batch, straight from the verifiers' results.
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/kv/keep_list.hpp"
#include "specdec/tree/token_tree_batch.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! The keep-list of every request of a verified batch: request `b`'s accepted path is
//! `results[b].path` (root first, as verifiers return it) in `trees.tree(b)`, after `context_lengths[b]`
//! cached entries; its moves are written to `moves[move_offsets[b], move_offsets[b + 1])` (positions
//! logical to request `b`'s own cache: apply them with `apply_keep_list`, strided or paged). Writes
//! `batch_size + 1` move offsets and returns the total. Equal to `keep_list(trees.tree(b),
//! results[b].path without the root, ...)` request by request; every request is checked before
//! anything is written (an error's message starts with "in trees[b]: "), so a throw leaves `moves` and
//! `move_offsets` untouched. `moves` needs room for the total accepted drafts. O(total accepted).
inline index_t keep_list_from_results(const token_tree_batch_view& trees, std::span<const verify_result> results,
                                      std::span<const std::int32_t> context_lengths, std::span<kv_move> moves,
                                      std::span<std::int32_t> move_offsets) {
  trees.offsets().validate("tree_offsets");
  const index_t batch = trees.batch_size();
  expects(static_cast<index_t>(results.size()) >= batch, "results.size()", results.size(), ">= batch_size");
  expects(static_cast<index_t>(context_lengths.size()) >= batch, "context_lengths.size()", context_lengths.size(),
          ">= batch_size");
  expects(static_cast<index_t>(move_offsets.size()) >= batch + 1, "move_offsets.size()", move_offsets.size(),
          ">= batch_size + 1");
  index_t accepted = 0;
  for (index_t b = 0; b < batch; ++b) {
    const verify_result& r = results[static_cast<std::size_t>(b)];
    detail::in_element("trees", b, [&] {
      expects(!r.path.empty() && r.path.front() == 0, "results[b].path[0]", r.path.empty() ? -1 : r.path.front(),
              "0: a verifier's path starts at the root");
      detail::check_keep_list_inputs(trees.tree(b), std::span<const std::int32_t>(r.path).subspan(1),
                                     context_lengths[static_cast<std::size_t>(b)], r.path.size() - 1);
    });
    accepted += static_cast<index_t>(r.path.size()) - 1;
  }
  expects(static_cast<index_t>(moves.size()) >= accepted, "moves.size()", moves.size(), ">= the total accepted drafts");
  index_t total = 0;
  move_offsets[0] = 0;
  for (index_t b = 0; b < batch; ++b) {
    const verify_result& r = results[static_cast<std::size_t>(b)];
    total += detail::write_keep_list(std::span<const std::int32_t>(r.path).subspan(1), context_lengths[static_cast<std::size_t>(b)],
                                     moves.data() + total);
    move_offsets[static_cast<std::size_t>(b + 1)] = static_cast<std::int32_t>(total);
  }
  return total;
}

} // namespace v0
} // namespace specdec
