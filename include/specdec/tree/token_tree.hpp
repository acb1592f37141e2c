//! The canonical token tree that every drafter, builder, flattener and verifier speaks: owning and view
//! forms, and its validation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/config.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! The most nodes a tree may have, root included. Flattened masks are `N x N` bits, and random
//! addresses carry the node index in 24 bits; 4096 is far above what engines verify per step.
inline constexpr index_t max_tree_nodes = 4096;
//! The deepest a node may be (the root has depth 0): the longest draft chain a step can verify.
inline constexpr index_t max_tree_depth = 255;
static_assert(max_tree_nodes <= index_t{max_random_node} + 1, "every node index must fit a random address");

//! Whether two children of one node may carry the same token. Drafts drawn with replacement
//! (multi-draft, SpecInfer) legitimately repeat a token, and greedy acceptance does not care; rules
//! that sample children without replacement (Sequoia, EAGLE, Clover-2) forbid it.
enum class duplicate_siblings : std::uint8_t { allowed, forbidden };

//! A read-only view of a token tree, structure of arrays:
//! - nodes are in topological order: `parent(i) < i` for every node but the root;
//! - node 0 is the root: the last emitted token (the previous step's bonus or correction, whose KV this
//!   step's forward computes), not a draft; `parent(0) == -1`, `depth(0) == 0`;
//! - `depth(i) == depth(parent(i)) + 1`;
//! - the children of a node appear in increasing node index, and that order is their rank order
//!   (the first child is the drafter's first choice);
//! - `size()` counts every node, the root included; a root-only tree (a drafter that found nothing)
//!   is valid, a tree of zero nodes is not.
//! Trivially copyable; kernels take it by value. `validate` checks all of the above.
class token_tree_view {
public:
  constexpr token_tree_view() = default;

  //! Views `size` nodes whose fields live in three arrays.
  SPECDEC_HD constexpr token_tree_view(const token_id* tokens, const std::int32_t* parents, const std::int32_t* depths,
                                       index_t size) noexcept
      : tokens_(tokens), parents_(parents), depths_(depths), size_(size) {}

  [[nodiscard]] SPECDEC_HD constexpr index_t size() const noexcept { return size_; }
  [[nodiscard]] SPECDEC_HD constexpr bool empty() const noexcept { return size_ == 0; }
  //! The token of node `i`.
  [[nodiscard]] SPECDEC_HD constexpr token_id token(index_t i) const noexcept { return tokens_[i]; }
  //! The parent of node `i`, -1 for the root.
  [[nodiscard]] SPECDEC_HD constexpr std::int32_t parent(index_t i) const noexcept { return parents_[i]; }
  //! The depth of node `i`: 0 for the root, the number of draft tokens on its path otherwise.
  [[nodiscard]] SPECDEC_HD constexpr std::int32_t depth(index_t i) const noexcept { return depths_[i]; }

  [[nodiscard]] std::span<const token_id> tokens() const noexcept { return {tokens_, static_cast<std::size_t>(size_)}; }
  [[nodiscard]] std::span<const std::int32_t> parents() const noexcept { return {parents_, static_cast<std::size_t>(size_)}; }
  [[nodiscard]] std::span<const std::int32_t> depths() const noexcept { return {depths_, static_cast<std::size_t>(size_)}; }

  //! The largest depth of any node (0 for a root-only tree). O(N).
  [[nodiscard]] std::int32_t max_depth() const noexcept {
    std::int32_t deepest = 0;
    for (index_t i = 0; i < size_; ++i) deepest = std::max(deepest, depths_[i]);
    return deepest;
  }

private:
  const token_id* tokens_ = nullptr;
  const std::int32_t* parents_ = nullptr;
  const std::int32_t* depths_ = nullptr;
  index_t size_ = 0;
};

namespace detail {

inline void validate_tree_structure(const token_tree_view& tree, index_t vocab_size, std::string_view name) {
  expects(tree.size() >= 1, name, tree.size(), "a tree with at least one node (the root)");
  expects(tree.size() <= max_tree_nodes, name, tree.size(), "at most max_tree_nodes (4096) nodes");
  expects(vocab_size >= 1, "vocab_size", vocab_size, "vocab_size >= 1");
  expects(tree.parent(0) == -1, "parent[0]", tree.parent(0), "-1: node 0 is the root");
  expects(tree.depth(0) == 0, "depth[0]", tree.depth(0), "0: node 0 is the root");
  for (index_t i = 0; i < tree.size(); ++i) {
    const token_id token = tree.token(i);
    expects_element(token >= 0 && token < vocab_size, "token", i, token, "a token id in [0, vocab_size)");
    if (i == 0) continue;
    const std::int32_t parent = tree.parent(i);
    expects_element(parent >= 0 && parent < i, "parent", i, parent,
                    "0 <= parent[i] < i (nodes in topological order, one root)");
    expects_element(tree.depth(i) == tree.depth(parent) + 1, "depth", i, tree.depth(i), "depth[parent[i]] + 1");
    expects_element(tree.depth(i) <= max_tree_depth, "depth", i, tree.depth(i), "at most max_tree_depth (255)");
  }
}

} // namespace detail

//! Throws `specdec::invalid_argument` naming the first violated invariant of `token_tree_view` (zero
//! nodes, more than `max_tree_nodes`, a parent out of order or range, a wrong depth, a depth beyond
//! `max_tree_depth`, a token outside `[0, vocab_size)`), and, when `siblings` is `forbidden`, two
//! children of one node with the same token. `scratch` must hold `tree.size()` entries when duplicates
//! are forbidden (it is unused otherwise), so that validation in a decoding loop allocates nothing.
//! O(N) plus O(N log N) for the duplicate check.
inline void validate(const token_tree_view& tree, index_t vocab_size, duplicate_siblings siblings,
                     std::span<std::uint64_t> scratch, std::string_view name = "tree.size()") {
  detail::validate_tree_structure(tree, vocab_size, name);
  if (siblings == duplicate_siblings::allowed) return;
  expects(scratch.size() >= static_cast<std::size_t>(tree.size()), "scratch.size()", scratch.size(),
          ">= tree.size() for the duplicate-sibling check");
  // Sort (parent, token) keys: equal neighbours are duplicate siblings.
  const auto keys = scratch.first(static_cast<std::size_t>(tree.size() - 1));
  for (index_t i = 1; i < tree.size(); ++i) {
    keys[static_cast<std::size_t>(i - 1)] =
        (static_cast<std::uint64_t>(tree.parent(i)) << 32) | static_cast<std::uint32_t>(tree.token(i));
  }
  std::sort(keys.begin(), keys.end());
  const auto duplicate = std::adjacent_find(keys.begin(), keys.end());
  if (duplicate != keys.end()) {
    expects_element(false, "token of a child of node", static_cast<std::int64_t>(*duplicate >> 32),
                    static_cast<token_id>(*duplicate & 0xffffffffu),
                    "distinct sibling tokens (this rule samples children without replacement)");
  }
}

//! `validate` with its own scratch space (allocates when duplicates are forbidden).
inline void validate(const token_tree_view& tree, index_t vocab_size,
                     duplicate_siblings siblings = duplicate_siblings::allowed, std::string_view name = "tree.size()") {
  std::vector<std::uint64_t> scratch(siblings == duplicate_siblings::forbidden ? static_cast<std::size_t>(tree.size()) : 0);
  validate(tree, vocab_size, siblings, scratch, name);
}

//! An owning token tree, built root first and then child by child. Appending keeps every invariant of
//! `token_tree_view` by construction: a child's index exceeds its parent's, and children appended to a
//! node later rank lower. `clear` keeps the capacity, so a drafter can rebuild its tree every step
//! without allocating.
class token_tree {
public:
  //! A root-only tree.
  explicit token_tree(token_id root_token) { clear(root_token); }

  //! A tree from parallel arrays of tokens and parents (`parents[0] == -1`); depths are derived.
  //! Validates everything but the vocabulary (call `validate` with the model's vocabulary size).
  token_tree(std::span<const token_id> tokens, std::span<const std::int32_t> parents) {
    expects(tokens.size() == parents.size(), "parents.size()", parents.size(), "== tokens.size()");
    expects(!tokens.empty(), "tokens.size()", tokens.size(), "a tree with at least one node (the root)");
    expects(parents[0] == -1, "parent[0]", parents[0], "-1: node 0 is the root");
    clear(tokens[0]);
    for (std::size_t i = 1; i < tokens.size(); ++i) {
      expects_element(parents[i] >= 0 && static_cast<std::size_t>(parents[i]) < i, "parent", i, parents[i],
                      "0 <= parent[i] < i (nodes in topological order, one root)");
      add_child(parents[i], tokens[i]);
    }
  }

  //! Resets to a root-only tree; keeps the capacity.
  void clear(token_id root_token) {
    tokens_.assign(1, root_token);
    parents_.assign(1, -1);
    depths_.assign(1, 0);
  }

  //! Reserves room for `nodes` nodes.
  void reserve(index_t nodes) {
    tokens_.reserve(static_cast<std::size_t>(nodes));
    parents_.reserve(static_cast<std::size_t>(nodes));
    depths_.reserve(static_cast<std::size_t>(nodes));
  }

  //! Appends a child of `parent` carrying `token`, ranked after `parent`'s existing children; returns
  //! its node index. Throws if `parent` is not a node, or the tree would exceed `max_tree_nodes` nodes or
  //! `max_tree_depth` depth.
  std::int32_t add_child(std::int32_t parent, token_id token) {
    expects(parent >= 0 && parent < size(), "parent", parent, "an existing node index");
    expects(size() < max_tree_nodes, "tree.size()", size(), "at most max_tree_nodes (4096) nodes");
    const std::int32_t depth = depths_[static_cast<std::size_t>(parent)] + 1;
    expects(depth <= max_tree_depth, "depth", depth, "at most max_tree_depth (255)");
    tokens_.push_back(token);
    parents_.push_back(parent);
    depths_.push_back(depth);
    return static_cast<std::int32_t>(size() - 1);
  }

  //! Appends a chain below `parent`: each token the only (so far) child of the previous; returns the
  //! index of the last node (`parent` for an empty chain).
  std::int32_t add_chain(std::int32_t parent, std::span<const token_id> chain) {
    for (const token_id token : chain) parent = add_child(parent, token);
    return parent;
  }

  [[nodiscard]] index_t size() const noexcept { return static_cast<index_t>(tokens_.size()); }
  [[nodiscard]] token_id token(index_t i) const noexcept { return tokens_[static_cast<std::size_t>(i)]; }
  [[nodiscard]] std::int32_t parent(index_t i) const noexcept { return parents_[static_cast<std::size_t>(i)]; }
  [[nodiscard]] std::int32_t depth(index_t i) const noexcept { return depths_[static_cast<std::size_t>(i)]; }

  [[nodiscard]] token_tree_view view() const noexcept {
    return {tokens_.data(), parents_.data(), depths_.data(), size()};
  }
  // NOLINTNEXTLINE(google-explicit-constructor): a tree is usable wherever a view is expected.
  operator token_tree_view() const noexcept { return view(); }

private:
  std::vector<token_id> tokens_;
  std::vector<std::int32_t> parents_;
  std::vector<std::int32_t> depths_;
};

} // namespace v0
} // namespace specdec
