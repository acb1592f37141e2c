//! Prompt lookup decoding: drafts the continuations that followed earlier occurrences of the context's
//! longest matching suffix, merged into a trie.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/draft/detail/flat_index_map.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/tree/sequence_trie_builder.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {

//! The parameters of `prompt_lookup_drafter`.
struct prompt_lookup_params {
  //! The shortest suffix matched (>= 1).
  index_t min_ngram = 1;
  //! The longest suffix matched (min_ngram <= max_ngram <= 64); matching tries n = max_ngram first.
  index_t max_ngram = 3;
  //! The most earlier occurrences whose continuations are merged, most recent first (>= 1).
  index_t max_matches = 4;
  //! The most tokens drafted after the root along any path (>= 1); the step's `max_depth` may lower it.
  index_t max_depth = 8;
  //! Tokens a request's index is sized for beyond its prompt when it starts (>= 0): until its context
  //! outgrows prompt + this, indexing allocates nothing.
  index_t reserve_tokens = 1024;
};

//! Prompt lookup / n-gram matching over the request's own context (Saxena, 2023, "Prompt Lookup
//! Decoding"; llama.cpp's `lookup` example). At each step it finds the longest suffix of
//! `context.tokens` — n from `max_ngram` down to `min_ngram` — that occurred earlier in the context,
//! takes the continuations that followed its `max_matches` most recent earlier occurrences (each up to
//! `min(max_depth, context.max_depth)` tokens, and never past the context's end), merges them into a trie
//! whose node scores count the continuations through them, and emits the best `context.max_nodes` trie
//! nodes through `sequence_trie_builder`: a continuation that recurs ranks first, and among equal counts
//! the more recent match wins. No earlier occurrence of even the `min_ngram` suffix: a root-only tree.
//! Children are chosen deterministically (`draft_scheme::deterministic`).
//!
//! Index: per request, every position's n-grams (n in [min_ngram, max_ngram]) are fingerprinted (64-bit)
//! into a hash map from fingerprint to the most recent position where it ends, plus, per position and n,
//! a link to the previous position with the same fingerprint. `draft` indexes only the tokens appended
//! since its last call, so a request's tokens are read once: O(max_ngram) expected per new token;
//! a step is then O(max_ngram * (max_ngram + max_matches) + max_matches * depth + T log T) for T trie
//! nodes, independent of the context length L. Memory O(L * (max_ngram - min_ngram + 1)) per request.
//! Candidate matches are compared token by token, so a fingerprint collision can never draft a
//! continuation of a different n-gram (the walk along a fingerprint's links stops after 4 * max_matches
//! entries).
//!
//! Contract: a request's tokens only grow between calls (prompt, then emitted tokens), as the decoders
//! guarantee. A context shorter than what was indexed, or whose first or last indexed token changed,
//! is re-indexed from scratch. `release` frees a request's index. Not thread-safe.
//! Steady state: `draft` allocates nothing once the trie builder and the output tree have seen their
//! largest step and the request's index has room (see `reserve_tokens`; growth doubles, amortised).
class prompt_lookup_drafter {
public:
  static constexpr draft_scheme scheme = draft_scheme::deterministic;

  //! Throws `specdec::invalid_argument` naming a parameter outside its documented range.
  explicit prompt_lookup_drafter(const prompt_lookup_params& params = {}) : params_(params) {
    expects(params.min_ngram >= 1, "min_ngram", params.min_ngram, "min_ngram >= 1");
    expects(params.max_ngram >= params.min_ngram && params.max_ngram <= 64, "max_ngram", params.max_ngram,
            "min_ngram <= max_ngram <= 64");
    expects(params.max_matches >= 1, "max_matches", params.max_matches, "max_matches >= 1");
    expects(params.max_depth >= 1, "max_depth", params.max_depth, "max_depth >= 1");
    expects(params.reserve_tokens >= 0, "reserve_tokens", params.reserve_tokens, "reserve_tokens >= 0");
  }

  [[nodiscard]] const prompt_lookup_params& params() const noexcept { return params_; }

  //! Starts (or restarts) `request`: sizes its index for the prompt plus `reserve_tokens`. The prompt
  //! itself is indexed by the first `draft`, which knows the vocabulary to check it against.
  void start(request_id request, std::span<const token_id> prompt) {
    request_state& state = requests_[request];
    state.reset();
    const auto capacity = static_cast<std::size_t>(static_cast<index_t>(prompt.size()) + params_.reserve_tokens);
    state.previous.reserve(capacity * static_cast<std::size_t>(ngram_count()));
    state.heads.reserve(capacity * static_cast<std::size_t>(ngram_count()));
  }

  //! Proposes the step's tree into `out` (see the class comment). Throws `specdec::invalid_argument` for
  //! an empty context, budgets below their minimum (`max_nodes` < 1, `max_depth` < 0), `vocab_size` < 1,
  //! or a token outside [0, vocab_size) among the tokens indexed for the first time (the root is always
  //! checked).
  void draft(const draft_context& context, draft_tree& out) {
    expects(!context.tokens.empty(), "context.tokens.size()", context.tokens.size(), "at least one token (the root)");
    expects(context.max_nodes >= 1, "context.max_nodes", context.max_nodes, "max_nodes >= 1 (the root)");
    expects(context.max_depth >= 0, "context.max_depth", context.max_depth, "max_depth >= 0");
    expects(context.vocab_size >= 1, "context.vocab_size", context.vocab_size, "vocab_size >= 1");
    const std::span<const token_id> tokens = context.tokens;
    const auto length = static_cast<index_t>(tokens.size());
    const token_id root = tokens.back();
    expects(root >= 0 && root < context.vocab_size, "context.tokens.back()", root, "a token id in [0, context.vocab_size)");

    request_state& state = requests_[context.request];
    index_new_tokens(state, tokens, context.vocab_size);
    out.reset(root, context.vocab_size);

    const index_t depth = std::min({params_.max_depth, context.max_depth, max_tree_depth});
    const index_t budget = std::min(context.max_nodes, max_tree_nodes);
    if (depth == 0 || budget == 1 || length < 2) return;

    trie_.clear();
    const index_t groups = ngram_count();
    const index_t last = length - 1;
    // Longest n first; an earlier occurrence must end at or before last - 1, so n <= length - 1.
    for (index_t n = std::min(params_.max_ngram, length - 1); n >= params_.min_ngram; --n) {
      const index_t group = n - params_.min_ngram;
      index_t matches = 0;
      index_t walked = 0;
      for (std::int32_t end = state.previous[static_cast<std::size_t>(last * groups + group)];
           end >= 0 && matches < params_.max_matches && walked < 4 * params_.max_matches;
           end = state.previous[static_cast<std::size_t>(end * groups + group)], ++walked) {
        if (!std::equal(tokens.begin() + (end - n + 1), tokens.begin() + end + 1, tokens.begin() + (length - n))) {
          continue;  // a fingerprint collision, not an occurrence
        }
        const index_t take = std::min(depth, last - end);
        trie_.add(tokens.subspan(static_cast<std::size_t>(end + 1), static_cast<std::size_t>(take)));
        ++matches;
      }
      if (matches > 0) break;
    }
    if (trie_.trie_size() > 1) trie_.build(root, budget, out.tree);
  }

  //! Forgets `request`'s index.
  void release(request_id request) { requests_.erase(request); }

  //! The number of requests with an index.
  [[nodiscard]] std::size_t active_requests() const noexcept { return requests_.size(); }

private:
  struct request_state {
    index_t indexed = 0;       // positions [0, indexed) are in the index
    token_id first = 0;        // tokens[0] and tokens[indexed - 1] when indexed, to detect a changed context
    token_id last = 0;
    detail::flat_index_map heads;        // fingerprint -> the most recent position the n-gram ends at
    std::vector<std::int32_t> previous;  // [position * groups + (n - min_ngram)] -> previous end, or -1

    void reset() {
      indexed = 0;
      heads.clear();
      previous.clear();
    }
  };

  [[nodiscard]] index_t ngram_count() const noexcept { return params_.max_ngram - params_.min_ngram + 1; }

  void index_new_tokens(request_state& state, std::span<const token_id> tokens, index_t vocab) {
    const auto length = static_cast<index_t>(tokens.size());
    if (state.indexed > length ||
        (state.indexed > 0 && (tokens[0] != state.first || tokens[static_cast<std::size_t>(state.indexed - 1)] != state.last))) {
      state.reset();
    }
    expects(length <= std::int64_t{INT32_MAX}, "context.tokens.size()", length, "fewer than 2^31 tokens");
    for (index_t position = state.indexed; position < length; ++position) {
      const token_id token = tokens[static_cast<std::size_t>(position)];
      expects_element(token >= 0 && token < vocab, "context.tokens", position, token, "a token id in [0, context.vocab_size)");
      std::uint64_t fingerprint = detail::empty_fingerprint;
      for (index_t n = 1; n <= params_.max_ngram; ++n) {
        const bool whole = n <= position + 1;
        if (whole) fingerprint = detail::extend_fingerprint(fingerprint, tokens[static_cast<std::size_t>(position - n + 1)]);
        if (n < params_.min_ngram) continue;
        std::int32_t link = -1;
        if (whole) {
          std::int32_t& head = state.heads.find_or_insert(fingerprint, static_cast<std::int32_t>(position));
          if (head != static_cast<std::int32_t>(position)) {
            link = head;
            head = static_cast<std::int32_t>(position);
          }
        }
        state.previous.push_back(link);
      }
    }
    state.indexed = length;
    state.first = tokens[0];
    state.last = tokens.back();
  }

  prompt_lookup_params params_;
  std::unordered_map<request_id, request_state> requests_;
  sequence_trie_builder trie_;
};

static_assert(drafter<prompt_lookup_drafter>);

} // namespace v0
} // namespace specdec
