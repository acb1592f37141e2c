#include <specdec/draft/detail/flat_index_map.hpp>
#include <specdec/draft/drafter.hpp>
#include <specdec/draft/ngram_cache.hpp>
#include <specdec/draft/prompt_lookup_drafter.hpp>
#include <specdec/draft/suffix_tree_drafter.hpp>
#include <specdec/tree/sequence_trie_builder.hpp>
#include <specdec/tree/token_tree.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <vector>

#include "support/allocation_counter.hpp"
#include "support/catch.hpp"

using specdec::draft_context;
using specdec::draft_tree;
using specdec::index_t;
using specdec::token_id;

static_assert(specdec::drafter<specdec::prompt_lookup_drafter>);
static_assert(specdec::drafter<specdec::ngram_cache_drafter>);
static_assert(specdec::drafter<specdec::suffix_tree_drafter>);
// The hooks the decoders call when present (detail::drafter_start / observe / release): each drafter
// has the ones its state needs, with the signatures the decoders use.
template <class D>
concept has_start_and_release = requires(D& d, specdec::request_id r, std::span<const token_id> prompt) {
  d.start(r, prompt);
  d.release(r);
};
template <class D>
concept has_observe = requires(D& d, const specdec::draft_feedback& f) { d.observe(f); };
static_assert(has_start_and_release<specdec::prompt_lookup_drafter> && has_start_and_release<specdec::ngram_cache_drafter> &&
              has_start_and_release<specdec::suffix_tree_drafter>);
static_assert(has_observe<specdec::ngram_cache_drafter> && has_observe<specdec::suffix_tree_drafter>);
static_assert(specdec::prompt_lookup_drafter::scheme == specdec::draft_scheme::deterministic);
static_assert(specdec::ngram_cache_drafter::scheme == specdec::draft_scheme::deterministic);
static_assert(specdec::suffix_tree_drafter::scheme == specdec::draft_scheme::deterministic);

namespace {

draft_context context_of(std::span<const token_id> tokens, index_t max_nodes = 64, index_t max_depth = 16, index_t vocab = 100,
                         specdec::request_id request = 0) {
  draft_context c;
  c.request = request;
  c.tokens = tokens;
  c.max_nodes = max_nodes;
  c.max_depth = max_depth;
  c.vocab_size = vocab;
  return c;
}

std::vector<token_id> tokens_of(const draft_tree& out) {
  const auto t = out.tree.view().tokens();
  return {t.begin(), t.end()};
}
std::vector<std::int32_t> parents_of(const draft_tree& out) {
  const auto p = out.tree.view().parents();
  return {p.begin(), p.end()};
}

// Drafts, checks the tree against the step's budgets and the vocabulary, and returns it.
template <class D>
const draft_tree& draft_checked(D& drafter, const draft_context& context, draft_tree& out) {
  drafter.draft(context, out);
  specdec::validate(out.tree, context.vocab_size);
  REQUIRE(out.tree.size() <= context.max_nodes);
  REQUIRE(out.tree.view().max_depth() <= context.max_depth);
  REQUIRE(out.tree.token(0) == context.tokens.back());
  REQUIRE(out.draft_probs().rows() == 0);  // deterministic: no q
  return out;
}

// Every root-to-node path of `tree` (root token first) occurs in `tokens` as a contiguous run.
bool paths_occur_in(const draft_tree& out, std::span<const token_id> tokens) {
  std::vector<token_id> path;
  for (index_t node = 1; node < out.tree.size(); ++node) {
    path.clear();
    for (std::int32_t n = static_cast<std::int32_t>(node); n >= 0; n = out.tree.parent(n)) path.push_back(out.tree.token(n));
    std::reverse(path.begin(), path.end());
    if (std::search(tokens.begin(), tokens.end(), path.begin(), path.end()) == tokens.end()) return false;
  }
  return true;
}

// Every edge of `tree` (a parent's token, then its child's) occurs in `tokens` as a bigram: what an
// n-gram drafter guarantees at the least, since every child continued a context ending in its parent.
bool edges_occur_in(const draft_tree& out, std::span<const token_id> tokens) {
  for (index_t node = 1; node < out.tree.size(); ++node) {
    const token_id edge[2] = {out.tree.token(out.tree.parent(node)), out.tree.token(node)};
    if (std::search(tokens.begin(), tokens.end(), std::begin(edge), std::end(edge)) == tokens.end()) return false;
  }
  return true;
}

// The root-to-node paths of `tree`, sorted: the tree's content regardless of sibling order.
std::vector<std::vector<token_id>> sorted_paths(const draft_tree& out) {
  std::vector<std::vector<token_id>> paths;
  for (index_t node = 0; node < out.tree.size(); ++node) {
    std::vector<token_id> path;
    for (std::int32_t n = static_cast<std::int32_t>(node); n >= 0; n = out.tree.parent(n)) path.push_back(out.tree.token(n));
    std::reverse(path.begin(), path.end());
    paths.push_back(std::move(path));
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// The prompt lookup rule written the slow, obvious way: scan every earlier end position for the longest
// n, most recent first.
void reference_prompt_lookup(std::span<const token_id> tokens, const specdec::prompt_lookup_params& p, index_t max_nodes,
                             index_t max_depth, specdec::token_tree& out) {
  specdec::sequence_trie_builder trie;
  const auto length = static_cast<index_t>(tokens.size());
  const index_t depth = std::min(p.max_depth, max_depth);
  out.clear(tokens.back());
  if (depth == 0 || max_nodes == 1) return;
  for (index_t n = std::min(p.max_ngram, length - 1); n >= p.min_ngram; --n) {
    index_t matches = 0;
    for (index_t end = length - 2; end >= n - 1 && matches < p.max_matches; --end) {
      bool same = true;
      for (index_t k = 0; k < n; ++k) same = same && tokens[static_cast<std::size_t>(end - k)] == tokens[static_cast<std::size_t>(length - 1 - k)];
      if (!same) continue;
      trie.add(tokens.subspan(static_cast<std::size_t>(end + 1), static_cast<std::size_t>(std::min(depth, length - 1 - end))));
      ++matches;
    }
    if (matches > 0) break;
  }
  if (trie.trie_size() > 1) trie.build(tokens.back(), max_nodes, out);
}

}  // namespace

TEST_CASE("the drafters' hash index agrees with std::map under inserts, updates and erasures") {
  specdec::detail::flat_index_map map;
  std::map<std::uint64_t, std::int32_t> expected;
  std::mt19937_64 rng(41);
  for (int op = 0; op < 20000; ++op) {
    // Few distinct keys, some colliding in the low bits, so that probe runs form and erasures shift them.
    const std::uint64_t key = (rng() % 300) << (op % 3 == 0 ? 40 : 0);
    const auto value = static_cast<std::int32_t>(rng() % 1000);
    switch (rng() % 3) {
      case 0:
        map.assign(key, value);
        expected[key] = value;
        break;
      case 1:
        map.erase(key);
        expected.erase(key);
        break;
      default: {
        const auto found = expected.find(key);
        REQUIRE(map.find(key) == (found == expected.end() ? -1 : found->second));
      }
    }
    REQUIRE(map.size() == expected.size());
  }
  for (const auto& [key, value] : expected) REQUIRE(map.find(key) == value);
  map.clear();
  CHECK(map.size() == 0);
  CHECK(map.find(expected.begin()->first) == -1);
}

// ---------------------------------------------------------------------------------------------------
// prompt_lookup_drafter

TEST_CASE("prompt lookup merges the continuations of the longest suffix's earlier occurrences") {
  specdec::prompt_lookup_drafter drafter({.min_ngram = 1, .max_ngram = 2, .max_matches = 4, .max_depth = 3});
  draft_tree out;
  // The suffix (1, 2) occurred ending at positions 1 and 5: continuations 3 9 1 (older) and 4 7 1.
  const std::vector<token_id> tokens{1, 2, 3, 9, 1, 2, 4, 7, 1, 2};
  SECTION("both continuations, the more recent first at equal counts") {
    draft_checked(drafter, context_of(tokens), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 4, 3, 7, 9, 1, 1});
    CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0, 1, 2, 3, 4});
  }
  SECTION("max_nodes keeps the best trie nodes: the recent chain") {
    draft_checked(drafter, context_of(tokens, 4), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 4, 7, 1});
    CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1, 2});
  }
  SECTION("the step's max_depth cuts every continuation") {
    draft_checked(drafter, context_of(tokens, 64, 1), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 4, 3});
    CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0});
  }
  SECTION("no drafts allowed: a root-only tree") {
    draft_checked(drafter, context_of(tokens, 1), out);
    CHECK(out.tree.size() == 1);
    draft_checked(drafter, context_of(tokens, 8, 0), out);
    CHECK(out.tree.size() == 1);
  }
}

TEST_CASE("prompt lookup ranks a recurring continuation first and honours max_matches") {
  // (5, 6) was followed by 7 5 6, 7 5 6 and, most recently, 8 5 6.
  const std::vector<token_id> tokens{5, 6, 7, 5, 6, 7, 5, 6, 8, 5, 6};
  draft_tree out;
  specdec::prompt_lookup_drafter all({.min_ngram = 2, .max_ngram = 2, .max_matches = 8, .max_depth = 2});
  draft_checked(all, context_of(tokens), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 7, 8, 5, 5});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0, 1, 2});
  specdec::prompt_lookup_drafter one({.min_ngram = 2, .max_ngram = 2, .max_matches = 1, .max_depth = 2});
  draft_checked(one, context_of(tokens), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 8, 5});
}

TEST_CASE("prompt lookup prefers the longest matching n-gram") {
  // Suffix (3, 1) occurred once (then 4 2 1); suffix (1) also occurred before 5 3 1.
  const std::vector<token_id> tokens{3, 1, 4, 2, 1, 5, 3, 1};
  draft_tree out;
  specdec::prompt_lookup_drafter bigram({.min_ngram = 1, .max_ngram = 2, .max_matches = 4, .max_depth = 3});
  draft_checked(bigram, context_of(tokens), out);
  CHECK(tokens_of(out) == std::vector<token_id>{1, 4, 2, 1});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1, 2});
  specdec::prompt_lookup_drafter unigram({.min_ngram = 1, .max_ngram = 1, .max_matches = 4, .max_depth = 3});
  draft_checked(unigram, context_of(tokens), out);
  CHECK(tokens_of(out) == std::vector<token_id>{1, 5, 4, 3, 2, 1, 1});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0, 1, 2, 3, 4});
}

TEST_CASE("prompt lookup: no match gives a root-only tree, and continuations stop at the context's end") {
  specdec::prompt_lookup_drafter drafter({.min_ngram = 1, .max_ngram = 3, .max_matches = 4, .max_depth = 4});
  draft_tree out;
  const std::vector<token_id> distinct{1, 2, 3, 4};
  draft_checked(drafter, context_of(distinct), out);
  CHECK(tokens_of(out) == std::vector<token_id>{4});
  const std::vector<token_id> single{7};
  draft_checked(drafter, context_of(single, 64, 16, 100, 1), out);
  CHECK(tokens_of(out) == std::vector<token_id>{7});
  // 7 7 7: the trigram has no earlier occurrence; the bigram ends at 1 and continues with one 7.
  const std::vector<token_id> repeated{7, 7, 7};
  draft_checked(drafter, context_of(repeated, 64, 16, 100, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{7, 7});
  specdec::prompt_lookup_drafter unigram({.min_ngram = 1, .max_ngram = 1, .max_matches = 4, .max_depth = 4});
  draft_checked(unigram, context_of(repeated), out);
  CHECK(tokens_of(out) == std::vector<token_id>{7, 7, 7});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1});
}

TEST_CASE("prompt lookup's incremental index agrees with a full rescan, step after step") {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 40; ++trial) {
    const index_t vocab = 2 + trial % 5;
    const specdec::prompt_lookup_params params{.min_ngram = 1 + trial % 2, .max_ngram = 2 + trial % 3,
                                               .max_matches = 1 + trial % 4, .max_depth = 1 + trial % 6};
    specdec::prompt_lookup_drafter drafter(params);
    std::vector<token_id> tokens;
    std::uniform_int_distribution<token_id> token(0, static_cast<token_id>(vocab - 1));
    for (int i = 0; i < 5; ++i) tokens.push_back(token(rng));
    drafter.start(7, tokens);
    draft_tree out;
    specdec::token_tree expected(0);
    for (int step = 0; step < 30; ++step) {
      const index_t max_nodes = 1 + step % 9;
      const index_t max_depth = step % 5;
      const auto context = context_of(tokens, max_nodes, max_depth, vocab, 7);
      draft_checked(drafter, context, out);
      reference_prompt_lookup(tokens, params, max_nodes, max_depth, expected);
      REQUIRE(tokens_of(out) == std::vector<token_id>(expected.view().tokens().begin(), expected.view().tokens().end()));
      REQUIRE(parents_of(out) == std::vector<std::int32_t>(expected.view().parents().begin(), expected.view().parents().end()));
      REQUIRE(paths_occur_in(out, tokens));
      const int grow = 1 + step % 3;
      for (int i = 0; i < grow; ++i) tokens.push_back(token(rng));
    }
  }
}

TEST_CASE("prompt lookup re-indexes a request whose context changed, and forgets released ones") {
  specdec::prompt_lookup_drafter drafter({.min_ngram = 1, .max_ngram = 2, .max_matches = 4, .max_depth = 3});
  draft_tree out;
  const std::vector<token_id> first{1, 2, 3, 1, 2};
  draft_checked(drafter, context_of(first, 64, 16, 100, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2});
  // Same request id, a different context of the same length: nothing of the old one may leak.
  const std::vector<token_id> second{4, 5, 6, 4, 5};
  draft_checked(drafter, context_of(second, 64, 16, 100, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{5, 6, 4, 5});
  // A shorter context.
  const std::vector<token_id> shorter{4, 5, 4};
  draft_checked(drafter, context_of(shorter, 64, 16, 100, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{4, 5, 4});
  CHECK(drafter.active_requests() == 1);
  drafter.release(3);
  CHECK(drafter.active_requests() == 0);
}

TEST_CASE("prompt lookup is deterministic across instances and calls") {
  std::mt19937 rng(5);
  std::vector<token_id> tokens(300);
  for (token_id& t : tokens) t = static_cast<token_id>(rng() % 6);
  specdec::prompt_lookup_drafter a({.min_ngram = 1, .max_ngram = 4, .max_matches = 8, .max_depth = 5});
  specdec::prompt_lookup_drafter b(a.params());
  draft_tree x;
  draft_tree y;
  draft_checked(a, context_of(tokens, 24, 8, 6), x);
  draft_checked(b, context_of(tokens, 24, 8, 6), y);
  CHECK(x.tree.size() > 10);
  CHECK(tokens_of(x) == tokens_of(y));
  CHECK(parents_of(x) == parents_of(y));
  draft_checked(a, context_of(tokens, 24, 8, 6), y);
  CHECK(tokens_of(x) == tokens_of(y));
}

TEST_CASE("prompt lookup rejects bad parameters and contexts, naming them") {
  REQUIRE_INVALID_ARGUMENT("min_ngram = 0", specdec::prompt_lookup_drafter({.min_ngram = 0}));
  REQUIRE_INVALID_ARGUMENT("max_ngram = 2", specdec::prompt_lookup_drafter({.min_ngram = 3, .max_ngram = 2}));
  REQUIRE_INVALID_ARGUMENT("max_ngram = 65", specdec::prompt_lookup_drafter({.min_ngram = 1, .max_ngram = 65}));
  REQUIRE_INVALID_ARGUMENT("max_matches = 0", specdec::prompt_lookup_drafter({.max_matches = 0}));
  REQUIRE_INVALID_ARGUMENT("max_depth = 0", specdec::prompt_lookup_drafter({.max_depth = 0}));
  REQUIRE_INVALID_ARGUMENT("reserve_tokens = -1", specdec::prompt_lookup_drafter({.reserve_tokens = -1}));
  specdec::prompt_lookup_drafter drafter;
  draft_tree out;
  const std::vector<token_id> tokens{1, 2, 9, 3};
  REQUIRE_INVALID_ARGUMENT("context.tokens.size() = 0", drafter.draft(context_of({}), out));
  REQUIRE_INVALID_ARGUMENT("context.max_nodes = 0", drafter.draft(context_of(tokens, 0), out));
  REQUIRE_INVALID_ARGUMENT("context.max_depth = -1", drafter.draft(context_of(tokens, 4, -1), out));
  REQUIRE_INVALID_ARGUMENT("context.vocab_size = 0", drafter.draft(context_of(tokens, 4, 4, 0), out));
  REQUIRE_INVALID_ARGUMENT("context.tokens[2] = 9", drafter.draft(context_of(tokens, 4, 4, 9, 1), out));
  const std::vector<token_id> negative{1, -4, 2};
  REQUIRE_INVALID_ARGUMENT("context.tokens[1] = -4", drafter.draft(context_of(negative, 4, 4, 9, 2), out));
  const std::vector<token_id> bad_root{1, 2, 12};
  REQUIRE_INVALID_ARGUMENT("context.tokens.back() = 12", drafter.draft(context_of(bad_root, 4, 4, 9, 3), out));
}

TEST_CASE("prompt lookup allocates nothing per step once warm") {
  std::mt19937 rng(11);
  std::vector<token_id> tokens(400);
  for (token_id& t : tokens) t = static_cast<token_id>(rng() % 8);
  specdec::prompt_lookup_drafter drafter({.min_ngram = 1, .max_ngram = 3, .max_matches = 6, .max_depth = 6, .reserve_tokens = 256});
  drafter.start(1, std::span<const token_id>(tokens).first(200));
  draft_tree out;
  // Warm-up: the largest trie and tree (6 matches, 6 distinct tokens each: 37 nodes) size the reusable
  // buffers, on another request.
  std::vector<token_id> widest;
  for (token_id m = 0; m < 6; ++m) {
    widest.push_back(99);
    for (token_id k = 1; k <= 6; ++k) widest.push_back(10 * m + k);
  }
  widest.push_back(99);
  drafter.draft(context_of(widest, 64, 8, 100, 2), out);
  REQUIRE(out.tree.size() == 37);
  for (std::size_t length = 200; length < 260; ++length) {
    drafter.draft(context_of(std::span<const token_id>(tokens).first(length), 64, 8, 8, 1), out);
  }
  const std::int64_t before = specdec_test::allocations();
  std::int64_t drafted = 0;
  for (std::size_t length = 260; length < 400; ++length) {
    drafter.draft(context_of(std::span<const token_id>(tokens).first(length), 64, 8, 8, 1), out);
    drafted += out.tree.size() - 1;
  }
  CHECK(specdec_test::allocations() - before == 0);
  CHECK(drafted > 140);  // the steps really drafted
}

// ---------------------------------------------------------------------------------------------------
// ngram_cache and ngram_cache_drafter

TEST_CASE("the n-gram cache counts continuations and looks up the longest context") {
  specdec::ngram_cache cache({.min_ngram = 1, .max_ngram = 2, .capacity = 64, .successors = 4});
  const std::vector<token_id> tokens{1, 2, 3, 1, 2, 3, 1, 2, 4};
  cache.learn(tokens, 0);
  const std::vector<token_id> window{9, 1, 2};
  auto found = cache.lookup(window);
  CHECK(found.n == 2);
  CHECK(std::vector<token_id>(found.tokens.begin(), found.tokens.end()) == std::vector<token_id>{3, 4});
  CHECK(std::vector<std::uint32_t>(found.counts.begin(), found.counts.end()) == std::vector<std::uint32_t>{2, 1});
  CHECK(found.total == 3);
  const std::vector<token_id> unigram{5, 3};  // (5, 3) unseen: falls back to (3) -> 1, twice
  found = cache.lookup(unigram);
  CHECK(found.n == 1);
  CHECK(std::vector<token_id>(found.tokens.begin(), found.tokens.end()) == std::vector<token_id>{1});
  CHECK(found.total == 2);
  const std::vector<token_id> unseen{7};
  CHECK(cache.lookup(unseen).n == 0);
  CHECK(cache.lookup({}).n == 0);
  // Learning from an offset adds only the new positions: (1, 2) -> 4 once more.
  const std::vector<token_id> longer{1, 2, 3, 1, 2, 3, 1, 2, 4, 1, 2, 4};
  cache.learn(longer, 9);
  found = cache.lookup(window);
  CHECK(std::vector<std::uint32_t>(found.counts.begin(), found.counts.end()) == std::vector<std::uint32_t>{2, 2});
  CHECK(std::vector<token_id>(found.tokens.begin(), found.tokens.end()) == std::vector<token_id>{3, 4});  // 3 got there first
}

TEST_CASE("the n-gram cache stays within its memory: LRU contexts, bounded successors, halved counts") {
  SECTION("a full set evicts its least recently updated context") {
    specdec::ngram_cache cache({.min_ngram = 1, .max_ngram = 1, .capacity = 8, .successors = 2});
    const std::size_t bytes = cache.memory_bytes();
    std::vector<token_id> tokens(40);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<token_id>(i);
    cache.learn(tokens, 0);  // contexts 0..38, each followed by its successor
    CHECK(cache.slots() == 8);
    CHECK(cache.contexts() == 8);
    CHECK(cache.memory_bytes() == bytes);
    for (token_id k = 31; k <= 38; ++k) {
      const std::vector<token_id> w{k};
      REQUIRE(cache.lookup(w).n == 1);
      REQUIRE(cache.lookup(w).tokens[0] == k + 1);
    }
    const std::vector<token_id> old{30};
    CHECK(cache.lookup(old).n == 0);
  }
  SECTION("eviction is least recently updated first, not first in") {
    specdec::ngram_cache cache({.min_ngram = 1, .max_ngram = 1, .capacity = 8, .successors = 2});
    const std::vector<token_id> first{0, 1, 2, 3, 4, 5, 6, 7, 8};  // contexts 0..7 fill the set
    cache.learn(first, 0);
    const std::vector<token_id> touch{0, 1};
    cache.learn(touch, 0);  // context 0 updated again: context 1 is now the least recent
    const std::vector<token_id> newcomer{20, 21};
    cache.learn(newcomer, 0);
    const std::vector<token_id> w0{0};
    const std::vector<token_id> w1{1};
    const std::vector<token_id> w20{20};
    CHECK(cache.lookup(w0).n == 1);
    CHECK(cache.lookup(w0).total == 2);
    CHECK(cache.lookup(w1).n == 0);
    CHECK(cache.lookup(w20).n == 1);
    CHECK(cache.contexts() == 8);
  }
  SECTION("a new continuation of a full context replaces its last one") {
    specdec::ngram_cache cache({.min_ngram = 1, .max_ngram = 1, .capacity = 8, .successors = 2});
    const std::vector<token_id> tokens{1, 2, 1, 2, 1, 3, 1, 4};
    cache.learn(tokens, 0);
    const std::vector<token_id> w{1};
    const auto found = cache.lookup(w);
    CHECK(std::vector<token_id>(found.tokens.begin(), found.tokens.end()) == std::vector<token_id>{2, 4});
    CHECK(std::vector<std::uint32_t>(found.counts.begin(), found.counts.end()) == std::vector<std::uint32_t>{2, 1});
    CHECK(found.total == 3);
  }
  SECTION("a count reaching max_count halves the context's counts") {
    specdec::ngram_cache cache({.min_ngram = 1, .max_ngram = 1, .capacity = 8, .successors = 4, .max_count = 4});
    const std::vector<token_id> tokens{1, 2, 1, 2, 1, 2, 1, 2, 1, 3};
    cache.learn(tokens, 0);
    const std::vector<token_id> w{1};
    const auto found = cache.lookup(w);
    CHECK(std::vector<token_id>(found.tokens.begin(), found.tokens.end()) == std::vector<token_id>{2, 3});
    CHECK(std::vector<std::uint32_t>(found.counts.begin(), found.counts.end()) == std::vector<std::uint32_t>{2, 1});
    CHECK(found.total == 3);
  }
}

TEST_CASE("the n-gram cache drafter grows a tree by best counts from what earlier requests taught it") {
  const specdec::ngram_cache_drafter_params params{
      .cache = {.min_ngram = 1, .max_ngram = 2, .capacity = 256, .successors = 4}, .branching = 2, .max_depth = 3};
  specdec::ngram_cache_drafter drafter(params);
  const std::vector<token_id> prompt{1, 2, 3, 1, 2, 3, 1, 2, 4};
  drafter.start(1, prompt);
  drafter.release(1);
  draft_tree out;
  // (1, 2) -> 3 (2/3) or 4 (1/3); (2, 3) -> 1; (3, 1) -> 2; nothing follows (2, 4) or (4).
  const std::vector<token_id> context{8, 1, 2};
  draft_checked(drafter, context_of(context, 16, 16, 10, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2, 4});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1, 2, 0});
  SECTION("one branch: the greedy chain") {
    specdec::ngram_cache_drafter chain({.cache = params.cache, .branching = 1, .max_depth = 3});
    chain.start(1, prompt);
    draft_checked(chain, context_of(context, 16, 16, 10, 2), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2});
  }
  SECTION("the node budget keeps the most probable nodes") {
    draft_checked(drafter, context_of(context, 3, 16, 10, 2), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1});
  }
  SECTION("deeper: the chain continues through (1, 2) again, with 4 as its second child") {
    specdec::ngram_cache_drafter deep({.cache = params.cache, .branching = 2, .max_depth = 8});
    deep.start(1, prompt);
    draft_checked(deep, context_of(context, 6, 16, 10, 2), out);
    // 3 (2/3), 1 (2/3), 2 (2/3), 3 (4/9), 1 (4/9) beat 4 (1/3 and 2/9).
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2, 3, 1});
    CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1, 2, 3, 4});
  }
  SECTION("min_probability prunes unlikely nodes") {
    specdec::ngram_cache_drafter pruned({.cache = params.cache, .branching = 2, .max_depth = 3, .min_probability = 0.5});
    pruned.start(1, prompt);
    draft_checked(pruned, context_of(context, 16, 16, 10, 2), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2});
  }
  SECTION("continuations outside the step's vocabulary are never drafted") {
    draft_checked(drafter, context_of(context, 16, 16, 4, 2), out);  // 4 is outside [0, 4)
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2});
  }
  SECTION("a fresh drafter knows nothing: root only") {
    specdec::ngram_cache_drafter fresh(params);
    draft_checked(fresh, context_of(context, 16, 16, 10, 2), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2});
  }
}

TEST_CASE("the n-gram cache drafter learns generated tokens through observe, once") {
  specdec::ngram_cache_drafter drafter({.cache = {.min_ngram = 1, .max_ngram = 1, .capacity = 64, .successors = 4}, .branching = 1, .max_depth = 2});
  std::vector<token_id> tokens{5, 6};
  drafter.start(1, tokens);
  tokens.insert(tokens.end(), {7, 5});
  specdec::draft_feedback feedback;
  feedback.request = 1;
  feedback.tokens = tokens;
  drafter.observe(feedback);
  drafter.observe(feedback);  // the same tokens again: nothing new to learn
  const std::vector<token_id> w{5};
  const auto found = drafter.cache().lookup(w);
  REQUIRE(found.n == 1);
  CHECK(found.total == 1);  // 5 -> 6 once, not twice
  draft_tree out;
  draft_checked(drafter, context_of(tokens, 8, 8, 10, 1), out);  // nothing new either
  CHECK(drafter.cache().lookup(w).total == 1);
  CHECK(tokens_of(out) == std::vector<token_id>{5, 6, 7});
}

TEST_CASE("the n-gram cache drafter is deterministic and allocates nothing per step once warm") {
  std::mt19937 rng(3);
  std::vector<token_id> tokens(600);
  for (token_id& t : tokens) t = static_cast<token_id>(rng() % 12);
  const specdec::ngram_cache_drafter_params params{.cache = {.min_ngram = 1, .max_ngram = 3, .capacity = 4096, .successors = 4},
                                                   .branching = 3, .max_depth = 6};
  specdec::ngram_cache_drafter a(params);
  specdec::ngram_cache_drafter b(params);
  a.start(1, std::span<const token_id>(tokens).first(300));
  b.start(1, std::span<const token_id>(tokens).first(300));
  draft_tree out;
  draft_tree other;
  for (std::size_t length = 300; length < 340; ++length) a.draft(context_of(std::span<const token_id>(tokens).first(length), 32, 8, 12, 1), out);
  const std::int64_t before = specdec_test::allocations();
  std::int64_t drafted = 0;
  specdec::draft_feedback feedback;
  feedback.request = 1;
  for (std::size_t length = 340; length < 600; ++length) {
    a.draft(context_of(std::span<const token_id>(tokens).first(length), 32, 8, 12, 1), out);
    feedback.tokens = std::span<const token_id>(tokens).first(length + 1);
    a.observe(feedback);
    drafted += out.tree.size() - 1;
  }
  CHECK(specdec_test::allocations() - before == 0);
  CHECK(drafted > 1000);
  // The same history through the other hooks' path gives the same tree.
  b.draft(context_of(std::span<const token_id>(tokens), 32, 8, 12, 1), other);
  a.draft(context_of(std::span<const token_id>(tokens), 32, 8, 12, 1), out);
  specdec::validate(out.tree, 12);
  CHECK(tokens_of(out) == tokens_of(other));
  CHECK(parents_of(out) == parents_of(other));
}

TEST_CASE("the n-gram cache drafter keeps its trees within every budget on random contexts") {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 30; ++trial) {
    const index_t vocab = 3 + trial % 4;
    specdec::ngram_cache_drafter drafter({.cache = {.min_ngram = 1, .max_ngram = 1 + trial % 3, .capacity = 64, .successors = 3},
                                          .branching = 1 + trial % 3, .max_depth = 1 + trial % 5});
    std::vector<token_id> tokens(60 + static_cast<std::size_t>(trial));
    for (token_id& t : tokens) t = static_cast<token_id>(rng() % static_cast<unsigned>(vocab));
    draft_tree out;
    for (index_t max_nodes = 1; max_nodes < 20; max_nodes += 3) {
      for (index_t max_depth = 0; max_depth < 7; max_depth += 2) {
        draft_checked(drafter, context_of(tokens, max_nodes, max_depth, vocab, 1), out);
        REQUIRE(out.tree.view().max_depth() <= drafter.params().max_depth);
        // Every drafted child followed a context ending in its parent's token somewhere in the tokens.
        REQUIRE(edges_occur_in(out, tokens));
      }
    }
  }
}

TEST_CASE("the n-gram cache and its drafter reject bad parameters and contexts, naming them") {
  REQUIRE_INVALID_ARGUMENT("min_ngram = 0", specdec::ngram_cache({.min_ngram = 0}));
  REQUIRE_INVALID_ARGUMENT("max_ngram = 2", specdec::ngram_cache({.min_ngram = 3, .max_ngram = 2}));
  REQUIRE_INVALID_ARGUMENT("max_ngram = 33", specdec::ngram_cache({.min_ngram = 1, .max_ngram = 33}));
  REQUIRE_INVALID_ARGUMENT("capacity = 4", specdec::ngram_cache({.capacity = 4}));
  REQUIRE_INVALID_ARGUMENT("successors = 0", specdec::ngram_cache({.successors = 0}));
  REQUIRE_INVALID_ARGUMENT("max_count = 1", specdec::ngram_cache({.max_count = 1}));
  REQUIRE_INVALID_ARGUMENT("branching = 5", specdec::ngram_cache_drafter({.cache = {.successors = 4}, .branching = 5}));
  REQUIRE_INVALID_ARGUMENT("max_depth = 0", specdec::ngram_cache_drafter({.max_depth = 0}));
  REQUIRE_INVALID_ARGUMENT("min_count = 0", specdec::ngram_cache_drafter({.min_count = 0}));
  REQUIRE_INVALID_ARGUMENT("min_probability = 1.5", specdec::ngram_cache_drafter({.min_probability = 1.5}));
  specdec::ngram_cache cache;
  const std::vector<token_id> negative{1, -2, 3};
  REQUIRE_INVALID_ARGUMENT("tokens[1] = -2", cache.learn(negative, 0));
  REQUIRE_INVALID_ARGUMENT("from = 4", cache.learn(negative, 4));
  specdec::ngram_cache_drafter drafter;
  draft_tree out;
  const std::vector<token_id> tokens{1, 2, 9, 3};
  REQUIRE_INVALID_ARGUMENT("context.tokens.size() = 0", drafter.draft(context_of({}), out));
  REQUIRE_INVALID_ARGUMENT("context.max_nodes = 0", drafter.draft(context_of(tokens, 0), out));
  REQUIRE_INVALID_ARGUMENT("context.max_depth = -1", drafter.draft(context_of(tokens, 4, -1), out));
  REQUIRE_INVALID_ARGUMENT("context.vocab_size = 0", drafter.draft(context_of(tokens, 4, 4, 0), out));
  REQUIRE_INVALID_ARGUMENT("context.tokens[2] = 9", drafter.draft(context_of(tokens, 4, 4, 9, 1), out));
  specdec::draft_feedback feedback;
  feedback.request = 5;
  feedback.tokens = negative;
  REQUIRE_INVALID_ARGUMENT("tokens[1] = -2", drafter.observe(feedback));
}

// ---------------------------------------------------------------------------------------------------
// suffix_tree_drafter

TEST_CASE("suffix trees draft the request's own continuations, best first within alpha times the match length") {
  // Open suffixes of the context: (2), (1 2), (4 1 2), (2 4 1 2); the longest with a continuation is
  // (1 2), followed once by 3 (then 1 2) and once by 4 (then 1 2).
  const std::vector<token_id> tokens{1, 2, 3, 1, 2, 4, 1, 2};
  draft_tree out;
  specdec::suffix_tree_drafter wide({.max_match = 4, .max_depth = 3, .budget_per_match_token = 10.0, .global_window = 0});
  draft_checked(wide, context_of(tokens), out);
  CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 4, 1, 1, 2, 2});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0, 1, 2, 3, 4});
  SECTION("alpha = 1 allows one draft per matched token") {
    specdec::suffix_tree_drafter narrow({.max_match = 4, .max_depth = 3, .budget_per_match_token = 1.0, .global_window = 0});
    draft_checked(narrow, context_of(tokens), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 4});
    CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0});
  }
  SECTION("the step's budgets") {
    draft_checked(wide, context_of(tokens, 64, 1), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 4});
    draft_checked(wide, context_of(tokens, 4), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 4, 1});
    draft_checked(wide, context_of(tokens, 1), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2});
  }
  SECTION("branching = 1 keeps the most frequent (first seen among equals) child only") {
    specdec::suffix_tree_drafter chain({.max_match = 4, .max_depth = 3, .budget_per_match_token = 10.0, .branching = 1, .global_window = 0});
    draft_checked(chain, context_of(tokens), out);
    CHECK(tokens_of(out) == std::vector<token_id>{2, 3, 1, 2});
  }
  SECTION("no match: root only") {
    const std::vector<token_id> distinct{1, 2, 3, 4};
    draft_checked(wide, context_of(distinct, 64, 16, 100, 9), out);
    CHECK(tokens_of(out) == std::vector<token_id>{4});
  }
}

TEST_CASE("suffix trees rank by frequency and match the longest suffix") {
  // (5 6) was followed by 7 twice and by 8 once; (9 5 6) only by 8.
  const std::vector<token_id> tokens{5, 6, 7, 5, 6, 7, 9, 5, 6, 8, 1, 5, 6};
  draft_tree out;
  specdec::suffix_tree_drafter drafter({.max_match = 3, .max_depth = 1, .budget_per_match_token = 4.0, .global_window = 0});
  draft_checked(drafter, context_of(tokens), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 7, 8});
  const std::vector<token_id> longer{5, 6, 7, 5, 6, 7, 9, 5, 6, 8, 9, 5, 6};
  draft_checked(drafter, context_of(longer, 64, 16, 100, 1), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 8});
}

TEST_CASE("the global suffix tree carries earlier requests' outputs to later requests") {
  const specdec::suffix_tree_params params{.max_match = 4, .max_depth = 4, .budget_per_match_token = 2.0};
  specdec::suffix_tree_drafter drafter(params);
  const std::vector<token_id> prompt{9};
  drafter.start(1, prompt);
  const std::vector<token_id> finished{9, 5, 6, 7, 5, 6, 8};
  specdec::draft_feedback feedback;
  feedback.request = 1;
  feedback.tokens = finished;
  drafter.observe(feedback);
  drafter.release(1);
  CHECK(drafter.global_tokens() == 6);  // the output, not the prompt
  draft_tree out;
  // (5 6) in the output: followed by 7 (then 5 6) and by 8 (the output's end); p = 2, 4 drafts.
  const std::vector<token_id> context{1, 5, 6};
  draft_checked(drafter, context_of(context, 64, 16, 100, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 7, 8, 5, 6});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 0, 1, 3});
  // The prompt did not enter the global tree.
  const std::vector<token_id> prompt_suffix{2, 9};
  draft_checked(drafter, context_of(prompt_suffix, 64, 16, 100, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{9});
  // A drafter that never saw request 1 drafts nothing.
  specdec::suffix_tree_drafter fresh(params);
  draft_checked(fresh, context_of(context, 64, 16, 100, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6});
  SECTION("the request's own tree wins when it expects more") {
    // Own: (6 4 5 6), p = 4, was followed by 4 5 6 (expected 3 accepted); global: (5 6), p = 2,
    // gives 7, 8, 5, 6 with probability 1/2 each (expected 2).
    const std::vector<token_id> own{5, 6, 4, 5, 6, 4, 5, 6};
    draft_checked(drafter, context_of(own, 64, 16, 100, 4), out);
    CHECK(tokens_of(out) == std::vector<token_id>{6, 4, 5, 6});
    CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1, 2});
  }
}

TEST_CASE("suffix trees draft from whichever tree expects more accepted tokens") {
  specdec::suffix_tree_drafter drafter({.max_match = 4, .max_depth = 4, .budget_per_match_token = 2.0});
  const std::vector<token_id> prompt{0};
  drafter.start(1, prompt);
  const std::vector<token_id> finished{0, 7, 5, 6, 8, 9, 10, 11};
  specdec::draft_feedback feedback;
  feedback.request = 1;
  feedback.tokens = finished;
  drafter.observe(feedback);
  drafter.release(1);
  draft_tree out;
  // Own: (5 6) -> 1 2 or 3 4, 1/2 each (4 drafts, expected 2); global: (7 5 6) -> 8 9 10 11 (expected 4).
  const std::vector<token_id> global_wins{5, 6, 1, 2, 5, 6, 3, 4, 7, 5, 6};
  draft_checked(drafter, context_of(global_wins, 64, 16, 100, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 8, 9, 10, 11});
  CHECK(parents_of(out) == std::vector<std::int32_t>{-1, 0, 1, 2, 3});
  // Own: (7 5 6) -> 1 2 3 4 (expected 4) ties with the global tree: the request's own tree wins.
  const std::vector<token_id> tie{7, 5, 6, 1, 2, 3, 4, 7, 5, 6};
  draft_checked(drafter, context_of(tie, 64, 16, 100, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 1, 2, 3, 4});
}

TEST_CASE("the global suffix tree keeps only the most recent outputs within its window") {
  const specdec::suffix_tree_params params{.max_match = 2, .max_depth = 2, .global_window = 6};
  specdec::suffix_tree_drafter drafter(params);
  specdec::suffix_tree_drafter only_second(params);
  const std::vector<token_id> prompt{0};
  const std::vector<token_id> first{0, 1, 2, 3, 1, 2, 4};
  const std::vector<token_id> second{0, 5, 6, 7, 5, 6, 8};
  specdec::draft_feedback feedback;
  for (const auto* tokens : {&first, &second}) {
    drafter.start(1, prompt);
    feedback.request = 1;
    feedback.tokens = *tokens;
    drafter.observe(feedback);
    drafter.release(1);
  }
  only_second.start(1, prompt);
  feedback.tokens = second;
  only_second.observe(feedback);
  only_second.release(1);
  CHECK(drafter.global_tokens() == 6);
  // Removing the first output's counts leaves exactly the trie of the second.
  CHECK(drafter.global_nodes() == only_second.global_nodes());
  draft_tree out;
  const std::vector<token_id> evicted{9, 1, 2};
  draft_checked(drafter, context_of(evicted, 64, 16, 100, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{2});
  const std::vector<token_id> kept{9, 5, 6};
  draft_checked(drafter, context_of(kept, 64, 16, 100, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{6, 7, 8, 5});
}

TEST_CASE("only the last global_window tokens of a long output reach the global suffix tree") {
  const specdec::suffix_tree_params params{.max_match = 2, .max_depth = 2, .global_window = 6};
  specdec::suffix_tree_drafter drafter(params);
  specdec::suffix_tree_drafter last_only(params);
  std::vector<token_id> tokens{0};
  drafter.start(1, tokens);
  specdec::draft_feedback feedback;
  feedback.request = 1;
  for (token_id t = 1; t <= 100; ++t) {  // generated one token per step: 1, 2, ..., 100
    tokens.push_back(t);
    feedback.tokens = tokens;
    drafter.observe(feedback);
  }
  drafter.release(1);
  const std::vector<token_id> tail{0, 95, 96, 97, 98, 99, 100};
  last_only.start(1, std::span<const token_id>(tail).first(1));
  feedback.tokens = tail;
  last_only.observe(feedback);
  last_only.release(1);
  CHECK(drafter.global_tokens() == 6);
  CHECK(drafter.global_nodes() == last_only.global_nodes());
  draft_tree out;
  const std::vector<token_id> recent{7, 96};
  draft_checked(drafter, context_of(recent, 64, 16, 200, 2), out);
  CHECK(tokens_of(out) == std::vector<token_id>{96, 97, 98});
  const std::vector<token_id> old{7, 40};
  draft_checked(drafter, context_of(old, 64, 16, 200, 3), out);
  CHECK(tokens_of(out) == std::vector<token_id>{40});
}

TEST_CASE("evicting an output re-ranks the continuations by the counts that remain") {
  specdec::suffix_tree_drafter drafter({.max_match = 2, .max_depth = 1, .budget_per_match_token = 1.0, .branching = 1,
                                        .global_window = 18});
  const std::vector<token_id> prompt{0};
  const std::vector<std::vector<token_id>> outputs{
      {0, 1, 2, 3, 1, 2, 3, 1, 2, 3},  // (1 2) -> 3 three times
      {0, 1, 2, 4, 1, 2, 4, 1, 2, 3},  // (1 2) -> 4 twice, 3 once
      {0, 9, 9, 9, 9, 9, 9}};          // evicts the first output
  const std::vector<token_id> context{7, 1, 2};
  draft_tree out;
  specdec::draft_feedback feedback;
  feedback.request = 1;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    drafter.start(1, prompt);
    feedback.tokens = outputs[k];
    drafter.observe(feedback);
    drafter.release(1);
    draft_checked(drafter, context_of(context, 64, 16, 100, 2), out);
    // 3 leads 3:0, then 4:2; once the first output is gone, 4 leads 2:1.
    CHECK(tokens_of(out) == std::vector<token_id>{2, k < 2 ? 3 : 4});
  }
  CHECK(drafter.global_tokens() == 15);
}

TEST_CASE("a request's suffix tree slides over its most recent tokens") {
  std::mt19937 rng(23);
  std::vector<token_id> tokens(500);
  for (token_id& t : tokens) t = static_cast<token_id>(rng() % 5);
  // A budget and branching that never bind: the trees hold every continuation, so they depend only on
  // the indexed window (sibling order among equal counts may keep the order of evicted history).
  const specdec::suffix_tree_params params{.max_match = 3, .max_depth = 3, .budget_per_match_token = 1000.0, .branching = 5,
                                           .request_window = 40, .global_window = 0};
  specdec::suffix_tree_drafter sliding(params);
  draft_tree out;
  draft_tree expected;
  for (std::size_t length = 1; length <= tokens.size(); length += 7) {
    const auto context = std::span<const token_id>(tokens).first(length);
    draft_checked(sliding, context_of(context, 4096, 8, 5, 1), out);
    // The same as a fresh drafter that sees only the window.
    specdec::suffix_tree_drafter fresh(params);
    const auto window = context.last(std::min<std::size_t>(length, 40));
    draft_checked(fresh, context_of(window, 4096, 8, 5, 1), expected);
    REQUIRE(sliding.request_nodes(1) == fresh.request_nodes(1));
    REQUIRE(sliding.request_nodes(1) <= 40 * 6 + 1);
    REQUIRE(sorted_paths(out) == sorted_paths(expected));
    REQUIRE(paths_occur_in(out, window));
  }
}

TEST_CASE("suffix trees are deterministic, within budget and allocation-free on an indexed context") {
  std::mt19937 rng(29);
  for (int trial = 0; trial < 20; ++trial) {
    const index_t vocab = 2 + trial % 6;
    const specdec::suffix_tree_params params{.max_match = 1 + trial % 5, .max_depth = 1 + trial % 7,
                                             .budget_per_match_token = 0.5 + trial % 4, .branching = 1 + trial % 3,
                                             .global_window = 200};
    specdec::suffix_tree_drafter a(params);
    specdec::suffix_tree_drafter b(params);
    std::vector<token_id> history(150);
    for (token_id& t : history) t = static_cast<token_id>(rng() % static_cast<unsigned>(vocab));
    for (auto* d : {&a, &b}) {
      d->start(1, std::span<const token_id>(history).first(20));
      specdec::draft_feedback feedback;
      feedback.request = 1;
      feedback.tokens = history;
      d->observe(feedback);
      d->release(1);
    }
    std::vector<token_id> tokens(80);
    for (token_id& t : tokens) t = static_cast<token_id>(rng() % static_cast<unsigned>(vocab));
    draft_tree x;
    draft_tree y;
    for (index_t max_nodes = 1; max_nodes < 30; max_nodes += 4) {
      const auto context = context_of(tokens, max_nodes, 6, vocab, 2);
      draft_checked(a, context, x);
      draft_checked(b, context, y);
      REQUIRE(tokens_of(x) == tokens_of(y));
      REQUIRE(parents_of(x) == parents_of(y));
      REQUIRE(x.tree.view().max_depth() <= params.max_depth);
      // Each drafted path occurs in the request's tokens or in the earlier output.
      std::vector<token_id> seen(tokens);
      seen.push_back(-1);
      seen.insert(seen.end(), history.begin() + 20, history.end());
      REQUIRE(paths_occur_in(x, seen));
    }
    const auto context = context_of(tokens, 30, 6, vocab, 2);
    draft_checked(a, context, x);
    const std::int64_t before = specdec_test::allocations();
    for (int i = 0; i < 20; ++i) a.draft(context, x);
    REQUIRE(specdec_test::allocations() - before == 0);
  }
}

TEST_CASE("suffix trees reject bad parameters and contexts, naming them") {
  REQUIRE_INVALID_ARGUMENT("max_match = 0", specdec::suffix_tree_drafter({.max_match = 0}));
  REQUIRE_INVALID_ARGUMENT("max_depth = 0", specdec::suffix_tree_drafter({.max_depth = 0}));
  REQUIRE_INVALID_ARGUMENT("max_match + max_depth = 1100", specdec::suffix_tree_drafter({.max_match = 1000, .max_depth = 100}));
  REQUIRE_INVALID_ARGUMENT("budget_per_match_token = 0", specdec::suffix_tree_drafter({.budget_per_match_token = 0.0}));
  REQUIRE_INVALID_ARGUMENT("branching = 0", specdec::suffix_tree_drafter({.branching = 0}));
  REQUIRE_INVALID_ARGUMENT("branching = 65", specdec::suffix_tree_drafter({.branching = 65}));
  REQUIRE_INVALID_ARGUMENT("min_probability = -0.5", specdec::suffix_tree_drafter({.min_probability = -0.5}));
  REQUIRE_INVALID_ARGUMENT("request_window = 10", specdec::suffix_tree_drafter({.max_match = 8, .max_depth = 8, .request_window = 10}));
  REQUIRE_INVALID_ARGUMENT("global_window = -1", specdec::suffix_tree_drafter({.global_window = -1}));
  specdec::suffix_tree_drafter drafter;
  draft_tree out;
  const std::vector<token_id> tokens{1, 2, 9, 3};
  REQUIRE_INVALID_ARGUMENT("context.tokens.size() = 0", drafter.draft(context_of({}), out));
  REQUIRE_INVALID_ARGUMENT("context.max_nodes = 0", drafter.draft(context_of(tokens, 0), out));
  REQUIRE_INVALID_ARGUMENT("context.max_depth = -1", drafter.draft(context_of(tokens, 4, -1), out));
  REQUIRE_INVALID_ARGUMENT("context.vocab_size = 0", drafter.draft(context_of(tokens, 4, 4, 0), out));
  REQUIRE_INVALID_ARGUMENT("context.tokens[2] = 9", drafter.draft(context_of(tokens, 4, 4, 9, 1), out));
  const std::vector<token_id> negative{1, -2, 3};
  REQUIRE_INVALID_ARGUMENT("tokens[1] = -2", drafter.start(4, negative));
}

// ---------------------------------------------------------------------------------------------------
// All three in a decoding loop

namespace {

// Greedy decoding of a fixed target text: the drafter's tree is walked along the text (what greedy
// verification accepts), the accepted tokens plus one bonus token are committed, and the hooks are
// called as the decoders call them. Returns tokens per step.
template <class D>
double tokens_per_step(D& drafter, const std::vector<token_id>& text, std::size_t prompt, index_t vocab) {
  const specdec::request_id request = 42;
  specdec::detail::drafter_start(drafter, request, std::span<const token_id>(text).first(prompt));
  draft_tree out;
  std::vector<std::int32_t> path;
  std::size_t length = prompt;
  std::size_t steps = 0;
  while (length < text.size()) {
    const auto context = context_of(std::span<const token_id>(text).first(length), 16, 6, vocab, request);
    draft_checked(drafter, context, out);
    path.assign(1, 0);
    for (bool extended = true; extended && length + path.size() - 1 < text.size();) {
      extended = false;
      for (index_t i = 1; i < out.tree.size(); ++i) {
        if (out.tree.parent(i) == path.back() && out.tree.token(i) == text[length + path.size() - 1]) {
          path.push_back(static_cast<std::int32_t>(i));
          extended = true;
          break;
        }
      }
    }
    const auto accepted = static_cast<index_t>(path.size() - 1);
    length = std::min(text.size(), length + static_cast<std::size_t>(accepted) + 1);
    specdec::draft_feedback feedback;
    feedback.request = request;
    feedback.tokens = std::span<const token_id>(text).first(length);
    feedback.accepted = accepted;
    feedback.tree = out.tree.view();
    feedback.path = path;
    specdec::detail::drafter_observe(drafter, feedback);
    ++steps;
  }
  specdec::detail::drafter_release(drafter, request);
  return static_cast<double>(text.size() - prompt) / static_cast<double>(steps);
}

}  // namespace

TEST_CASE("on repetitive text every lookup drafter emits several tokens per step") {
  // Phrases drawn from a small phrase book, with a random token between some of them.
  std::mt19937 rng(31);
  std::vector<std::vector<token_id>> phrases(12);
  for (auto& phrase : phrases) {
    phrase.resize(4 + rng() % 6);
    for (token_id& t : phrase) t = static_cast<token_id>(rng() % 500);
  }
  std::vector<token_id> text;
  while (text.size() < 3000) {
    const auto& phrase = phrases[rng() % phrases.size()];
    text.insert(text.end(), phrase.begin(), phrase.end());
    if (rng() % 4 == 0) text.push_back(static_cast<token_id>(rng() % 500));
  }
  specdec::prompt_lookup_drafter lookup;
  specdec::ngram_cache_drafter cache;
  specdec::suffix_tree_drafter suffix;
  const double lookup_rate = tokens_per_step(lookup, text, 100, 500);
  const double cache_rate = tokens_per_step(cache, text, 100, 500);
  const double suffix_rate = tokens_per_step(suffix, text, 100, 500);
  CHECK(lookup_rate > 2.0);
  CHECK(cache_rate > 2.0);
  CHECK(suffix_rate > 2.0);
  // Across requests: the cache and the global suffix tree remember the first pass over the text.
  std::vector<token_id> second(text.begin() + 1000, text.end());
  specdec::prompt_lookup_drafter fresh_lookup;
  const double cold = tokens_per_step(fresh_lookup, second, 1, 500);
  CHECK(tokens_per_step(cache, second, 1, 500) > cold);
  CHECK(tokens_per_step(suffix, second, 1, 500) > cold);
}
