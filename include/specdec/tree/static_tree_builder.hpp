//! Builds a token tree of a fixed shape (`tree_choices`) from Medusa-style per-depth candidate lists or
//! from a Clover/Hydra-style regressive expander.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/tree_choices.hpp"

namespace specdec {
inline namespace v0 {

//! A drafter that proposes ranked children for one node at a time, conditioned on that node (Clover and
//! Hydra regressive heads: the head for depth d + 1 consumes the token of the depth-d node it extends).
//! `e.expand(node, token, depth, ranked)` writes the node's `ranked.size()` best next tokens, best
//! first. `static_tree_builder` calls it depth by depth (breadth-first, increasing node index), only
//! for nodes that have children, and `node` is the index the node has in the tree being built, so an
//! expander can keep per-node state (hidden states) keyed by it; all nodes of smaller index exist.
template <class E>
concept tree_expander = requires(E& e, std::int32_t node, token_id token, std::int32_t depth, std::span<token_id> ranked) {
  e.expand(node, token, depth, ranked);
};

namespace detail {
// The smallest model of tree_expander, kept next to the concept as its compile-time check.
struct constant_expander {
  void expand(std::int32_t, token_id token, std::int32_t, std::span<token_id> ranked) const {
    std::fill(ranked.begin(), ranked.end(), token);
  }
};
static_assert(tree_expander<constant_expander>);
} // namespace detail

//! Builds static trees: the shape comes from `tree_choices`, the tokens from the drafter. Holds the
//! expander's candidate buffer, so after the first build of a given shape it allocates nothing as long
//! as the output tree is reused (`token_tree::clear` keeps capacity).
//!
//! Source: Medusa (Cai et al., 2024) for candidate lists per head; Hydra (Ankner et al., 2024) and
//! Clover (Xiao et al., 2024) for regressive heads that condition on the previous head's token.
class static_tree_builder {
public:
  //! Medusa: head `d` (row `d` of `candidates`, `[heads, k]`) ranks the tokens for depth `d + 1`
  //! independently of the parent, so the node with path `{r1, ..., rd}` carries `candidates(d - 1, rd)`.
  //! Throws unless `candidates` has at least `choices.max_depth()` rows and every rank used at depth
  //! `d` is `< candidates.cols()`. O(N); writes `out` (cleared first).
  void build(const tree_choices& choices, token_id root_token, const_matrix_view<token_id> candidates,
             token_tree& out) const {
    candidates.validate("candidates");
    expects(candidates.rows() >= choices.max_depth(), "candidates.rows()", candidates.rows(),
            ">= choices.max_depth() (one row of ranked candidates per head / depth)");
    for (std::int32_t d = 1; d <= choices.max_depth(); ++d) {
      expects_element(choices.max_rank_at_depth(d) < candidates.cols(), "choices rank at depth", d,
                      choices.max_rank_at_depth(d), "< candidates.cols() (the top-k of each head)");
    }
    out.clear(root_token);
    out.reserve(choices.size());
    for (index_t i = 1; i < choices.size(); ++i) {
      out.add_child(choices.parent(i), candidates(choices.depth(i) - 1, choices.rank(i)));
    }
  }

  //! Clover / Hydra: each node's children are the ranked tokens `expander` proposes for that node. The
  //! expander is asked for `choices.candidates_needed(node)` tokens (1 + the largest child rank), once
  //! per node with children, breadth-first. O(N) plus the expander's calls; writes `out`.
  template <tree_expander Expander>
  void build(const tree_choices& choices, token_id root_token, Expander& expander, token_tree& out) {
    out.clear(root_token);
    out.reserve(choices.size());
    // choices' canonical order is breadth-first with children grouped by parent in rank order, so
    // walking parents in index order and appending their children reproduces it exactly.
    index_t next = 1;
    for (index_t node = 0; node < choices.size(); ++node) {
      const std::int32_t needed = choices.candidates_needed(node);
      if (needed == 0) continue;
      ranked_.resize(static_cast<std::size_t>(needed));
      expander.expand(static_cast<std::int32_t>(node), out.token(node), out.depth(node), std::span<token_id>(ranked_));
      for (; next < choices.size() && choices.parent(next) == node; ++next) {
        out.add_child(static_cast<std::int32_t>(node), ranked_[static_cast<std::size_t>(choices.rank(next))]);
      }
    }
  }

private:
  std::vector<token_id> ranked_;
};

} // namespace v0
} // namespace specdec
