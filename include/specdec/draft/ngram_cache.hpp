//! An n-gram cache that persists across requests (counts of the continuations of each n-gram context,
//! in bounded memory), and the drafter that expands a tree through it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/draft/detail/best_first_expansion.hpp"
#include "specdec/draft/detail/flat_index_map.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! The parameters of `ngram_cache`.
struct ngram_cache_params {
  //! The shortest n-gram context counted (>= 1).
  index_t min_ngram = 1;
  //! The longest n-gram context counted (min_ngram <= max_ngram <= 32); lookups try it first.
  index_t max_ngram = 4;
  //! The most contexts held (>= 8): rounded up to a power of two; memory is fixed at construction.
  index_t capacity = index_t{1} << 16;
  //! The continuations kept per context (1 <= successors <= 16), by count.
  index_t successors = 4;
  //! When a continuation's count reaches it (>= 2), every count of that context is halved.
  std::uint32_t max_count = 1u << 16;
};

//! What `ngram_cache::lookup` found: the continuations of the longest matching n-gram context, best
//! first. `n == 0` when no context matched. The spans are valid until the cache next learns.
struct ngram_continuations {
  index_t n = 0;
  std::span<const token_id> tokens;
  std::span<const std::uint32_t> counts;
  //! The sum of `counts`.
  std::uint64_t total = 0;
};

//! Counts, for every n-gram context (n in [min_ngram, max_ngram]) seen in the tokens it learns from, how
//! often each token followed it: llama.cpp's n-gram cache (`common_ngram_cache`) and the n-gram pool of
//! Lookahead decoding (Fu et al., 2024), in fixed memory.
//!
//! Storage: `capacity` context slots in sets of 8 (set-associative, a set chosen by the context's
//! 64-bit fingerprint), each slot holding the fingerprint, a last-update stamp and its `successors`
//! best continuations with their counts, sorted by count (ties: the one that reached the count first).
//! Bounded memory, allocated once at construction: `capacity * (24 + 8 * successors)` bytes plus the
//! set rounding. Rules, all deterministic:
//! - a context new to a full set evicts the set's least recently updated context;
//! - a continuation new to a full slot replaces the slot's last (lowest-count, newest among equals);
//! - when a count reaches `max_count`, all counts of that context are halved (continuations that fall
//!   to zero are dropped), which keeps the ratios and lets recent text outweigh old text.
//! A context is identified by its 64-bit fingerprint: a collision (probability about 2^-64 per pair)
//! can only cost acceptance, never correctness, because every draft is verified.
//! Complexity: `learn` O(max_ngram + (max_ngram - min_ngram + 1) * (8 + successors)) per token;
//! `lookup` O(max_ngram * 8). Not thread-safe.
class ngram_cache {
public:
  static constexpr index_t ways = 8;

  //! Throws `specdec::invalid_argument` naming a parameter outside its documented range.
  explicit ngram_cache(const ngram_cache_params& params = {}) : params_(params) {
    expects(params.min_ngram >= 1, "min_ngram", params.min_ngram, "min_ngram >= 1");
    expects(params.max_ngram >= params.min_ngram && params.max_ngram <= max_ngram_limit, "max_ngram", params.max_ngram,
            "min_ngram <= max_ngram <= 32");
    expects(params.capacity >= ways && params.capacity <= (index_t{1} << 30), "capacity", params.capacity,
            "8 <= capacity <= 2^30 contexts");
    expects(params.successors >= 1 && params.successors <= 16, "successors", params.successors, "1 <= successors <= 16");
    expects(params.max_count >= 2, "max_count", params.max_count, "max_count >= 2");
    std::size_t slots = ways;
    while (slots < static_cast<std::size_t>(params.capacity)) slots *= 2;
    set_mask_ = slots / ways - 1;
    keys_.assign(slots, 0);
    stamps_.assign(slots, 0);
    totals_.assign(slots, 0);
    tokens_.assign(slots * static_cast<std::size_t>(params.successors), 0);
    counts_.assign(slots * static_cast<std::size_t>(params.successors), 0);
  }

  [[nodiscard]] const ngram_cache_params& params() const noexcept { return params_; }

  //! Learns the continuations `tokens[i]` of the n-grams ending at `i - 1`, for every i in
  //! [from, tokens.size()). Throws for `from` outside [0, tokens.size()] or a negative token among those
  //! read. O((tokens.size() - from) * (max_ngram + groups * (8 + successors))).
  void learn(std::span<const token_id> tokens, index_t from) {
    const auto size = static_cast<index_t>(tokens.size());
    expects(from >= 0 && from <= size, "from", from, "0 <= from <= tokens.size()");
    for (index_t i = std::max<index_t>(0, from - params_.max_ngram); i < size; ++i) {
      expects_element(tokens[static_cast<std::size_t>(i)] >= 0, "tokens", i, tokens[static_cast<std::size_t>(i)],
                      "a token id >= 0");
    }
    for (index_t i = std::max<index_t>(from, 1); i < size; ++i) {
      const token_id next = tokens[static_cast<std::size_t>(i)];
      std::uint64_t fingerprint = detail::empty_fingerprint;
      const index_t longest = std::min(params_.max_ngram, i);
      for (index_t n = 1; n <= longest; ++n) {
        fingerprint = detail::extend_fingerprint(fingerprint, tokens[static_cast<std::size_t>(i - n)]);
        if (n >= params_.min_ngram) count(key_of(fingerprint), next);
      }
    }
  }

  //! The continuations of the longest n-gram context (n from max_ngram down to min_ngram, n <=
  //! `window.size()`) ending at `window`'s end that the cache holds. O(max_ngram * 8).
  [[nodiscard]] ngram_continuations lookup(std::span<const token_id> window) const noexcept {
    std::array<std::uint64_t, max_ngram_limit + 1> fingerprints{};
    const index_t longest = std::min(params_.max_ngram, static_cast<index_t>(window.size()));
    std::uint64_t fingerprint = detail::empty_fingerprint;
    for (index_t n = 1; n <= longest; ++n) {
      fingerprint = detail::extend_fingerprint(fingerprint, window[window.size() - static_cast<std::size_t>(n)]);
      fingerprints[static_cast<std::size_t>(n)] = fingerprint;
    }
    for (index_t n = longest; n >= params_.min_ngram; --n) {
      const std::int64_t slot = find(key_of(fingerprints[static_cast<std::size_t>(n)]));
      if (slot < 0 || totals_[static_cast<std::size_t>(slot)] == 0) continue;
      const std::size_t base = static_cast<std::size_t>(slot) * static_cast<std::size_t>(params_.successors);
      std::size_t used = 0;
      while (used < static_cast<std::size_t>(params_.successors) && counts_[base + used] > 0) ++used;
      return {n, std::span<const token_id>(tokens_.data() + base, used), std::span<const std::uint32_t>(counts_.data() + base, used),
              totals_[static_cast<std::size_t>(slot)]};
    }
    return {};
  }

  //! The number of contexts held (at most the rounded capacity).
  [[nodiscard]] index_t contexts() const noexcept {
    return static_cast<index_t>(std::count_if(keys_.begin(), keys_.end(), [](std::uint64_t k) { return k != 0; }));
  }
  //! The context slots (capacity rounded up to a power of two).
  [[nodiscard]] index_t slots() const noexcept { return static_cast<index_t>(keys_.size()); }

  //! Forgets everything; keeps the storage.
  void clear() noexcept {
    std::fill(keys_.begin(), keys_.end(), 0);
    std::fill(stamps_.begin(), stamps_.end(), 0);
    std::fill(totals_.begin(), totals_.end(), 0);
    std::fill(counts_.begin(), counts_.end(), 0);
    clock_ = 0;
  }

  //! Bytes of storage held (fixed at construction).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return keys_.capacity() * sizeof(std::uint64_t) + stamps_.capacity() * sizeof(std::uint64_t) +
           totals_.capacity() * sizeof(std::uint64_t) + tokens_.capacity() * sizeof(token_id) +
           counts_.capacity() * sizeof(std::uint32_t);
  }

private:
  static constexpr index_t max_ngram_limit = 32;

  // 0 marks an empty slot.
  [[nodiscard]] static std::uint64_t key_of(std::uint64_t fingerprint) noexcept { return fingerprint == 0 ? 1 : fingerprint; }
  [[nodiscard]] std::size_t set_of(std::uint64_t key) const noexcept {
    return (static_cast<std::size_t>(detail::mix64(key ^ 0x5851f42d4c957f2dULL)) & set_mask_) * static_cast<std::size_t>(ways);
  }

  [[nodiscard]] std::int64_t find(std::uint64_t key) const noexcept {
    const std::size_t first = set_of(key);
    for (std::size_t way = 0; way < static_cast<std::size_t>(ways); ++way) {
      if (keys_[first + way] == key) return static_cast<std::int64_t>(first + way);
    }
    return -1;
  }

  void count(std::uint64_t key, token_id next) {
    std::int64_t found = find(key);
    std::size_t slot = 0;
    if (found >= 0) {
      slot = static_cast<std::size_t>(found);
    } else {
      // A free way, else the least recently updated one.
      const std::size_t first = set_of(key);
      slot = first;
      for (std::size_t way = 0; way < static_cast<std::size_t>(ways); ++way) {
        if (keys_[first + way] == 0) {
          slot = first + way;
          break;
        }
        if (stamps_[first + way] < stamps_[slot]) slot = first + way;
      }
      keys_[slot] = key;
      totals_[slot] = 0;
      std::fill_n(counts_.begin() + static_cast<std::ptrdiff_t>(slot * static_cast<std::size_t>(params_.successors)),
                  params_.successors, 0u);
    }
    stamps_[slot] = ++clock_;
    const auto k = static_cast<std::size_t>(params_.successors);
    token_id* tokens = tokens_.data() + slot * k;
    std::uint32_t* counts = counts_.data() + slot * k;
    std::size_t r = 0;
    while (r < k && counts[r] > 0 && tokens[r] != next) ++r;
    if (r == k) {
      r = k - 1;  // full: replace the last (lowest count, newest among equals)
      totals_[slot] -= counts[r];
      counts[r] = 0;
    }
    if (counts[r] == 0) tokens[r] = next;
    ++counts[r];
    ++totals_[slot];
    // Keep the order by count; a continuation passes only strictly smaller counts.
    while (r > 0 && counts[r] > counts[r - 1]) {
      std::swap(counts[r], counts[r - 1]);
      std::swap(tokens[r], tokens[r - 1]);
      --r;
    }
    if (counts[r] >= params_.max_count) {
      std::uint64_t total = 0;
      for (std::size_t i = 0; i < k; ++i) {
        counts[i] /= 2;
        total += counts[i];
      }
      totals_[slot] = total;
    }
  }

  ngram_cache_params params_;
  std::size_t set_mask_ = 0;
  std::uint64_t clock_ = 0;
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint64_t> stamps_;
  std::vector<std::uint64_t> totals_;
  std::vector<token_id> tokens_;       // [slot * successors + rank]
  std::vector<std::uint32_t> counts_;  // [slot * successors + rank]; 0 = unused, unused ranks last
};

//! The parameters of `ngram_cache_drafter`.
struct ngram_cache_drafter_params {
  //! The shared cache's parameters.
  ngram_cache_params cache{};
  //! The most children drafted below one node (1 <= branching <= cache.successors).
  index_t branching = 2;
  //! The most tokens drafted after the root along any path (>= 1); the step's `max_depth` may lower it.
  index_t max_depth = 8;
  //! A continuation is drafted only if its count is at least this (>= 1).
  std::uint32_t min_count = 1;
  //! A node is drafted only if its path probability (product of count / context total along the path)
  //! is at least this (0 <= min_probability <= 1).
  double min_probability = 0.0;
};

//! Drafts from an `ngram_cache` shared by all requests (llama.cpp's `lookup` with its dynamic and
//! static n-gram caches; Lookahead decoding's n-gram pool, Fu et al., 2024). The cache learns every
//! request's tokens, prompt and generated, through the hooks (`start`, `observe`) and from any context
//! tokens `draft` has not yet seen, and keeps them after `release`: a later request profits from an
//! earlier one. A tree is grown best first by path probability — each node's context is the last
//! `max_ngram` tokens of the context and its path, its candidate children the `branching` best
//! continuations of the longest matching n-gram context, with probability count / total — so the greedy
//! chain of best counts comes first and the budget spreads over several branches. Nothing in the cache
//! for the context's suffix: a root-only tree. Children are chosen deterministically.
//! Complexity per step: O(new tokens * learn cost + N (max_ngram * 8 + branching + log(N branching)))
//! for N drafted nodes. Steady state: `draft` and `observe` allocate nothing once the output tree and
//! the search heap have seen their largest step (the cache's memory is fixed); `start` of a new request
//! id may allocate its bookkeeping entry. Not thread-safe.
class ngram_cache_drafter {
public:
  static constexpr draft_scheme scheme = draft_scheme::deterministic;

  //! Throws `specdec::invalid_argument` naming a parameter outside its documented range.
  explicit ngram_cache_drafter(const ngram_cache_drafter_params& params = {}) : params_(params), cache_(params.cache) {
    expects(params.branching >= 1 && params.branching <= params.cache.successors, "branching", params.branching,
            "1 <= branching <= cache.successors");
    expects(params.max_depth >= 1, "max_depth", params.max_depth, "max_depth >= 1");
    expects(params.min_count >= 1, "min_count", params.min_count, "min_count >= 1");
    expects(params.min_probability >= 0.0 && params.min_probability <= 1.0, "min_probability", params.min_probability,
            "0 <= min_probability <= 1");
    window_.reserve(static_cast<std::size_t>(params.cache.max_ngram));
  }

  [[nodiscard]] const ngram_cache_drafter_params& params() const noexcept { return params_; }
  //! The shared cache (read-only).
  [[nodiscard]] const ngram_cache& cache() const noexcept { return cache_; }

  //! Learns `prompt` for `request` (restarting it if it was active).
  void start(request_id request, std::span<const token_id> prompt) {
    index_t& learned = learned_[request];
    learned = 0;
    catch_up(learned, prompt);
  }

  //! Learns the tokens the step appended to `feedback.request`.
  void observe(const draft_feedback& feedback) { catch_up(learned_[feedback.request], feedback.tokens); }

  //! Ends `request`; what the cache learned from it stays.
  void release(request_id request) { learned_.erase(request); }

  //! Proposes the step's tree into `out` (see the class comment). Throws `specdec::invalid_argument` for
  //! an empty context, budgets below their minimum, `vocab_size` < 1, or a token outside
  //! [0, vocab_size) among the tokens learned for the first time (the root is always checked).
  //! Continuations at or above `vocab_size` (learned under a larger vocabulary) are never drafted.
  void draft(const draft_context& context, draft_tree& out) {
    expects(!context.tokens.empty(), "context.tokens.size()", context.tokens.size(), "at least one token (the root)");
    expects(context.max_nodes >= 1, "context.max_nodes", context.max_nodes, "max_nodes >= 1 (the root)");
    expects(context.max_depth >= 0, "context.max_depth", context.max_depth, "max_depth >= 0");
    expects(context.vocab_size >= 1, "context.vocab_size", context.vocab_size, "vocab_size >= 1");
    const std::span<const token_id> tokens = context.tokens;
    const token_id root = tokens.back();
    expects(root >= 0 && root < context.vocab_size, "context.tokens.back()", root, "a token id in [0, context.vocab_size)");
    index_t& learned = learned_[context.request];
    if (learned > static_cast<index_t>(tokens.size())) learned = 0;  // a shorter context: a restarted request
    for (index_t i = learned; i < static_cast<index_t>(tokens.size()); ++i) {
      expects_element(tokens[static_cast<std::size_t>(i)] >= 0 && tokens[static_cast<std::size_t>(i)] < context.vocab_size,
                      "context.tokens", i, tokens[static_cast<std::size_t>(i)], "a token id in [0, context.vocab_size)");
    }
    catch_up(learned, tokens);

    out.reset(root, context.vocab_size);
    const index_t depth = std::min({params_.max_depth, context.max_depth, max_tree_depth});
    const index_t budget = std::min(context.max_nodes, max_tree_nodes);
    token_tree& tree = out.tree;
    const index_t vocab = context.vocab_size;
    search_.grow(tree, budget, depth, params_.branching, params_.min_probability, 0,
                 [&](std::int32_t node, std::int64_t, auto&& offer) {
                   node_window(tree, node, tokens);
                   const ngram_continuations found = cache_.lookup(window_);
                   if (found.n == 0) return;
                   index_t offered = 0;
                   for (std::size_t r = 0; r < found.tokens.size() && offered < params_.branching; ++r) {
                     if (found.counts[r] < params_.min_count || found.tokens[r] >= vocab) continue;
                     offer(found.tokens[r], static_cast<double>(found.counts[r]) / static_cast<double>(found.total), 0);
                     ++offered;
                   }
                 });
  }

private:
  void catch_up(index_t& learned, std::span<const token_id> tokens) {
    if (learned > static_cast<index_t>(tokens.size())) learned = 0;
    cache_.learn(tokens, learned);
    learned = static_cast<index_t>(tokens.size());
  }

  // The last max_ngram tokens of the context followed by node's path (root excluded: it is the context's
  // last token), oldest first.
  void node_window(const token_tree& tree, std::int32_t node, std::span<const token_id> tokens) {
    const auto limit = static_cast<std::size_t>(params_.cache.max_ngram);
    window_.clear();
    for (std::int32_t n = node; n > 0 && window_.size() < limit; n = tree.parent(n)) window_.push_back(tree.token(n));
    for (std::size_t k = tokens.size(); k-- > 0 && window_.size() < limit;) window_.push_back(tokens[k]);
    std::reverse(window_.begin(), window_.end());
  }

  ngram_cache_drafter_params params_;
  ngram_cache cache_;
  std::unordered_map<request_id, index_t> learned_;  // tokens of each active request the cache has learned
  detail::best_first_expansion search_;
  std::vector<token_id> window_;
};

static_assert(drafter<ngram_cache_drafter>);

} // namespace v0
} // namespace specdec
