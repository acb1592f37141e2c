//! SuffixDecoding: speculation from suffix trees over the request's own tokens and over earlier
//! requests' outputs, scored by continuation frequencies, with a budget that grows with the match.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/draft/detail/best_first_expansion.hpp"
#include "specdec/draft/detail/suffix_trie.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! The parameters of `suffix_tree_drafter`.
struct suffix_tree_params {
  //! The longest suffix of the context matched (P, >= 1).
  index_t max_match = 8;
  //! The most tokens drafted after the root along any path (>= 1); the step's `max_depth` may lower it.
  //! The tries index substrings of up to max_match + max_depth tokens (<= 1024): indexing time and
  //! memory grow linearly with that sum.
  index_t max_depth = 8;
  //! SuffixDecoding's adaptive budget: at most floor(budget_per_match_token * p) drafts after a match
  //! of p tokens (alpha, > 0), and never more than the step's `max_nodes - 1`.
  double budget_per_match_token = 2.0;
  //! The most children offered below one node (1 <= branching <= 64), most frequent first.
  index_t branching = 4;
  //! A node is drafted only if its path probability is at least this (0 <= min_probability <= 1).
  double min_probability = 0.0;
  //! The most recent tokens of a request its own tree indexes (max_match + max_depth <= request_window
  //! <= 2^30).
  index_t request_window = 32768;
  //! The tokens of earlier outputs the global tree holds, most recent outputs first (0: no global tree;
  //! <= 2^30).
  index_t global_window = 16384;
};

//! SuffixDecoding (Oliaro et al., 2024, "SuffixDecoding: A Model-Free Approach to Speeding Up Large
//! Language Model Inference"). Two suffix tries (suffix trees truncated at max_match + max_depth
//! tokens, see `detail::suffix_trie`): one per request over its own tokens (prompt and generated, the
//! last `request_window` of them), and one global over the outputs (generated tokens) of released
//! requests, the most recent `global_window` tokens of them. Each step matches the longest suffix of the
//! context (p <= max_match tokens) that occurs in a trie followed by at least one token, then grows a
//! tree below the match best first by path probability, the product along the path of
//! count(child) / continuations(parent) (the empirical frequency of each continuation), within
//! floor(alpha * p) drafts (the paper's MAX_SPEC = alpha * p: a longer match earns a larger tree), the
//! step's budgets, `branching` and `min_probability`. Of the two trees (per-request and global) the one
//! with the larger sum of path probabilities (its expected accepted length under those frequencies)
//! is drafted; a tie goes to the per-request tree. No match in either: a root-only tree. Children are
//! chosen deterministically.
//!
//! Memory is bounded: the global trie holds at most global_window * (max_match + max_depth) nodes
//! (an output that does not fit evicts the oldest outputs, whose counts are removed and whose nodes are
//! reused), a request's trie at most request_window * (max_match + max_depth) (the oldest position
//! leaves as each new one enters). A request also keeps its last generated tokens (at most
//! 2 * global_window + 64) until `release` hands the last global_window of them to the global trie.
//! Complexity: indexing O(max_match + max_depth) expected per new token (each suffix still open grows by
//! one node); matching O(max_match) in the request's trie (its open suffixes are the context's suffixes)
//! and O(max_match^2) in the global trie; growing a tree of N nodes O(N (branching + log(N branching)));
//! `release` O(output * (max_match + max_depth)). All independent of the context length.
//! Contract: a request's tokens only grow between calls; a shorter context, or a changed first or last
//! indexed token, re-indexes the request. Steady state: `draft` on an indexed context allocates nothing
//! once the output trees and the search heap have seen their largest step; indexing allocates only while
//! a trie grows towards its window. Not thread-safe.
class suffix_tree_drafter {
public:
  static constexpr draft_scheme scheme = draft_scheme::deterministic;

  //! Throws `specdec::invalid_argument` naming a parameter outside its documented range.
  explicit suffix_tree_drafter(const suffix_tree_params& params = {})
      : params_(checked(params)), global_(params.max_match + params.max_depth) {}

  [[nodiscard]] const suffix_tree_params& params() const noexcept { return params_; }

  //! Starts (or restarts) `request` with its prompt, which its own trie indexes now.
  void start(request_id request, std::span<const token_id> prompt) {
    request_state& state = state_of(request);
    state.reset();
    state.prompt_length = static_cast<index_t>(prompt.size());
    catch_up(state, prompt, 0);
  }

  //! Indexes the tokens the step appended to `feedback.request`.
  void observe(const draft_feedback& feedback) { catch_up(state_of(feedback.request), feedback.tokens, 0); }

  //! Ends `request`: its generated tokens (the last `global_window` of them) enter the global trie.
  void release(request_id request) {
    const auto found = requests_.find(request);
    if (found == requests_.end()) return;
    const std::vector<token_id>& generated = found->second.generated;
    const auto keep = std::min(generated.size(), static_cast<std::size_t>(params_.global_window));
    add_output(std::span<const token_id>(generated).last(keep));
    requests_.erase(found);
  }

  //! Proposes the step's tree into `out` (see the class comment). Throws `specdec::invalid_argument` for
  //! an empty context, budgets below their minimum, `vocab_size` < 1, or a token outside
  //! [0, vocab_size) among the tokens indexed for the first time (the root is always checked).
  //! Global continuations at or above `vocab_size` are never drafted.
  void draft(const draft_context& context, draft_tree& out) {
    expects(!context.tokens.empty(), "context.tokens.size()", context.tokens.size(), "at least one token (the root)");
    expects(context.max_nodes >= 1, "context.max_nodes", context.max_nodes, "max_nodes >= 1 (the root)");
    expects(context.max_depth >= 0, "context.max_depth", context.max_depth, "max_depth >= 0");
    expects(context.vocab_size >= 1, "context.vocab_size", context.vocab_size, "vocab_size >= 1");
    const std::span<const token_id> tokens = context.tokens;
    const token_id root = tokens.back();
    expects(root >= 0 && root < context.vocab_size, "context.tokens.back()", root, "a token id in [0, context.vocab_size)");
    request_state& state = state_of(context.request);
    catch_up(state, tokens, context.vocab_size);

    out.reset(root, context.vocab_size);
    const index_t depth = std::min({params_.max_depth, context.max_depth, max_tree_depth});
    const index_t budget = std::min(context.max_nodes, max_tree_nodes);
    if (depth == 0 || budget == 1) return;

    // The request's open suffixes are the context's suffixes in its own trie: the longest with a
    // continuation is the match.
    double expected_own = 0.0;
    const auto open = std::min(state.active.size(), static_cast<std::size_t>(params_.max_match));
    for (std::size_t k = open; k-- > 0;) {
      if (state.trie.continuations(state.active[k]) > 0) {
        expected_own = grow(state.trie, state.active[k], static_cast<index_t>(k + 1), budget, depth, context.vocab_size, out.tree);
        break;
      }
    }
    if (global_.size() <= 1) return;
    const auto [match, length] = longest_global_match(tokens);
    if (match < 0) return;
    scratch_.clear(root);
    const double expected_global = grow(global_, match, length, budget, depth, context.vocab_size, scratch_);
    if (expected_global > expected_own) std::swap(out.tree, scratch_);
  }

  //! The number of live nodes of the global trie (root included) and of `request`'s trie (0 when the
  //! request is unknown).
  [[nodiscard]] index_t global_nodes() const noexcept { return global_.size(); }
  [[nodiscard]] index_t request_nodes(request_id request) const noexcept {
    const auto found = requests_.find(request);
    return found == requests_.end() ? 0 : found->second.trie.size();
  }
  //! The output tokens the global trie holds.
  [[nodiscard]] index_t global_tokens() const noexcept { return static_cast<index_t>(global_outputs_.size()); }

private:
  struct request_state {
    explicit request_state(index_t depth) : trie(depth) { active.reserve(static_cast<std::size_t>(depth)); }
    detail::suffix_trie trie;
    std::vector<std::int32_t> active;  // active[k]: the node of the last k + 1 indexed tokens (k + 1 < depth)
    index_t consumed = 0;              // tokens [0, consumed) have entered the trie
    index_t window_start = 0;          // the oldest start position still indexed
    index_t prompt_length = -1;        // -1: not known yet (the first context seen is taken as the prompt)
    token_id first = 0;                // tokens[0] and tokens[consumed - 1], to detect a changed context
    token_id last = 0;
    std::vector<token_id> generated;   // the last tokens from prompt_length on

    void reset() {
      trie.clear();
      active.clear();
      consumed = 0;
      window_start = 0;
      generated.clear();
    }
  };

  static const suffix_tree_params& checked(const suffix_tree_params& params) {
    expects(params.max_match >= 1, "max_match", params.max_match, "max_match >= 1");
    expects(params.max_depth >= 1, "max_depth", params.max_depth, "max_depth >= 1");
    expects(params.max_match + params.max_depth <= 1024, "max_match + max_depth", params.max_match + params.max_depth,
            "at most 1024 (the tries' depth)");
    expects(std::isfinite(params.budget_per_match_token) && params.budget_per_match_token > 0.0, "budget_per_match_token",
            params.budget_per_match_token, "a finite budget_per_match_token > 0");
    expects(params.branching >= 1 && params.branching <= 64, "branching", params.branching, "1 <= branching <= 64");
    expects(params.min_probability >= 0.0 && params.min_probability <= 1.0, "min_probability", params.min_probability,
            "0 <= min_probability <= 1");
    expects(params.request_window >= params.max_match + params.max_depth && params.request_window <= (index_t{1} << 30),
            "request_window", params.request_window, "max_match + max_depth <= request_window <= 2^30");
    expects(params.global_window >= 0 && params.global_window <= (index_t{1} << 30), "global_window", params.global_window,
            "0 <= global_window <= 2^30 (0: no global tree)");
    return params;
  }

  request_state& state_of(request_id request) {
    return requests_.try_emplace(request, params_.max_match + params_.max_depth).first->second;
  }

  // Indexes tokens [state.consumed, tokens.size()); vocab 0 checks only that tokens are non-negative.
  void catch_up(request_state& state, std::span<const token_id> tokens, index_t vocab) {
    const auto size = static_cast<index_t>(tokens.size());
    if (state.consumed > size ||
        (state.consumed > 0 && (tokens[0] != state.first || tokens[static_cast<std::size_t>(state.consumed - 1)] != state.last))) {
      state.reset();
      state.prompt_length = std::min(state.prompt_length, size);
    }
    if (state.prompt_length < 0) state.prompt_length = size;
    for (index_t i = state.consumed; i < size; ++i) {
      const token_id token = tokens[static_cast<std::size_t>(i)];
      expects_element(token >= 0 && (vocab == 0 || token < vocab), vocab == 0 ? "tokens" : "context.tokens", i, token,
                      vocab == 0 ? "a token id >= 0" : "a token id in [0, context.vocab_size)");
    }
    for (index_t i = state.consumed; i < size; ++i) {
      append(state, tokens, i);
      if (i >= state.prompt_length) state.generated.push_back(tokens[static_cast<std::size_t>(i)]);
    }
    // Only the last global_window generated tokens can reach the global trie: keep at most twice that
    // (dropping the older half at once keeps the cost amortised O(1) per token).
    const auto keep = static_cast<std::size_t>(params_.global_window);
    if (state.generated.size() > 2 * keep + 64) {
      state.generated.erase(state.generated.begin(), state.generated.end() - static_cast<std::ptrdiff_t>(keep));
    }
    state.consumed = size;
    if (size > 0) {
      state.first = tokens[0];
      state.last = tokens.back();
    }
  }

  // Every open suffix grows by tokens[i] (the longest first, so that each is read before its slot is
  // overwritten); a suffix reaching the trie's depth is counted and closed; then the oldest position
  // leaves if the request's window overflows.
  void append(request_state& state, std::span<const token_id> tokens, index_t i) {
    const token_id token = tokens[static_cast<std::size_t>(i)];
    const auto depth = static_cast<std::size_t>(state.trie.depth());
    for (std::size_t k = state.active.size(); k-- > 0;) {
      const std::int32_t grown = state.trie.extend(state.active[k], token);  // the last k + 2 tokens
      if (k + 2 < depth) {
        if (k + 1 == state.active.size()) {
          state.active.push_back(grown);
        } else {
          state.active[k + 1] = grown;
        }
      }
    }
    const std::int32_t single = state.trie.extend(0, token);
    if (state.active.empty()) {
      state.active.push_back(single);
    } else {
      state.active[0] = single;
    }
    if (i + 1 - state.window_start > params_.request_window) {
      state.trie.add_path(tokens.subspan(static_cast<std::size_t>(state.window_start), depth), -1);
      ++state.window_start;
    }
  }

  // The deepest global node matching a suffix of `tokens` (at most max_match long) that has a
  // continuation, and its length; {-1, 0} when none.
  [[nodiscard]] std::pair<std::int32_t, index_t> longest_global_match(std::span<const token_id> tokens) const noexcept {
    const auto size = static_cast<index_t>(tokens.size());
    for (index_t length = std::min(params_.max_match, size); length >= 1; --length) {
      std::int32_t node = 0;
      for (index_t k = size - length; k < size && node >= 0; ++k) node = global_.child(node, tokens[static_cast<std::size_t>(k)]);
      if (node >= 0 && global_.continuations(node) > 0) return {node, length};
    }
    return {-1, 0};
  }

  // Grows `tree` (root-only) below trie node `match` (a match of `length` tokens); returns its expected
  // accepted length.
  double grow(const detail::suffix_trie& trie, std::int32_t match, index_t length, index_t budget, index_t depth,
              index_t vocab, token_tree& tree) {
    const double allowed = std::floor(params_.budget_per_match_token * static_cast<double>(length));
    const index_t drafts = std::min(budget - 1, allowed >= static_cast<double>(max_tree_nodes) ? max_tree_nodes : static_cast<index_t>(allowed));
    return search_.grow(tree, drafts + 1, depth, params_.branching, params_.min_probability, match,
                        [&](std::int32_t, std::int64_t handle, auto&& offer) {
                          const auto parent = static_cast<std::int32_t>(handle);
                          const auto total = static_cast<double>(trie.continuations(parent));
                          index_t offered = 0;
                          for (std::int32_t c = trie.first_child(parent); c >= 0 && offered < params_.branching; c = trie.next_sibling(c)) {
                            if (trie.token(c) >= vocab) continue;
                            offer(trie.token(c), static_cast<double>(trie.count(c)) / total, c);
                            ++offered;
                          }
                        });
  }

  // Adds an output to the global trie, first evicting the oldest outputs it would not fit beside.
  void add_output(std::span<const token_id> output) {
    const auto size = static_cast<index_t>(output.size());
    if (size == 0 || params_.global_window == 0) return;
    const auto depth = static_cast<std::size_t>(global_.depth());
    while (!global_lengths_.empty() && global_tokens() + size > params_.global_window) {
      const auto oldest = static_cast<std::size_t>(global_lengths_.front());
      evicted_.assign(global_outputs_.begin(), global_outputs_.begin() + static_cast<std::ptrdiff_t>(oldest));
      for (std::size_t j = 0; j < oldest; ++j) {
        global_.add_path(std::span<const token_id>(evicted_).subspan(j, std::min(depth, oldest - j)), -1);
      }
      global_outputs_.erase(global_outputs_.begin(), global_outputs_.begin() + static_cast<std::ptrdiff_t>(oldest));
      global_lengths_.pop_front();
    }
    for (std::size_t j = 0; j < output.size(); ++j) global_.add_path(output.subspan(j, std::min(depth, output.size() - j)), +1);
    global_outputs_.insert(global_outputs_.end(), output.begin(), output.end());
    global_lengths_.push_back(size);
  }

  suffix_tree_params params_;
  detail::suffix_trie global_;
  std::deque<token_id> global_outputs_;  // the outputs in the global trie, oldest first, concatenated
  std::deque<index_t> global_lengths_;   // their lengths
  std::vector<token_id> evicted_;
  std::unordered_map<request_id, request_state> requests_;
  detail::best_first_expansion search_;
  token_tree scratch_{0};
};

static_assert(drafter<suffix_tree_drafter>);

} // namespace v0
} // namespace specdec
