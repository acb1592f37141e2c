//! A ragged batch of token trees: one flat structure-of-arrays, split per request by CSR offsets.
#pragma once

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "specdec/core/config.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/ragged.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! A read-only view of a batch of trees: tree `b` is the nodes `[offsets.begin(b), offsets.end(b))` of
//! the flat arrays, and its parents are indices local to that tree (so each tree reads exactly as a
//! `token_tree_view`). This is the layout a batched forward flattens and a batched verifier walks.
class token_tree_batch_view {
public:
  constexpr token_tree_batch_view() = default;

  SPECDEC_HD constexpr token_tree_batch_view(ragged_offsets offsets, const token_id* tokens,
                                             const std::int32_t* parents, const std::int32_t* depths) noexcept
      : offsets_(offsets), tokens_(tokens), parents_(parents), depths_(depths) {}

  [[nodiscard]] SPECDEC_HD constexpr index_t batch_size() const noexcept { return offsets_.batch_size(); }
  [[nodiscard]] SPECDEC_HD constexpr index_t total_nodes() const noexcept { return offsets_.total_size(); }
  [[nodiscard]] SPECDEC_HD constexpr ragged_offsets offsets() const noexcept { return offsets_; }

  //! Tree `b` of the batch.
  [[nodiscard]] SPECDEC_HD constexpr token_tree_view tree(index_t b) const noexcept {
    const index_t first = offsets_.begin(b);
    return {tokens_ + first, parents_ + first, depths_ + first, offsets_.size(b)};
  }

  //! Validates the offsets and every tree (see `validate(token_tree_view, ...)`); an error's message
  //! starts with "in trees[b]: " for the offending tree `b`.
  void validate(index_t vocab_size, duplicate_siblings siblings = duplicate_siblings::allowed) const {
    offsets_.validate("tree_offsets");
    std::vector<std::uint64_t> scratch;
    for (index_t b = 0; b < batch_size(); ++b) {
      const token_tree_view t = tree(b);
      if (siblings == duplicate_siblings::forbidden) scratch.resize(static_cast<std::size_t>(t.size()));
      detail::in_element("trees", b, [&] { specdec::validate(t, vocab_size, siblings, scratch); });
    }
  }

private:
  ragged_offsets offsets_;
  const token_id* tokens_ = nullptr;
  const std::int32_t* parents_ = nullptr;
  const std::int32_t* depths_ = nullptr;
};

//! An owning batch of trees, filled tree by tree. `clear` keeps the capacity.
class token_tree_batch {
public:
  token_tree_batch() { clear(); }

  void clear() {
    offsets_.assign(1, 0);
    tokens_.clear();
    parents_.clear();
    depths_.clear();
  }

  //! Appends a copy of `tree` (which must have at least one node) as the next request's tree.
  void push_back(const token_tree_view& tree) {
    expects(tree.size() >= 1, "tree.size()", tree.size(), "a tree with at least one node (the root)");
    expects(total_nodes() + tree.size() <= INT32_MAX, "total_nodes", total_nodes() + tree.size(), "< 2^31");
    tokens_.insert(tokens_.end(), tree.tokens().begin(), tree.tokens().end());
    parents_.insert(parents_.end(), tree.parents().begin(), tree.parents().end());
    depths_.insert(depths_.end(), tree.depths().begin(), tree.depths().end());
    offsets_.push_back(static_cast<std::int32_t>(tokens_.size()));
  }

  [[nodiscard]] index_t batch_size() const noexcept { return static_cast<index_t>(offsets_.size()) - 1; }
  [[nodiscard]] index_t total_nodes() const noexcept { return static_cast<index_t>(tokens_.size()); }
  [[nodiscard]] token_tree_view tree(index_t b) const noexcept { return view().tree(b); }

  [[nodiscard]] token_tree_batch_view view() const noexcept {
    return {ragged_offsets(offsets_), tokens_.data(), parents_.data(), depths_.data()};
  }
  // NOLINTNEXTLINE(google-explicit-constructor): a batch is usable wherever a view is expected, like token_tree.
  operator token_tree_batch_view() const noexcept { return view(); }

private:
  std::vector<std::int32_t> offsets_;
  std::vector<token_id> tokens_;
  std::vector<std::int32_t> parents_;
  std::vector<std::int32_t> depths_;
};

} // namespace v0
} // namespace specdec
