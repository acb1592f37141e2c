//! A static tree shape given as "choices": the rank paths of its draft nodes (Medusa's tree_choices).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! The shape of a static token tree, written as one path of rank indices per draft node: `{0}` is the
//! root's first-ranked child, `{0, 2}` the third-ranked child of that node, and so on. This is the
//! `tree_choices` / `medusa_choices` format of Medusa, EAGLE-1, Hydra and Sequoia.
//!
//! Nodes are numbered in canonical order: the root is node 0, draft nodes follow sorted by
//! (path length, path lexicographically) exactly as Medusa sorts its choices. That order is
//! breadth-first with each node's children in increasing rank, so a tree built from it satisfies
//! every `token_tree_view` invariant; node `i` (i >= 1) is the `i - 1`-th path after sorting.
//!
//! Preconditions (checked, `specdec::invalid_argument` naming the offending path): every rank is
//! >= 0, no path is empty or listed twice, every proper prefix of a path is itself listed, at most
//! `max_tree_nodes - 1` paths and depth at most `max_tree_depth`. Ranks may skip values (`{0}` and
//! `{2}` without `{1}`): the rank picks the candidate, the node's sibling position follows from the sort.
//!
//! Construction sorts and validates in O(P L log P) for P paths of length at most L and allocates;
//! build trees from it many times (see `static_tree_builder`).
class tree_choices {
public:
  //! The root-only shape (no draft nodes).
  tree_choices() { reset_root(); }

  //! Choices from a list of rank paths, in any order.
  explicit tree_choices(const std::vector<std::vector<std::int32_t>>& paths) { assign(paths); }
  tree_choices(std::initializer_list<std::vector<std::int32_t>> paths)
      : tree_choices(std::vector<std::vector<std::int32_t>>(paths)) {}

  //! The number of nodes the tree has, root included (paths + 1).
  [[nodiscard]] index_t size() const noexcept { return static_cast<index_t>(parents_.size()); }
  //! The parent of node `i` in canonical order (-1 for the root).
  [[nodiscard]] std::int32_t parent(index_t i) const noexcept { return parents_[static_cast<std::size_t>(i)]; }
  //! The rank of node `i` among its parent's candidates (the last entry of its path; -1 for the root).
  [[nodiscard]] std::int32_t rank(index_t i) const noexcept { return ranks_[static_cast<std::size_t>(i)]; }
  //! The depth of node `i` (its path length).
  [[nodiscard]] std::int32_t depth(index_t i) const noexcept { return depths_[static_cast<std::size_t>(i)]; }
  //! The largest depth.
  [[nodiscard]] std::int32_t max_depth() const noexcept { return max_depth_; }
  //! The largest rank used at `depth` (1-based depth of the child), -1 when no node has that depth.
  [[nodiscard]] std::int32_t max_rank_at_depth(std::int32_t depth) const noexcept {
    return depth >= 1 && depth <= max_depth_ ? max_rank_[static_cast<std::size_t>(depth - 1)] : -1;
  }
  //! How many ranked candidates node `i` needs: 1 + the largest rank among its children, 0 for a leaf.
  [[nodiscard]] std::int32_t candidates_needed(index_t i) const noexcept { return needed_[static_cast<std::size_t>(i)]; }

  //! The parents of all nodes in canonical order.
  [[nodiscard]] std::span<const std::int32_t> parents() const noexcept { return parents_; }

  //! The sorted paths (without the root), e.g. to print or store a plan.
  [[nodiscard]] std::vector<std::vector<std::int32_t>> paths() const {
    std::vector<std::vector<std::int32_t>> out(static_cast<std::size_t>(size() - 1));
    for (index_t i = size() - 1; i >= 1; --i) {
      auto& path = out[static_cast<std::size_t>(i - 1)];
      for (index_t n = i; n > 0; n = parent(n)) path.push_back(rank(n));
      std::reverse(path.begin(), path.end());
    }
    return out;
  }

private:
  static std::string format_path(const std::vector<std::int32_t>& path) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < path.size(); ++i) out << (i ? ", " : "") << path[i];
    out << ']';
    return out.str();
  }

  void reset_root() {
    parents_.assign(1, -1);
    ranks_.assign(1, -1);
    depths_.assign(1, 0);
    needed_.assign(1, 0);
    max_rank_.clear();
    max_depth_ = 0;
  }

  void assign(const std::vector<std::vector<std::int32_t>>& paths) {
    expects(static_cast<index_t>(paths.size()) + 1 <= max_tree_nodes, "choices.size()", paths.size(),
            "at most max_tree_nodes - 1 (4095) paths: the tree has paths + 1 nodes");
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const auto& path = paths[i];
      expects_element(!path.empty(), "choices", i, "[]", "a non-empty path (the root is implicit)");
      expects_element(static_cast<index_t>(path.size()) <= max_tree_depth, "choices", i, format_path(path),
                      "a path of at most max_tree_depth (255) ranks");
      for (const std::int32_t r : path) {
        expects_element(r >= 0 && r < max_tree_nodes, "choices", i, format_path(path),
                        "ranks in [0, max_tree_nodes) (a node cannot have more children)");
      }
    }
    // Canonical order: by length, then lexicographically (Medusa's sort key).
    std::vector<const std::vector<std::int32_t>*> sorted(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) sorted[i] = &paths[i];
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
      return a->size() != b->size() ? a->size() < b->size() : *a < *b;
    });
    reset_root();
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const auto& path = *sorted[i];
      expects(i == 0 || path != *sorted[i - 1], "choices path", format_path(path), "listed once");
      // The parent is the path without its last rank: an earlier (shorter) sorted path, or the root.
      std::int32_t parent = 0;
      if (path.size() > 1) {
        const auto prefix_end = sorted.begin() + static_cast<std::ptrdiff_t>(i);
        const auto found = std::lower_bound(sorted.begin(), prefix_end, &path, [](const auto* candidate, const auto* p) {
          // Compare candidate against the prefix of p (all but its last rank) in the sort order.
          const std::size_t n = p->size() - 1;
          if (candidate->size() != n) return candidate->size() < n;
          return std::lexicographical_compare(candidate->begin(), candidate->end(), p->begin(), p->begin() + static_cast<std::ptrdiff_t>(n));
        });
        const bool present = found != prefix_end && (*found)->size() == path.size() - 1 &&
                             std::equal((*found)->begin(), (*found)->end(), path.begin());
        expects(present, "choices path", format_path(path), "its prefix (the path without the last rank) also listed");
        parent = static_cast<std::int32_t>(found - sorted.begin()) + 1;
      }
      const std::int32_t r = path.back();
      const auto depth = static_cast<std::int32_t>(path.size());
      parents_.push_back(parent);
      ranks_.push_back(r);
      depths_.push_back(depth);
      needed_.push_back(0);
      auto& need = needed_[static_cast<std::size_t>(parent)];
      need = std::max(need, r + 1);
      if (depth > max_depth_) {
        max_depth_ = depth;
        max_rank_.push_back(-1);
      }
      auto& top = max_rank_[static_cast<std::size_t>(depth - 1)];
      top = std::max(top, r);
    }
  }

  std::vector<std::int32_t> parents_;
  std::vector<std::int32_t> ranks_;
  std::vector<std::int32_t> depths_;
  std::vector<std::int32_t> needed_;
  std::vector<std::int32_t> max_rank_;
  std::int32_t max_depth_ = 0;
};

} // namespace v0
} // namespace specdec
