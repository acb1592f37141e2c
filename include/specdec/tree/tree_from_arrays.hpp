//! Canonical token trees from the arrays engines keep: a parent list in any node order, or
//! first-child / next-sibling links in any sibling order, renumbered into the library's order.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <span>
#include <vector>

#include "specdec/core/contiguous.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

//! Renumbers a tree given by its root and rank-ordered child lists (`first[u]`, then `next[...]`) into
//! canonical order and writes it to `out`: a node is numbered once its parent and its previous sibling
//! are, the lowest input index first, so an input already in canonical order keeps its numbering, and
//! siblings keep their rank order. Checks that every node is reached exactly once (no cycle, no node
//! linked twice, none unreachable), at most `max_tree_nodes` nodes and `max_tree_depth` depth; `out`
//! and `new_index` are written only when everything holds. O(N log N).
inline void renumber_tree(std::span<const token_id> tokens, std::int64_t root, std::span<const std::int64_t> first,
                          std::span<const std::int64_t> next, std::string_view links_name, token_tree& out,
                          std::span<std::int32_t> new_index) {
  const auto n = tokens.size();
  std::vector<std::int32_t> order;  // input indices in canonical order
  std::vector<std::int32_t> parent(n, -1);
  std::vector<std::int32_t> depth(n, 0);
  std::vector<std::int32_t> numbered(n, -1);
  std::vector<bool> seen(n, false);
  order.reserve(n);
  std::priority_queue<std::int64_t, std::vector<std::int64_t>, std::greater<>> ready;
  const auto push = [&](std::int64_t v, std::int32_t v_parent, std::int32_t v_depth) {
    expects(!seen[static_cast<std::size_t>(v)], links_name, v, "each node linked once (no cycle, no node with two parents)");
    expects_element(v_depth <= max_tree_depth, "depth", v, v_depth, "at most max_tree_depth (255)");
    seen[static_cast<std::size_t>(v)] = true;
    parent[static_cast<std::size_t>(v)] = v_parent;
    depth[static_cast<std::size_t>(v)] = v_depth;
    ready.push(v);
  };
  push(root, -1, 0);
  while (!ready.empty()) {
    const std::int64_t u = ready.top();
    ready.pop();
    const auto uu = static_cast<std::size_t>(u);
    numbered[uu] = static_cast<std::int32_t>(order.size());
    order.push_back(static_cast<std::int32_t>(u));
    if (first[uu] >= 0) push(first[uu], static_cast<std::int32_t>(u), depth[uu] + 1);
    // u's next sibling becomes ready once u is numbered: siblings keep their rank order.
    if (u != root && next[uu] >= 0) push(next[uu], parent[uu], depth[uu]);
  }
  expects(order.size() == n, "nodes reachable from the root", order.size(), "every node (== tokens.size())");
  out.clear(tokens[static_cast<std::size_t>(root)]);
  out.reserve(static_cast<index_t>(n));
  for (std::size_t k = 1; k < n; ++k) {
    const auto v = static_cast<std::size_t>(order[k]);
    (void)out.add_child(numbered[static_cast<std::size_t>(parent[v])], tokens[v]);
  }
  for (std::size_t v = 0; v < n && v < new_index.size(); ++v) new_index[v] = numbered[v];
}

inline void check_node_count(std::size_t n) {
  expects(n >= 1, "tokens.size()", n, "a tree with at least one node (the root)");
  expects(n <= static_cast<std::size_t>(max_tree_nodes), "tokens.size()", n, "at most max_tree_nodes (4096) nodes");
}

} // namespace detail

//! Builds `out` from an engine's parent list in any node order: `parents[i]` is node `i`'s parent
//! (`int32_t` or `int64_t`, any contiguous range), exactly one node has parent -1 (the root), and a
//! node's children rank in increasing input index. The nodes are renumbered into canonical order
//! (parents before children, siblings in rank order, the lowest input index first, so an input that is
//! already canonical keeps its numbering); `new_index[i]` receives node `i`'s new index when
//! `new_index` holds `tokens.size()` entries (permute logits rows or hidden states with it). Throws
//! `specdec::invalid_argument` for mismatched sizes, zero or several roots, a parent out of range, a
//! cycle, more than `max_tree_nodes` nodes or a depth beyond `max_tree_depth`; `out` and `new_index`
//! are untouched then. Tokens are not checked against a vocabulary (call `validate`). O(N log N).
template <layout_index_input Parents>
void tree_from_parent_list(std::span<const token_id> tokens, const Parents& parents, token_tree& out,
                           std::span<std::int32_t> new_index = {}) {
  const auto in = as_span(parents);
  const std::size_t n = tokens.size();
  expects(in.size() == n, "parents.size()", in.size(), "== tokens.size()");
  detail::check_node_count(n);
  expects(new_index.empty() || new_index.size() >= n, "new_index.size()", new_index.size(), "0 or >= tokens.size()");
  // Children lists in rank order (increasing input index), built backwards like sibling_links.
  std::vector<std::int64_t> first(n, -1);
  std::vector<std::int64_t> next(n, -1);
  std::int64_t root = -1;
  for (std::size_t i = n; i-- > 0;) {
    const auto p = static_cast<std::int64_t>(in[i]);
    if (p == -1) {
      expects(root == -1, "parents", "two entries of -1", "exactly one root (one parent == -1)");
      root = static_cast<std::int64_t>(i);
      continue;
    }
    expects_element(p >= 0 && p < static_cast<std::int64_t>(n) && p != static_cast<std::int64_t>(i), "parents", i, p,
                    "a node index in [0, tokens.size()) other than the node itself, or -1 for the root");
    next[i] = first[static_cast<std::size_t>(p)];
    first[static_cast<std::size_t>(p)] = static_cast<std::int64_t>(i);
  }
  expects(root != -1, "parents", "no entry of -1", "exactly one root (one parent == -1)");
  detail::renumber_tree(tokens, root, first, next, "node", out, new_index);
}

//! Builds `out` from first-child / next-sibling links (SGLang's `retrive_next_token` /
//! `retrive_next_sibling` of one request): node 0 is the root, `first_child[u]` is u's best-ranked
//! child and `next_sibling[v]` the child ranked after v, -1 for none (`int32_t` or `int64_t`, any
//! contiguous ranges). Sibling order is the link order, whatever the indices, so a tree whose
//! siblings are not in index order is renumbered (as `tree_from_parent_list` does); `new_index[i]`
//! receives node `i`'s new index when `new_index` holds `tokens.size()` entries. Throws for mismatched
//! sizes, links out of range, a root with a sibling, a node linked twice or unreachable, more than
//! `max_tree_nodes` nodes or a depth beyond `max_tree_depth`; nothing is written then. O(N log N).
template <layout_index_input FirstChild, layout_index_input NextSibling>
void tree_from_sibling_links(std::span<const token_id> tokens, const FirstChild& first_child, const NextSibling& next_sibling,
                             token_tree& out, std::span<std::int32_t> new_index = {}) {
  const auto first_in = as_span(first_child);
  const auto next_in = as_span(next_sibling);
  const std::size_t n = tokens.size();
  expects(first_in.size() == n, "first_child.size()", first_in.size(), "== tokens.size()");
  expects(next_in.size() == n, "next_sibling.size()", next_in.size(), "== tokens.size()");
  detail::check_node_count(n);
  expects(new_index.empty() || new_index.size() >= n, "new_index.size()", new_index.size(), "0 or >= tokens.size()");
  std::vector<std::int64_t> first(n);
  std::vector<std::int64_t> next(n);
  for (std::size_t i = 0; i < n; ++i) {
    first[i] = static_cast<std::int64_t>(first_in[i]);
    next[i] = static_cast<std::int64_t>(next_in[i]);
    expects_element(first[i] >= -1 && first[i] < static_cast<std::int64_t>(n) && first[i] != 0, "first_child", i, first[i],
                    "-1 or a non-root node index in [1, tokens.size())");
    expects_element(next[i] >= -1 && next[i] < static_cast<std::int64_t>(n) && next[i] != 0, "next_sibling", i, next[i],
                    "-1 or a non-root node index in [1, tokens.size())");
  }
  expects(next[0] == -1, "next_sibling[0]", next[0], "-1: node 0 is the root and has no sibling");
  detail::renumber_tree(tokens, 0, first, next, "linked node", out, new_index);
}

} // namespace v0
} // namespace specdec
