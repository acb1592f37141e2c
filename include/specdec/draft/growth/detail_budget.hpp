//! The selection every budgeted policy shares: keep the best children of a frontier by cumulative
//! log-probability, as per-node prefixes of the ranked lists.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "specdec/draft/growth_policy.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! How many of row `r`'s first `k` ranked tokens have a positive probability (only those can become
//! children).
inline std::int32_t drawable(const growth_frontier& frontier, std::size_t r, index_t k) {
  std::int32_t n = 0;
  const index_t limit = std::min<index_t>(k, frontier.ranked_probs.cols());
  while (n < limit && frontier.ranked_probs(static_cast<index_t>(r), n) > 0.0f) ++n;
  return n;
}

//! `frontier.children[r]` holds a tentative count per row (a prefix of row r's ranked tokens); keeps the
//! best `cap` of all tentative children by cumulative log-probability (parent's + log q), ties to the
//! earlier row, then the better rank, so every row keeps a prefix. `scratch` is reused storage.
class best_children {
public:
  void keep(growth_frontier& frontier, index_t cap) {
    entries_.clear();
    for (std::size_t r = 0; r < frontier.nodes.size(); ++r) {
      for (std::int32_t c = 0; c < frontier.children[r]; ++c) {
        const float p = frontier.ranked_probs(static_cast<index_t>(r), c);
        entries_.push_back({frontier.log_joint[r] + std::log(static_cast<double>(p)), static_cast<std::int32_t>(r), c});
      }
    }
    if (static_cast<index_t>(entries_.size()) <= cap) return;
    const auto better = [](const entry& a, const entry& b) {
      if (a.score != b.score) return a.score > b.score;
      return a.row != b.row ? a.row < b.row : a.rank < b.rank;
    };
    const auto kept = static_cast<std::ptrdiff_t>(std::max<index_t>(cap, 0));
    std::nth_element(entries_.begin(), entries_.begin() + kept, entries_.end(), better);
    std::fill(frontier.children.begin(), frontier.children.end(), 0);
    for (std::ptrdiff_t i = 0; i < kept; ++i) ++frontier.children[static_cast<std::size_t>(entries_[static_cast<std::size_t>(i)].row)];
  }

private:
  struct entry {
    double score;
    std::int32_t row;
    std::int32_t rank;
  };
  std::vector<entry> entries_;
};

} // namespace detail
} // namespace v0
} // namespace specdec
