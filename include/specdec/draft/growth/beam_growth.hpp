//! ReDrafter's beam search as a growth policy: the surviving beams, merged into a trie.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/draft/growth/detail_budget.hpp"
#include "specdec/draft/growth_policy.hpp"

namespace specdec {
inline namespace v0 {

//! Beam search (ReDrafter, Cheng et al., 2024): at each depth every live beam proposes its best
//! tokens and the `width` best extensions by cumulative log-probability survive; the beams of the last
//! depth, merged by shared prefixes (a trie), form the tree: at most 1 + width * depth nodes, and
//! prefixes whose beams died are pruned (deterministic drafts). Sampled drafts draw each beam's
//! extensions from q, keep the same counts, and keep the dead prefixes (pruning by drawn values would
//! bias verification).
class beam_growth {
public:
  beam_growth(index_t width, index_t depth) : width_(width), depth_(depth) {
    expects(width >= 1 && width < max_tree_nodes, "width", width, "in [1, max_tree_nodes)");
    expects(depth >= 1 && depth <= max_tree_depth, "depth", depth, "in [1, max_tree_depth]");
  }

  [[nodiscard]] index_t max_depth() const noexcept { return depth_; }
  [[nodiscard]] index_t max_nodes() const noexcept { return std::min<index_t>(1 + width_ * depth_, max_tree_nodes); }
  [[nodiscard]] index_t candidates_per_node() const noexcept { return width_; }

  void choose_children(growth_frontier& f) {
    for (std::size_t r = 0; r < f.nodes.size(); ++r) f.children[r] = detail::drawable(f, r, width_);
    best_.keep(f, std::min<index_t>(width_, std::max<index_t>(f.node_budget - f.tree_size, 0)));
  }

  void choose_expansions(growth_children& c) const { std::fill(c.expand.begin(), c.expand.end(), std::uint8_t{1}); }

  //! Keeps the nodes on a path to the deepest level reached (the surviving beams).
  void prune(const token_tree_view& tree, std::span<const double>, std::span<std::uint8_t> keep) {
    const index_t deepest = tree.max_depth();
    live_.assign(static_cast<std::size_t>(tree.size()), 0);
    for (index_t i = tree.size() - 1; i >= 1; --i) {
      if (tree.depth(i) == deepest) live_[static_cast<std::size_t>(i)] = 1;
      if (live_[static_cast<std::size_t>(i)]) live_[static_cast<std::size_t>(tree.parent(i))] = 1;
    }
    for (index_t i = 1; i < tree.size(); ++i) keep[static_cast<std::size_t>(i)] = keep[static_cast<std::size_t>(i)] && live_[static_cast<std::size_t>(i)];
  }

private:
  index_t width_;
  index_t depth_;
  detail::best_children best_;
  std::vector<std::uint8_t> live_;
};

static_assert(growth_policy<beam_growth>);

} // namespace v0
} // namespace specdec
