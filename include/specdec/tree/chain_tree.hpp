//! k draft chains under one root: independent drafts (multi-draft, SpecInfer-style sampling of k
//! sequences, or one draft model's k samples) arranged as one token tree.
#pragma once

#include <cstdint>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/ragged.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! Writes a tree whose root has one branch per chain: chain `c` (tokens `[offsets.begin(c),
//! offsets.end(c))` of `tokens`) hangs below the root as a path, and chains are ranked in the order
//! given (chain 0 is the root's first child). Chains are not merged: equal prefixes stay separate
//! branches, as multi-draft verification with replacement expects. Empty chains add nothing.
//! Nodes are numbered chain after chain. Throws on bad offsets or if the tree would exceed
//! `max_tree_nodes` / `max_tree_depth`. O(total tokens); allocation-free when `out` has the capacity.
//! Source: SpecInfer (Miao et al., 2024) token trees from multiple drafts; a single chain is the
//! classic draft-model speculative decoding (Leviathan et al., 2023; Chen et al., 2023).
inline void build_chain_tree(token_id root_token, ragged_offsets offsets, std::span<const token_id> tokens,
                             token_tree& out) {
  offsets.validate("chain_offsets");
  expects(offsets.total_size() == static_cast<index_t>(tokens.size()), "tokens.size()", tokens.size(),
          "== chain_offsets[chains] (the total length of the chains)");
  expects(offsets.total_size() + 1 <= max_tree_nodes, "chain tokens + root", offsets.total_size() + 1,
          "at most max_tree_nodes (4096) nodes");
  for (index_t c = 0; c < offsets.batch_size(); ++c) {  // checked up front: `out` is never left half built
    expects_element(offsets.size(c) <= max_tree_depth, "chain length", c, offsets.size(c), "at most max_tree_depth (255)");
  }
  out.clear(root_token);
  out.reserve(offsets.total_size() + 1);
  for (index_t c = 0; c < offsets.batch_size(); ++c) {
    out.add_chain(0, tokens.subspan(static_cast<std::size_t>(offsets.begin(c)), static_cast<std::size_t>(offsets.size(c))));
  }
}

//! The same for `k` chains of equal length: row `c` of `chains` (`[k, length]`) is chain `c`.
inline void build_chain_tree(token_id root_token, const_matrix_view<token_id> chains, token_tree& out) {
  chains.validate("chains");
  expects(chains.rows() * chains.cols() + 1 <= max_tree_nodes, "chains.rows() * chains.cols() + 1",
          chains.rows() * chains.cols() + 1, "at most max_tree_nodes (4096) nodes");
  expects(chains.rows() == 0 || chains.cols() <= max_tree_depth, "chains.cols()", chains.cols(), "at most max_tree_depth (255)");
  out.clear(root_token);
  out.reserve(chains.rows() * chains.cols() + 1);
  for (index_t c = 0; c < chains.rows(); ++c) out.add_chain(0, chains.row(c));
}

} // namespace v0
} // namespace specdec
