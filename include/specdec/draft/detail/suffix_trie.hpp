//! A trie of the substrings (up to a fixed length) of a set of token sequences, with occurrence counts,
//! children kept in count order, and removal: the index behind `suffix_tree_drafter`.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/draft/detail/flat_index_map.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! Every substring of length <= `depth` of the indexed sequences is a node; a node's `count` is the
//! number of its occurrences (positions where it starts), its `continuations` the sum of its children's
//! counts (the occurrences followed by another token within the depth). A suffix tree truncated at
//! `depth` (Oliaro et al., 2024, SuffixDecoding, index their outputs with suffix trees; the bounded depth
//! trades the tree's O(L) size for O(L * depth) and a much simpler update). Children are kept in a
//! doubly linked list sorted by count, larger first (except below the root, which no draft expands);
//! equal counts keep their earlier relative order (a
//! count that rises to equal another's does not overtake it, one that falls to equal it stays ahead), so
//! the order is a deterministic function of the sequence of updates, removed occurrences included.
//! Child lookup is a hash on (parent, token). Nodes whose count falls to zero are freed
//! and reused, so a trie over a sliding window stops allocating once the window is full.
class suffix_trie {
public:
  explicit suffix_trie(index_t depth) : depth_(depth) { clear(); }

  //! The deepest node (the longest substring indexed).
  [[nodiscard]] index_t depth() const noexcept { return depth_; }

  //! Forgets every sequence; keeps the storage.
  void clear() {
    nodes_.assign(1, node{});
    free_.clear();
    children_.clear();
    live_ = 1;
  }

  //! The child of `parent` carrying `token`, or -1.
  [[nodiscard]] std::int32_t child(std::int32_t parent, token_id token) const noexcept {
    return children_.find(child_key(parent, token));
  }

  //! Counts one more occurrence of `parent`'s string followed by `token`; returns that child (created
  //! when new). `parent` must be shallower than `depth`. O(1) expected plus the reordering moves.
  std::int32_t extend(std::int32_t parent, token_id token) {
    std::int32_t c = children_.find(child_key(parent, token));
    if (c < 0) {
      c = allocate();
      children_.assign(child_key(parent, token), c);
      node& n = nodes_[static_cast<std::size_t>(c)];
      n = node{};
      n.token = token;
      n.parent = parent;
      append_child(parent, c);
    }
    ++nodes_[static_cast<std::size_t>(c)].count;
    ++nodes_[static_cast<std::size_t>(parent)].continuations;
    promote(c);
    return c;
  }

  //! Adds (`delta` = +1) or removes (`delta` = -1) the occurrence of `path` (at most `depth` tokens) that
  //! starts at the root: every prefix of `path` gains or loses one occurrence. Removing an occurrence
  //! that was never added throws. O(|path|) expected.
  void add_path(std::span<const token_id> path, int delta) {
    expects(static_cast<index_t>(path.size()) <= depth_, "path.size()", path.size(), "at most the trie's depth");
    if (delta > 0) {
      std::int32_t at = 0;
      for (const token_id token : path) at = extend(at, token);
      return;
    }
    std::int32_t at = 0;
    path_.clear();
    for (const token_id token : path) {
      at = child(at, token);
      expects(at >= 0, "path", token, "an occurrence added earlier (removal of a path that is not indexed)");
      path_.push_back(at);
    }
    for (const std::int32_t c : path_) {
      node& n = nodes_[static_cast<std::size_t>(c)];
      --n.count;
      --nodes_[static_cast<std::size_t>(n.parent)].continuations;
      demote(c);
    }
    // Deepest first: a node at zero has no counted children left, and its zero children are on the path.
    for (std::size_t i = path_.size(); i-- > 0;) {
      if (nodes_[static_cast<std::size_t>(path_[i])].count == 0) release(path_[i]);
    }
  }

  [[nodiscard]] token_id token(std::int32_t n) const noexcept { return nodes_[static_cast<std::size_t>(n)].token; }
  [[nodiscard]] std::int32_t count(std::int32_t n) const noexcept { return nodes_[static_cast<std::size_t>(n)].count; }
  [[nodiscard]] std::int32_t continuations(std::int32_t n) const noexcept {
    return nodes_[static_cast<std::size_t>(n)].continuations;
  }
  //! The first (most frequent) child of `n`, or -1; then `next_sibling` in count order.
  [[nodiscard]] std::int32_t first_child(std::int32_t n) const noexcept { return nodes_[static_cast<std::size_t>(n)].first_child; }
  [[nodiscard]] std::int32_t next_sibling(std::int32_t n) const noexcept { return nodes_[static_cast<std::size_t>(n)].next; }

  //! Live nodes, the root included.
  [[nodiscard]] index_t size() const noexcept { return live_; }
  //! Bytes of storage held.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return nodes_.capacity() * sizeof(node) + free_.capacity() * sizeof(std::int32_t) + children_.memory_bytes() +
           path_.capacity() * sizeof(std::int32_t);
  }

private:
  // 32 bytes. Counts fit 32 bits: the drafter bounds its windows below 2^31 tokens.
  struct node {
    std::int32_t count = 0;
    std::int32_t continuations = 0;
    token_id token = 0;
    std::int32_t parent = -1;
    std::int32_t first_child = -1;
    std::int32_t last_child = -1;
    std::int32_t previous = -1;
    std::int32_t next = -1;
  };

  [[nodiscard]] static std::uint64_t child_key(std::int32_t parent, token_id token) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(parent)) << 32) | static_cast<std::uint32_t>(token);
  }

  std::int32_t allocate() {
    ++live_;
    if (!free_.empty()) {
      const std::int32_t n = free_.back();
      free_.pop_back();
      return n;
    }
    expects(nodes_.size() < static_cast<std::size_t>(INT32_MAX), "suffix trie nodes", nodes_.size(), "fewer than 2^31");
    nodes_.emplace_back();
    return static_cast<std::int32_t>(nodes_.size() - 1);
  }

  void release(std::int32_t c) {
    node& n = nodes_[static_cast<std::size_t>(c)];
    unlink(c);
    children_.erase(child_key(n.parent, n.token));
    free_.push_back(c);
    --live_;
  }

  void append_child(std::int32_t parent, std::int32_t c) {
    node& p = nodes_[static_cast<std::size_t>(parent)];
    node& n = nodes_[static_cast<std::size_t>(c)];
    n.previous = p.last_child;
    n.next = -1;
    if (p.last_child >= 0) {
      nodes_[static_cast<std::size_t>(p.last_child)].next = c;
    } else {
      p.first_child = c;
    }
    p.last_child = c;
  }

  void unlink(std::int32_t c) {
    node& n = nodes_[static_cast<std::size_t>(c)];
    node& p = nodes_[static_cast<std::size_t>(n.parent)];
    if (n.previous >= 0) nodes_[static_cast<std::size_t>(n.previous)].next = n.next; else p.first_child = n.next;
    if (n.next >= 0) nodes_[static_cast<std::size_t>(n.next)].previous = n.previous; else p.last_child = n.previous;
    n.previous = n.next = -1;
  }

  // Inserts `c` (unlinked) right before sibling `before` (-1: at the end).
  void link_before(std::int32_t c, std::int32_t before) {
    node& n = nodes_[static_cast<std::size_t>(c)];
    if (before < 0) {
      append_child(n.parent, c);
      return;
    }
    node& b = nodes_[static_cast<std::size_t>(before)];
    n.next = before;
    n.previous = b.previous;
    if (b.previous >= 0) nodes_[static_cast<std::size_t>(b.previous)].next = c; else nodes_[static_cast<std::size_t>(n.parent)].first_child = c;
    b.previous = c;
  }

  // After a count rose: move ahead of the siblings with a strictly smaller count. The root's children
  // stay in insertion order: a draft never expands the root (a match has at least one token), and the
  // root's fan-out (the whole vocabulary) would make the walk long.
  void promote(std::int32_t c) {
    if (nodes_[static_cast<std::size_t>(c)].parent == 0) return;
    std::int32_t before = nodes_[static_cast<std::size_t>(c)].previous;
    const std::int32_t count = nodes_[static_cast<std::size_t>(c)].count;
    if (before < 0 || nodes_[static_cast<std::size_t>(before)].count >= count) return;
    while (before >= 0 && nodes_[static_cast<std::size_t>(before)].count < count) before = nodes_[static_cast<std::size_t>(before)].previous;
    // Insert right after `before` (or first).
    const std::int32_t target = before >= 0 ? nodes_[static_cast<std::size_t>(before)].next
                                            : nodes_[static_cast<std::size_t>(nodes_[static_cast<std::size_t>(c)].parent)].first_child;
    unlink(c);
    link_before(c, target);
  }

  // After a count fell: move behind the siblings with a strictly larger count.
  void demote(std::int32_t c) {
    if (nodes_[static_cast<std::size_t>(c)].parent == 0) return;
    std::int32_t after = nodes_[static_cast<std::size_t>(c)].next;
    const std::int32_t count = nodes_[static_cast<std::size_t>(c)].count;
    if (after < 0 || nodes_[static_cast<std::size_t>(after)].count <= count) return;
    while (after >= 0 && nodes_[static_cast<std::size_t>(after)].count > count) after = nodes_[static_cast<std::size_t>(after)].next;
    unlink(c);
    link_before(c, after);
  }

  index_t depth_;
  std::vector<node> nodes_;
  std::vector<std::int32_t> free_;
  flat_index_map children_;
  std::vector<std::int32_t> path_;
  index_t live_ = 1;
};

} // namespace detail
} // namespace v0
} // namespace specdec
