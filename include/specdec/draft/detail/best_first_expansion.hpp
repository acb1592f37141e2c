//! Best-first growth of a draft tree by path probability: the search the count-based drafters (n-gram
//! cache, suffix trees) share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! Grows a root-only tree by always adding the candidate with the highest path probability (the product
//! of the estimated continuation probabilities from the root), as EAGLE-2 does with draft-model
//! probabilities and SuffixDecoding with continuation frequencies. A node's path probability never
//! exceeds its parent's, so a parent is always added before its children; ties go to the candidate
//! offered first, so the children of a node, offered best first, keep their rank order. Deterministic.
//! Keeps its heap storage between calls. O(N (b + log(N b))) for N nodes and b children offered per node.
class best_first_expansion {
public:
  //! Grows `tree` (root-only on entry) to at most `node_budget` nodes and depth `max_depth`.
  //! `expand(node, handle, offer)` is called once for every node that may get children (the root with
  //! `root_handle` first) and calls `offer(token, probability, handle)` for at most `max_offers` candidate
  //! children, best first; a candidate whose path probability is not above zero or is below
  //! `min_path_probability` is dropped. Returns the sum of the path probabilities of the added nodes:
  //! the expected number of accepted drafts when the probabilities are right. Allocates only when
  //! `node_budget` or `max_offers` exceed every earlier call's.
  template <class Expand>
  double grow(token_tree& tree, index_t node_budget, index_t max_depth, index_t max_offers, double min_path_probability,
              std::int64_t root_handle, Expand&& expand) {
    heap_.clear();
    // Every added node and the root offer at most max_offers candidates each.
    heap_.reserve(static_cast<std::size_t>(std::max<index_t>(node_budget, 1) * max_offers));
    tree.reserve(node_budget);
    std::int64_t offered = 0;
    double expected = 0.0;
    if (node_budget <= 1 || max_depth <= 0) return expected;
    std::int32_t parent = 0;
    double parent_probability = 1.0;
    const auto offer = [&](token_id token, double probability, std::int64_t handle) {
      const double path = parent_probability * probability;
      if (!(path > 0.0) || path < min_path_probability) return;
      heap_.push_back({path, offered++, handle, parent, token});
      std::push_heap(heap_.begin(), heap_.end(), worse);
    };
    expand(std::int32_t{0}, root_handle, offer);
    while (!heap_.empty() && tree.size() < node_budget) {
      std::pop_heap(heap_.begin(), heap_.end(), worse);
      const candidate best = heap_.back();
      heap_.pop_back();
      const std::int32_t node = tree.add_child(best.parent, best.token);
      expected += best.probability;
      if (tree.depth(node) < max_depth) {
        parent = node;
        parent_probability = best.probability;
        expand(node, best.handle, offer);
      }
    }
    return expected;
  }

private:
  struct candidate {
    double probability;
    std::int64_t order;
    std::int64_t handle;
    std::int32_t parent;
    token_id token;
  };
  // Heap order: the top is the highest probability, then the earliest offered.
  static bool worse(const candidate& a, const candidate& b) noexcept {
    return a.probability != b.probability ? a.probability < b.probability : a.order > b.order;
  }

  std::vector<candidate> heap_;
};

} // namespace detail
} // namespace v0
} // namespace specdec
