#include <specdec/tree/chain_tree.hpp>
#include <specdec/tree/dynamic_tree_builder.hpp>
#include <specdec/tree/dynamic_tree_layout.hpp>
#include <specdec/tree/sequence_trie_builder.hpp>
#include <specdec/tree/static_tree_builder.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/tree_choices.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "support/catch.hpp"

using specdec::index_t;
using specdec::token_id;
using specdec::token_tree;
using specdec::tree_choices;

namespace {

std::vector<std::int32_t> parents_of(const token_tree& tree) {
  return {tree.view().parents().begin(), tree.view().parents().end()};
}
std::vector<token_id> tokens_of(const token_tree& tree) { return {tree.view().tokens().begin(), tree.view().tokens().end()}; }

// A Hydra-style head: the children of a node depend on the node's own token; records every call.
struct recording_expander {
  std::vector<std::tuple<std::int32_t, token_id, std::int32_t, std::size_t>> calls;
  void expand(std::int32_t node, token_id token, std::int32_t depth, std::span<token_id> ranked) {
    calls.emplace_back(node, token, depth, ranked.size());
    for (std::size_t r = 0; r < ranked.size(); ++r) ranked[r] = token * 10 + static_cast<token_id>(r);
  }
};
static_assert(specdec::tree_expander<recording_expander>);

// A draft model with random but fixed log-probabilities per candidate id.
struct random_draft {
  std::mt19937 rng;
  std::vector<std::vector<std::int32_t>> expanded;  // candidate ids expanded at each depth
  // What the draft proposed, recorded independently of the builder: (expanded candidate id, rank) ->
  // log-probability; the token at rank c below a token t is t * 7 + c + 1.
  std::map<std::pair<std::int32_t, index_t>, float> proposed;
  void expand(std::span<const std::int32_t> nodes, std::span<const token_id> tokens, std::int32_t,
              specdec::matrix_view<token_id> ranked, specdec::matrix_view<float> log_probs) {
    expanded.emplace_back(nodes.begin(), nodes.end());
    for (index_t r = 0; r < ranked.rows(); ++r) {
      std::vector<float> row(static_cast<std::size_t>(ranked.cols()));
      for (float& lp : row) lp = std::log(std::uniform_real_distribution<float>(0.001f, 1.0f)(rng));
      std::sort(row.begin(), row.end(), std::greater<>());
      for (index_t c = 0; c < ranked.cols(); ++c) {
        ranked(r, c) = tokens[static_cast<std::size_t>(r)] * 7 + static_cast<token_id>(c) + 1;
        log_probs(r, c) = row[static_cast<std::size_t>(c)];
        proposed[{nodes[static_cast<std::size_t>(r)], c}] = row[static_cast<std::size_t>(c)];
      }
    }
  }
};
static_assert(specdec::dynamic_tree_expander<random_draft>);

struct fixed_draft {
  float first = -0.5f, second = -0.5f;
  void expand(std::span<const std::int32_t>, std::span<const token_id>, std::int32_t, specdec::matrix_view<token_id> ranked,
              specdec::matrix_view<float> log_probs) const {
    for (index_t r = 0; r < ranked.rows(); ++r) {
      for (index_t c = 0; c < ranked.cols(); ++c) {
        ranked(r, c) = static_cast<token_id>(c);
        log_probs(r, c) = c == 0 ? first : second;
      }
    }
  }
};

}  // namespace

TEST_CASE("choices are sorted into Medusa's canonical breadth-first order") {
  const tree_choices choices{{1, 0}, {0}, {0, 1}, {1}, {0, 0}};
  REQUIRE(choices.size() == 6);
  REQUIRE(std::vector<std::int32_t>(choices.parents().begin(), choices.parents().end()) ==
          std::vector<std::int32_t>{-1, 0, 0, 1, 1, 2});
  REQUIRE(choices.max_depth() == 2);
  REQUIRE(choices.max_rank_at_depth(1) == 1);
  REQUIRE(choices.max_rank_at_depth(2) == 1);
  REQUIRE(choices.candidates_needed(0) == 2);
  REQUIRE(choices.candidates_needed(2) == 1);
  REQUIRE(choices.candidates_needed(3) == 0);
  REQUIRE(choices.paths() == std::vector<std::vector<std::int32_t>>{{0}, {1}, {0, 0}, {0, 1}, {1, 0}});
  REQUIRE(tree_choices().size() == 1);

  const tree_choices skipping{{0}, {2}, {2, 3}};  // ranks may skip: node 2 takes candidate 2
  REQUIRE(skipping.rank(2) == 2);
  REQUIRE(skipping.candidates_needed(0) == 3);
  REQUIRE(skipping.candidates_needed(2) == 4);
}

TEST_CASE("choices reject malformed paths") {
  REQUIRE_INVALID_ARGUMENT("choices path = [1, 1] violates its prefix", tree_choices{{0}, {0, 1}, {1, 1}});
  REQUIRE_INVALID_ARGUMENT("choices path = [1, 1, 0] violates its prefix", tree_choices{{0}, {1}, {0, 1}, {1, 1, 0}});
  REQUIRE_INVALID_ARGUMENT("choices path = [0] violates listed once", tree_choices{{0}, {0}});
  REQUIRE_INVALID_ARGUMENT("choices[1] = [] violates a non-empty path", tree_choices{{0}, {}});
  REQUIRE_INVALID_ARGUMENT("choices[0] = [0, -1] violates ranks in [0, max_tree_nodes)", tree_choices{{0, -1}});
  REQUIRE_INVALID_ARGUMENT("choices[1] = [2147483647] violates ranks in [0, max_tree_nodes)",
                           tree_choices{{0}, {2147483647}});
  std::vector<std::vector<std::int32_t>> too_many;
  for (std::int32_t r = 0; r < specdec::max_tree_nodes; ++r) too_many.push_back({r});
  REQUIRE_INVALID_ARGUMENT("choices.size() = 4096", tree_choices(too_many));
  too_many.pop_back();
  REQUIRE(tree_choices(too_many).size() == specdec::max_tree_nodes);
}

TEST_CASE("static trees from Medusa candidate lists and from a regressive expander") {
  const tree_choices choices{{0}, {1}, {0, 0}, {0, 1}, {1, 0}};
  specdec::static_tree_builder builder;
  token_tree tree(0);

  // Medusa: head 0 ranks {10, 11} for depth 1, head 1 ranks {20, 21} for depth 2, whatever the parent.
  const std::vector<token_id> heads{10, 11, 20, 21};
  builder.build(choices, 99, specdec::const_matrix_view<token_id>(heads.data(), 2, 2), tree);
  REQUIRE(tokens_of(tree) == std::vector<token_id>{99, 10, 11, 20, 21, 20});
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 0, 1, 1, 2});
  REQUIRE_NOTHROW(specdec::validate(tree, 100));

  // Steady state: rebuilding into the same tree reuses its storage.
  const token_id* storage = tree.view().tokens().data();
  builder.build(choices, 98, specdec::const_matrix_view<token_id>(heads.data(), 2, 2), tree);
  REQUIRE(tree.view().tokens().data() == storage);

  REQUIRE_INVALID_ARGUMENT("choices rank at depth[1] = 1 violates < candidates.cols()",
                           builder.build(choices, 99, specdec::const_matrix_view<token_id>(heads.data(), 2, 1), tree));
  REQUIRE_INVALID_ARGUMENT("candidates.rows() = 1",
                           builder.build(choices, 99, specdec::const_matrix_view<token_id>(heads.data(), 1, 2), tree));

  // Hydra / Clover: children depend on the parent's token; the expander runs breadth-first.
  recording_expander expander;
  builder.build(choices, 3, expander, tree);
  REQUIRE(tokens_of(tree) == std::vector<token_id>{3, 30, 31, 300, 301, 310});
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 0, 1, 1, 2});
  using call = std::tuple<std::int32_t, token_id, std::int32_t, std::size_t>;
  REQUIRE(expander.calls == std::vector<call>{{0, 3, 0, 2}, {1, 30, 1, 2}, {2, 31, 1, 1}});
}

TEST_CASE("k chains hang below one root in the order given") {
  token_tree tree(0);
  const std::vector<std::int32_t> offsets{0, 2, 2, 5};
  const std::vector<token_id> tokens{4, 5, 4, 6, 7};
  specdec::build_chain_tree(9, specdec::ragged_offsets(offsets), tokens, tree);
  REQUIRE(tokens_of(tree) == std::vector<token_id>{9, 4, 5, 4, 6, 7});
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 1, 0, 3, 4});

  const std::vector<token_id> square{1, 2, 3, 4, 5, 6};
  specdec::build_chain_tree(0, specdec::const_matrix_view<token_id>(square.data(), 2, 3), tree);
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 1, 2, 0, 4, 5});
  REQUIRE(tokens_of(tree) == std::vector<token_id>{0, 1, 2, 3, 4, 5, 6});

  REQUIRE_INVALID_ARGUMENT("tokens.size() = 4", specdec::build_chain_tree(9, specdec::ragged_offsets(offsets),
                                                                          std::span<const token_id>(tokens).first(4), tree));
  const std::vector<std::int32_t> bad{0, 3, 2};
  REQUIRE_INVALID_ARGUMENT("chain_offsets[2] = 2", specdec::build_chain_tree(9, specdec::ragged_offsets(bad), tokens, tree));
  const std::vector<token_id> many(4096, 1);
  REQUIRE_INVALID_ARGUMENT("chains.rows() * chains.cols() + 1 = 4097",
                           specdec::build_chain_tree(0, specdec::const_matrix_view<token_id>(many.data(), 16, 256), tree));
}

TEST_CASE("EAGLE-2: expands the top-k frontier and keeps the top-N candidates, as brute force finds") {
  specdec::dynamic_tree_builder builder;
  token_tree tree(0);
  for (const auto& [k, depth] : std::vector<std::pair<int, int>>{{2, 3}, {3, 2}, {1, 4}, {2, 2}}) {
    for (int trial = 0; trial < 12; ++trial) {
      const int candidates = k + (depth - 1) * k * k;
      for (int total = 1; total <= candidates + 2; ++total) {
        random_draft draft{std::mt19937(static_cast<unsigned>(trial * 131 + k * 7 + depth)), {}, {}};
        builder.build(5, {k, depth, total}, draft, tree);
        REQUIRE_NOTHROW(specdec::validate(tree, 1 << 20));
        REQUIRE(builder.candidate_count() == candidates + 1);
        REQUIRE(tree.size() == std::min(total, candidates + 1));

        // Each depth expanded the top-k (by cumulative log-prob) of the candidates generated just before.
        REQUIRE(draft.expanded.size() == static_cast<std::size_t>(depth));
        int first = 1;
        for (int d = 1; d < depth; ++d) {
          const int generated = static_cast<int>(draft.expanded[static_cast<std::size_t>(d - 1)].size()) * k;
          std::vector<std::int32_t> ids(static_cast<std::size_t>(generated));
          for (int i = 0; i < generated; ++i) ids[static_cast<std::size_t>(i)] = first + i;
          std::sort(ids.begin(), ids.end(), [&](auto a, auto b) { return builder.candidate_score(a) > builder.candidate_score(b); });
          ids.resize(std::min<std::size_t>(ids.size(), static_cast<std::size_t>(k)));
          std::sort(ids.begin(), ids.end());
          REQUIRE(draft.expanded[static_cast<std::size_t>(d)] == ids);
          first += generated;
        }

        // Brute force: of all parent-closed candidate sets of the kept size, the kept one has the
        // largest total score (scores are distinct, so it is unique and equals the top-N by score).
        const int keep = static_cast<int>(tree.size()) - 1;
        double best = -1e300;
        std::uint32_t best_set = 0;
        for (std::uint32_t set = 0; set < (1u << candidates); ++set) {
          if (std::popcount(set) != keep) continue;
          bool closed = true;
          double sum = 0.0;
          for (int c = 1; c <= candidates && closed; ++c) {
            if ((set >> (c - 1) & 1u) == 0) continue;
            const std::int32_t parent = builder.candidate_parent(c);
            closed = parent == 0 || (set >> (parent - 1) & 1u) != 0;
            sum += builder.candidate_score(c);
          }
          if (closed && sum > best) {
            best = sum;
            best_set = set;
          }
        }
        std::uint32_t kept = 0;
        for (index_t n = 1; n < tree.size(); ++n) {
          kept |= 1u << (builder.candidate(n) - 1);
          REQUIRE(builder.candidate(tree.parent(n)) == builder.candidate_parent(builder.candidate(n)));
          // Token and score against what the draft proposed: the node is the rank-c proposal below its
          // parent, and its score is the parent's plus that proposal's log-probability.
          const index_t rank = tree.token(n) - tree.token(tree.parent(n)) * 7 - 1;
          REQUIRE(rank >= 0);
          REQUIRE(rank < k);
          const auto proposal = draft.proposed.find({builder.candidate(tree.parent(n)), rank});
          REQUIRE(proposal != draft.proposed.end());
          REQUIRE_THAT(builder.score(n), WithinAbs(builder.score(tree.parent(n)) + static_cast<double>(proposal->second), 1e-9));
        }
        REQUIRE(kept == best_set);
      }
    }
  }
}

TEST_CASE("EAGLE-2: dynamic_tree_layout numbers the candidates as the builder generates them") {
  // The device builder (cuda/dynamic_tree_build.cuh) addresses candidates by this layout alone.
  specdec::dynamic_tree_builder builder;
  token_tree tree(0);
  for (const auto& [k, depth] : std::vector<std::pair<int, int>>{{1, 1}, {1, 5}, {2, 3}, {3, 4}, {5, 2}, {4, 1}}) {
    random_draft draft{std::mt19937(static_cast<unsigned>(k * 31 + depth)), {}, {}};
    builder.build(9, {k, depth, 1000}, draft, tree);
    const specdec::dynamic_tree_layout layout{k, depth};
    REQUIRE(layout.candidates() == builder.candidate_count());
    REQUIRE(draft.expanded.size() == static_cast<std::size_t>(depth));
    for (int d = 0; d < depth; ++d) {
      INFO("k " << k << ", round " << d);
      const auto& frontier = draft.expanded[static_cast<std::size_t>(d)];
      REQUIRE(static_cast<std::int64_t>(frontier.size()) == layout.frontier_size(d));
      REQUIRE(layout.generated(d) == layout.frontier_size(d) * k);
      REQUIRE(layout.first_generated(d + 1) == layout.first_generated(d) + layout.generated(d));
      for (std::size_t r = 0; r < frontier.size(); ++r) {
        for (int c = 0; c < k; ++c) {  // row r, column c of round d
          const std::int64_t id = layout.first_generated(d) + static_cast<std::int64_t>(r) * k + c;
          REQUIRE(builder.candidate_parent(id) == frontier[r]);
          REQUIRE(layout.depth_of(id) == d + 1);
        }
      }
    }
    REQUIRE(layout.depth_of(0) == 0);
  }
  STATIC_REQUIRE(specdec::dynamic_tree_layout{10, 6}.candidates() == 1 + 10 + 5 * 100);
  STATIC_REQUIRE(specdec::dynamic_tree_layout{4095, 255}.candidates() > 0x7fffffff);  // why sizes are 64-bit
}

TEST_CASE("EAGLE-2: ties go to the earlier candidate, and bad budgets or log-probs are rejected") {
  specdec::dynamic_tree_builder builder;
  token_tree tree(0);
  fixed_draft uniform;  // every child -0.5: all depth-1 candidates tie, and beat every deeper one
  builder.build(1, {3, 2, 4}, uniform, tree);
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 0, 0});
  REQUIRE(builder.candidate(3) == 3);
  builder.build(1, {3, 2, 6}, uniform, tree);  // then the first children of the first expanded node
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 0, 0, 1, 1});
  const token_id* storage = tree.view().tokens().data();
  builder.build(1, {3, 2, 6}, uniform, tree);
  REQUIRE(tree.view().tokens().data() == storage);

  REQUIRE_INVALID_ARGUMENT("params.top_k = 0", builder.build(1, {0, 2, 6}, uniform, tree));
  REQUIRE_INVALID_ARGUMENT("params.top_k = 4096", builder.build(1, {4096, 2, 6}, uniform, tree));
  REQUIRE_INVALID_ARGUMENT("params.max_depth = 0", builder.build(1, {3, 0, 6}, uniform, tree));
  REQUIRE_INVALID_ARGUMENT("params.total_nodes = 0", builder.build(1, {3, 2, 0}, uniform, tree));
  REQUIRE_INVALID_ARGUMENT("params.total_nodes = 4097", builder.build(1, {3, 2, 4097}, uniform, tree));
  fixed_draft positive{0.5f, -1.0f};
  REQUIRE_INVALID_ARGUMENT("log_probs[0] = 0.5 violates a log-probability", builder.build(1, {2, 2, 4}, positive, tree));
  fixed_draft increasing{-1.0f, -0.5f};
  REQUIRE_INVALID_ARGUMENT("log_probs[1] = -0.5 violates non-increasing", builder.build(1, {2, 2, 4}, increasing, tree));
}

TEST_CASE("a trie of scored continuations keeps the best nodes in score order") {
  specdec::sequence_trie_builder trie;
  token_tree tree(0);
  const auto add_all = [&] {
    trie.clear();
    trie.add(std::vector<token_id>{1, 2, 3}, 3.0);
    trie.add(std::vector<token_id>{1, 2, 4}, 1.0);
    trie.add(std::vector<token_id>{1, 5}, 2.0);
    trie.add(std::vector<token_id>{6}, 1.0);
  };
  add_all();
  REQUIRE(trie.trie_size() == 7);
  trie.build(0, 5, tree);
  REQUIRE(tokens_of(tree) == std::vector<token_id>{0, 1, 2, 5, 3});
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 1, 1, 2});
  REQUIRE(trie.score(0) == 7.0);
  REQUIRE(trie.score(3) == 2.0);
  trie.build(0, 6, tree);  // {1,2,4} and {6} tie at 1: the node inserted first (token 4) wins
  REQUIRE(tokens_of(tree) == std::vector<token_id>{0, 1, 2, 5, 3, 4});
  REQUIRE(parents_of(tree) == std::vector<std::int32_t>{-1, 0, 1, 1, 2, 2});
  trie.build(0, 100, tree);
  REQUIRE(tokens_of(tree) == std::vector<token_id>{0, 1, 6, 2, 5, 3, 4});
  trie.build(0, 1, tree);
  REQUIRE(tree.size() == 1);

  const token_id* storage = tree.view().tokens().data();
  add_all();
  trie.build(0, 6, tree);
  REQUIRE(tree.view().tokens().data() == storage);

  REQUIRE_INVALID_ARGUMENT("node_budget = 0", trie.build(0, 0, tree));
  REQUIRE_INVALID_ARGUMENT("node_budget = 4097", trie.build(0, 4097, tree));
  REQUIRE_INVALID_ARGUMENT("score = -1", trie.add(std::vector<token_id>{1}, -1.0));
  REQUIRE_INVALID_ARGUMENT("score = nan", trie.add(std::vector<token_id>{1}, std::nan("")));

  // Random continuations: the kept scores are the top scores of the whole trie, children sorted.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 500; ++trial) {
    trie.clear();
    std::map<std::vector<token_id>, double> prefix_scores;
    const int sequences = 1 + static_cast<int>(rng() % 12);
    for (int s = 0; s < sequences; ++s) {
      std::vector<token_id> seq(1 + rng() % 5);
      for (auto& t : seq) t = static_cast<token_id>(rng() % 3);
      const double score = static_cast<double>(1 + rng() % 4);
      trie.add(seq, score);
      for (std::size_t l = 1; l <= seq.size(); ++l) prefix_scores[{seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(l)}] += score;
    }
    REQUIRE(trie.trie_size() == static_cast<index_t>(prefix_scores.size()) + 1);
    const index_t budget = 1 + static_cast<index_t>(rng() % 20);
    trie.build(0, budget, tree);
    REQUIRE_NOTHROW(specdec::validate(tree, 3));
    REQUIRE(tree.size() == std::min<index_t>(budget, trie.trie_size()));
    std::vector<double> all, kept;
    for (const auto& [prefix, score] : prefix_scores) all.push_back(score);
    std::sort(all.begin(), all.end(), std::greater<>());
    for (index_t n = 1; n < tree.size(); ++n) {
      kept.push_back(trie.score(n));
      std::vector<token_id> path;  // the node's score is its prefix's score
      for (index_t m = n; m > 0; m = tree.parent(m)) path.insert(path.begin(), tree.token(m));
      REQUIRE(prefix_scores.at(path) == trie.score(n));
      for (index_t m = n + 1; m < tree.size(); ++m) {
        if (tree.parent(m) == tree.parent(n)) {
          REQUIRE(trie.score(m) <= trie.score(n));
          break;
        }
      }
    }
    std::sort(kept.begin(), kept.end(), std::greater<>());
    REQUIRE(kept == std::vector<double>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kept.size())));
  }
}
