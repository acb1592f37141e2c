// Tree-growth policies under the head drafter: Clover's growth against a hand-computed expansion and a
// brute-force reference, EAGLE-2 against the dynamic tree builder, beam search against a direct beam
// search, static shapes against the static builder; budgets for every policy and scheme; sampled
// drafts (q handed over, distinct siblings, same seed same tree); bad heads and bad options.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "support/allocation_counter.hpp"
#include "support/catch.hpp"

using specdec::draft_scheme;
using specdec::index_t;
using specdec::token_id;
using specdec::testing::markov_model;
using specdec::testing::toy_regressive_heads;

namespace {

// An order-1 chain from explicit probabilities (logits = log p).
markov_model chain_from(std::vector<std::vector<double>> probs) {
  std::vector<float> table;
  for (const auto& row : probs) {
    for (const double p : row) table.push_back(p > 0.0 ? static_cast<float>(std::log(p)) : -std::numeric_limits<float>::infinity());
  }
  return markov_model(static_cast<index_t>(probs.size()), 1, std::move(table));
}

specdec::draft_context context_for(const std::vector<token_id>& tokens, index_t vocab, index_t max_nodes = 4096,
                                   index_t max_depth = 255, std::uint32_t step = 0) {
  specdec::draft_context c;
  c.request = 0;
  c.tokens = tokens;
  c.max_nodes = max_nodes;
  c.max_depth = max_depth;
  c.vocab_size = vocab;
  c.address = specdec::random_address{21, 0, step, 0, specdec::purpose::draft_sample};
  return c;
}

template <class Drafter>
specdec::draft_tree draft_once(Drafter& drafter, const std::vector<token_id>& tokens, index_t vocab, index_t max_nodes = 4096,
                               index_t max_depth = 255, std::uint32_t step = 0) {
  specdec::draft_tree out;
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, vocab, max_nodes, max_depth, step), out);
  return out;
}

// The next-token distribution of an order-1 chain after `token`, at temperature 1, computed in double.
std::vector<float> probs_after(const markov_model& m, token_id token) {
  const auto logits = m.logits(std::span<const token_id>(&token, 1));
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l - max));
  std::vector<float> p(logits.size());
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(std::exp(static_cast<double>(logits[i] - max)) / sum);
  return p;
}

// Tokens by decreasing logit after `token` (ties to the lower id): the order of the probabilities,
// without their rounding.
std::vector<token_id> ranked_after(const markov_model& m, token_id token) {
  const auto logits = m.logits(std::span<const token_id>(&token, 1));
  std::vector<token_id> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](token_id a, token_id b) { return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)]; });
  return order;
}

std::vector<token_id> tokens_of(const specdec::token_tree& t) {
  const auto v = t.view().tokens();
  return {v.begin(), v.end()};
}
std::vector<std::int32_t> parents_of(const specdec::token_tree& t) {
  const auto v = t.view().parents();
  return {v.begin(), v.end()};
}

// Token paths of every node (root excluded), as a sorted set.
std::set<std::vector<token_id>> paths_of(const specdec::token_tree& t) {
  std::set<std::vector<token_id>> out;
  for (index_t i = 1; i < t.size(); ++i) {
    std::vector<token_id> path;
    for (std::int32_t v = static_cast<std::int32_t>(i); v != 0; v = t.parent(v)) path.insert(path.begin(), t.token(v));
    out.insert(path);
  }
  return out;
}

// A direct, unoptimised Clover growth: per node the ranked cut, then all of a depth's candidates fully
// sorted by joint probability, the first `cap` kept.
specdec::token_tree clover_reference(const markov_model& m, token_id root, const specdec::clover_growth_options& o) {
  specdec::token_tree t(root);
  std::vector<double> joint{0.0};
  std::vector<std::int32_t> frontier{0};
  for (index_t d = 0; d < o.max_depth && !frontier.empty(); ++d) {
    struct cand {
      double score;
      std::size_t row;
      std::int32_t rank;
      token_id token;
    };
    std::vector<cand> cands;
    for (std::size_t r = 0; r < frontier.size(); ++r) {
      const auto p = probs_after(m, t.token(frontier[r]));
      const auto order = ranked_after(m, t.token(frontier[r]));
      double mass = 0.0;
      for (std::int32_t c = 0; c < std::min<index_t>(o.candidates, static_cast<index_t>(p.size())); ++c) {
        const double q = p[static_cast<std::size_t>(order[static_cast<std::size_t>(c)])];
        if (q <= 0.0 || (c > 0 && mass >= o.top_p) || q < o.min_relative * p[static_cast<std::size_t>(order[0])]) break;
        mass += q;
        cands.push_back({joint[static_cast<std::size_t>(frontier[r])] + std::log(q), r, c, order[static_cast<std::size_t>(c)]});
      }
    }
    index_t cap = o.total_nodes - t.size();
    if (static_cast<std::size_t>(d) < o.depth_budget.size()) cap = std::min(cap, o.depth_budget[static_cast<std::size_t>(d)]);
    std::stable_sort(cands.begin(), cands.end(), [](const cand& a, const cand& b) { return a.score > b.score; });
    cands.resize(std::min<std::size_t>(cands.size(), static_cast<std::size_t>(std::max<index_t>(cap, 0))));
    std::sort(cands.begin(), cands.end(), [](const cand& a, const cand& b) { return a.row != b.row ? a.row < b.row : a.rank < b.rank; });
    std::vector<std::int32_t> next;
    for (const cand& c : cands) {
      next.push_back(t.add_child(frontier[c.row], c.token));
      joint.push_back(c.score);
    }
    frontier = next;
  }
  return t;
}

}  // namespace

TEST_CASE("Clover growth: a hand-computed expansion (top-p cut, relative threshold, budgets, joint ranking)") {
  // p(. | 0) = .5 .3 .15 .05; p(. | 1) = .1 .1 .7 .1; p(. | 2) uniform; p(. | 3) = .9 .05 .03 .02.
  const markov_model m = chain_from({{.5, .3, .15, .05}, {.1, .1, .7, .1}, {.25, .25, .25, .25}, {.9, .05, .03, .02}});
  toy_regressive_heads heads(m);
  specdec::clover_growth_options o;
  o.candidates = 3;
  o.top_p = 0.75;
  o.min_relative = 0.2;
  o.total_nodes = 6;
  o.max_depth = 3;
  SECTION("total budget only") {
    // Depth 1: root 0 keeps {0 (.5), 1 (.3)} (mass .8 >= .75). Depth 2: node "0" keeps {0, 1} (joint .25,
    // .15); node "1" keeps {2} (.7: token 0 at .1 is below .2 * .7); 3 candidates fill the 3 nodes left.
    specdec::head_drafter<toy_regressive_heads, specdec::clover_growth> drafter(heads, specdec::clover_growth(o));
    const auto out = draft_once(drafter, {0}, 4);
    REQUIRE(out.tree.size() == 6);
    REQUIRE(parents_of(out.tree) == std::vector<std::int32_t>{-1, 0, 0, 1, 1, 2});
    REQUIRE(tokens_of(out.tree) == std::vector<token_id>{0, 0, 1, 0, 1, 2});
  }
  SECTION("per-depth budgets 2, 2, 1") {
    // Depth 2 keeps the best two of {.25, .15, .21}: "0 0" and "1 2". Depth 3: candidates .125 and .075
    // below "0 0", three at .0525 below "1 2" (uniform, cut at .75 after three); one node is left.
    o.depth_budget = {2, 2, 1};
    specdec::head_drafter<toy_regressive_heads, specdec::clover_growth> drafter(heads, specdec::clover_growth(o));
    const auto out = draft_once(drafter, {0}, 4);
    REQUIRE(parents_of(out.tree) == std::vector<std::int32_t>{-1, 0, 0, 1, 2, 3});
    REQUIRE(tokens_of(out.tree) == std::vector<token_id>{0, 0, 1, 0, 2, 0});
  }
  SECTION("top-p 1 and no threshold keep every candidate the budget allows") {
    o.top_p = 1.0;
    o.min_relative = 0.0;
    o.total_nodes = 4;
    specdec::head_drafter<toy_regressive_heads, specdec::clover_growth> drafter(heads, specdec::clover_growth(o));
    const auto out = draft_once(drafter, {0}, 4);
    REQUIRE(tokens_of(out.tree) == std::vector<token_id>{0, 0, 1, 2});
    REQUIRE(out.tree.view().max_depth() == 1);
  }
}

TEST_CASE("Clover growth equals a brute-force reference on random small cases") {
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const index_t vocab = 3 + static_cast<index_t>(seed % 6);
    const markov_model m = markov_model::random(vocab, 1, seed, 0.5f + static_cast<float>(seed % 4));
    toy_regressive_heads heads(m);
    specdec::clover_growth_options o;
    o.candidates = 1 + static_cast<index_t>(seed % 5);
    o.top_p = 0.5 + 0.1 * static_cast<double>(seed % 6);
    o.min_relative = seed % 3 == 0 ? 0.0 : 0.05 * static_cast<double>(seed % 5);
    o.total_nodes = 2 + static_cast<index_t>(seed * 7 % 30);
    o.max_depth = 1 + static_cast<index_t>(seed % 5);
    if (seed % 2 == 0) o.depth_budget = {static_cast<index_t>(1 + seed % 4), static_cast<index_t>(1 + seed % 3), 2};
    specdec::head_drafter<toy_regressive_heads, specdec::clover_growth> drafter(heads, specdec::clover_growth(o));
    const token_id root = static_cast<token_id>(seed % static_cast<std::uint64_t>(vocab));
    const auto out = draft_once(drafter, {root}, vocab);
    const auto expected = clover_reference(m, root, o);
    INFO("seed " << seed);
    REQUIRE(tokens_of(out.tree) ==
            tokens_of(expected));
    REQUIRE(parents_of(out.tree) ==
            parents_of(expected));
  }
}

TEST_CASE("EAGLE-2 growth builds the dynamic tree builder's tree") {
  for (std::uint64_t seed = 1; seed <= 25; ++seed) {
    const index_t vocab = 6 + static_cast<index_t>(seed % 7);
    const markov_model m = markov_model::random(vocab, 1, seed + 100, 2.0f);
    toy_regressive_heads heads(m);
    specdec::dynamic_tree_params params;
    params.top_k = 1 + static_cast<std::int32_t>(seed % 4);
    params.max_depth = 1 + static_cast<std::int32_t>(seed % 5);
    params.total_nodes = 2 + static_cast<std::int32_t>(seed * 5 % 25);
    specdec::head_drafter<toy_regressive_heads, specdec::eagle2_growth> drafter(heads, specdec::eagle2_growth(params));
    const auto out = draft_once(drafter, {1}, vocab);

    struct expander {
      const markov_model* m;
      specdec::dynamic_tree_builder* builder;
      void expand(std::span<const std::int32_t>, std::span<const token_id> tokens, std::int32_t, specdec::matrix_view<token_id> ranked,
                  specdec::matrix_view<float> log_probs) {
        for (index_t r = 0; r < ranked.rows(); ++r) {
          const auto p = probs_after(*m, tokens[static_cast<std::size_t>(r)]);
          const auto order = ranked_after(*m, tokens[static_cast<std::size_t>(r)]);
          for (index_t c = 0; c < ranked.cols(); ++c) {
            ranked(r, c) = order[static_cast<std::size_t>(c)];
            log_probs(r, c) = std::log(p[static_cast<std::size_t>(order[static_cast<std::size_t>(c)])]);
          }
        }
      }
    };
    specdec::dynamic_tree_builder builder;
    expander e{&m, &builder};
    specdec::token_tree expected(0);
    builder.build(1, params, e, expected);
    INFO("seed " << seed);
    REQUIRE(paths_of(out.tree) == paths_of(expected));
    REQUIRE(out.tree.size() == expected.size());
  }
}

TEST_CASE("beam growth keeps the surviving beams of a direct beam search, merged into a trie") {
  for (std::uint64_t seed = 1; seed <= 25; ++seed) {
    const index_t vocab = 5 + static_cast<index_t>(seed % 6);
    const markov_model m = markov_model::random(vocab, 1, seed + 300, 1.5f);
    toy_regressive_heads heads(m);
    const index_t width = 1 + static_cast<index_t>(seed % 4);
    const index_t depth = 1 + static_cast<index_t>(seed % 4);
    specdec::head_drafter<toy_regressive_heads, specdec::beam_growth> drafter(heads, specdec::beam_growth(width, depth));
    const auto out = draft_once(drafter, {2}, vocab);

    // Direct beam search over token sequences.
    std::vector<std::pair<double, std::vector<token_id>>> beams{{0.0, {}}};
    for (index_t d = 0; d < depth; ++d) {
      std::vector<std::pair<double, std::vector<token_id>>> next;
      for (const auto& [score, seq] : beams) {
        const auto p = probs_after(m, seq.empty() ? 2 : seq.back());
        for (token_id t = 0; t < vocab; ++t) {
          auto s = seq;
          s.push_back(t);
          next.emplace_back(score + std::log(static_cast<double>(p[static_cast<std::size_t>(t)])), s);
        }
      }
      std::stable_sort(next.begin(), next.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      next.resize(std::min<std::size_t>(next.size(), static_cast<std::size_t>(width)));
      beams = next;
    }
    std::set<std::vector<token_id>> expected;
    for (const auto& [score, seq] : beams) {
      for (std::size_t n = 1; n <= seq.size(); ++n) expected.insert(std::vector<token_id>(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(n)));
    }
    INFO("seed " << seed);
    REQUIRE(paths_of(out.tree) == expected);
  }
}

TEST_CASE("static growth builds the static builder's tree, rank gaps included; a Sequoia plan's shape") {
  const markov_model m = markov_model::random(9, 1, 77, 2.0f);
  toy_regressive_heads heads(m);
  const specdec::tree_choices choices{{0}, {2}, {0, 0}, {0, 1}, {2, 1}, {0, 0, 0}, {0, 0, 3}};
  specdec::head_drafter<toy_regressive_heads, specdec::static_growth> drafter(heads, specdec::static_growth(choices));
  const auto out = draft_once(drafter, {4}, 9);
  struct expander {
    const markov_model* m;
    void expand(std::int32_t, token_id token, std::int32_t, std::span<token_id> ranked) const {
      const auto order = ranked_after(*m, token);
      std::copy(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(ranked.size()), ranked.begin());
    }
  };
  expander e{&m};
  specdec::token_tree expected(0);
  specdec::static_tree_builder builder;
  builder.build(choices, 4, e, expected);
  REQUIRE(tokens_of(out.tree) ==
          tokens_of(expected));
  REQUIRE(parents_of(out.tree) ==
          parents_of(expected));

  const std::vector<double> acceptance{0.6, 0.2, 0.1};
  const auto plan = specdec::plan_sequoia_tree(acceptance, 12, 4);
  specdec::head_drafter<toy_regressive_heads, specdec::static_growth> sequoia(heads, specdec::static_growth(plan));
  const auto planned = draft_once(sequoia, {4}, 9);
  REQUIRE(planned.tree.size() == plan.choices.size());
  for (index_t i = 1; i < planned.tree.size(); ++i) {
    REQUIRE(planned.tree.parent(i) == plan.choices.parent(i));
    REQUIRE(planned.tree.depth(i) == plan.choices.depth(i));
  }
}

namespace {


template <draft_scheme Scheme, class Check>
void with_each_policy(toy_regressive_heads& heads, Check&& check) {
  specdec::clover_growth_options clover;
  clover.candidates = 4;
  clover.total_nodes = 20;
  clover.max_depth = 4;
  clover.depth_budget = {6, 5, 3, 2};
  specdec::dynamic_tree_params eagle;
  eagle.top_k = 3;
  eagle.max_depth = 4;
  eagle.total_nodes = 14;
  specdec::head_drafter<toy_regressive_heads, specdec::top_k_growth, Scheme> top_k(heads, specdec::top_k_growth({3, 2, 2}));
  specdec::head_drafter<toy_regressive_heads, specdec::static_growth, Scheme> fixed(
      heads, specdec::static_growth(specdec::tree_choices{{0}, {1}, {2}, {0, 0}, {0, 1}, {1, 0}, {0, 0, 0}}));
  specdec::head_drafter<toy_regressive_heads, specdec::clover_growth, Scheme> cl(heads, specdec::clover_growth(clover));
  specdec::head_drafter<toy_regressive_heads, specdec::eagle2_growth, Scheme> e2(heads, specdec::eagle2_growth(eagle));
  specdec::head_drafter<toy_regressive_heads, specdec::beam_growth, Scheme> beam(heads, specdec::beam_growth(3, 4));
  check("top-k", top_k, index_t{1 + 3 + 6 + 12}, index_t{3}, std::vector<index_t>{});
  check("static", fixed, index_t{8}, index_t{3}, std::vector<index_t>{});
  check("clover", cl, index_t{20}, index_t{4}, clover.depth_budget);
  check("eagle-2", e2, index_t{14}, index_t{4}, std::vector<index_t>{});
  check("beam", beam, index_t{13}, index_t{4}, std::vector<index_t>{3, 3, 3, 3});
}

template <draft_scheme Scheme>
void check_budgets() {
  const markov_model m = markov_model::random(10, 2, 5, 1.0f);
  toy_regressive_heads heads(m);
  with_each_policy<Scheme>(heads, [&](const char* name, auto& drafter, index_t policy_nodes, index_t policy_depth,
                                      const std::vector<index_t>& depth_budget) {
    for (index_t max_nodes : {1, 2, 3, 5, 9, 64}) {
      for (index_t max_depth : {0, 1, 2, 8}) {
        for (std::uint32_t step = 0; step < 3; ++step) {
          INFO(name << ": max_nodes " << max_nodes << ", max_depth " << max_depth << ", step " << step);
          specdec::draft_tree out;
          out.reset(3, 10);
          const std::vector<token_id> tokens{3};
          const auto c = context_for(tokens, 10, max_nodes, max_depth, step);
          if (max_depth > 0 && max_nodes > 1) drafter.draft(c, out);
          specdec::validate(out.tree.view(), 10);
          REQUIRE(out.tree.size() <= std::min(max_nodes, policy_nodes));
          REQUIRE(out.tree.view().max_depth() <= std::min(max_depth, policy_depth));
          std::vector<index_t> per_depth(256, 0);
          for (index_t i = 1; i < out.tree.size(); ++i) ++per_depth[static_cast<std::size_t>(out.tree.depth(i))];
          for (std::size_t d = 0; d < depth_budget.size(); ++d) REQUIRE(per_depth[d + 1] <= depth_budget[d]);
          if constexpr (Scheme == draft_scheme::sampled_chain) {
            std::vector<int> children(static_cast<std::size_t>(out.tree.size()), 0);
            for (index_t i = 1; i < out.tree.size(); ++i) REQUIRE(++children[static_cast<std::size_t>(out.tree.parent(i))] == 1);
          }
        }
      }
    }
  });
}

}  // namespace

TEST_CASE("every policy respects its budgets and the decoder's, with every scheme") {
  check_budgets<draft_scheme::deterministic>();
  check_budgets<draft_scheme::sampled_without_replacement>();
  check_budgets<draft_scheme::sampled_with_replacement>();
  check_budgets<draft_scheme::sampled_chain>();
}

TEST_CASE("sampled growth hands over q as drawn, draws siblings without replacement, same seed same tree") {
  const markov_model m = markov_model::random(10, 1, 8, 1.0f);
  toy_regressive_heads heads(m);
  specdec::head_drafter_options options;
  options.params.temperature = 0.8f;
  options.params.top_k = 6;
  specdec::clover_growth_options clover;
  clover.candidates = 4;
  clover.total_nodes = 16;
  clover.max_depth = 4;
  using drafter_t = specdec::head_drafter<toy_regressive_heads, specdec::clover_growth, draft_scheme::sampled_without_replacement>;
  drafter_t drafter(heads, specdec::clover_growth(clover), options);
  drafter_t again(heads, specdec::clover_growth(clover), options);
  specdec::logits_processor processor;
  std::set<std::vector<token_id>> shapes;
  for (std::uint32_t step = 0; step < 40; ++step) {
    const auto out = draft_once(drafter, {5}, 10, 4096, 255, step);
    const auto same = draft_once(again, {5}, 10, 4096, 255, step);
    REQUIRE(tokens_of(out.tree) == tokens_of(same.tree));
    REQUIRE(parents_of(out.tree) == parents_of(same.tree));
    std::vector<std::set<token_id>> siblings(static_cast<std::size_t>(out.tree.size()));
    for (index_t i = 1; i < out.tree.size(); ++i) {
      const auto parent = out.tree.parent(i);
      REQUIRE(siblings[static_cast<std::size_t>(parent)].insert(out.tree.token(i)).second);  // distinct
      // q row of the parent: the heads' distribution after the parent's token, processed as configured.
      const token_id pt = out.tree.token(parent);
      std::vector<float> q(10);
      processor.probabilities(m.logits(std::span<const token_id>(&pt, 1)), options.params, q);
      const auto row = out.draft_probs().row(parent);
      REQUIRE(std::equal(q.begin(), q.end(), row.begin()));
      REQUIRE(q[static_cast<std::size_t>(out.tree.token(i))] > 0.0f);
    }
    shapes.insert(tokens_of(out.tree));
  }
  REQUIRE(shapes.size() > 10);  // the draws differ from step to step
}

TEST_CASE("a warm head drafter allocates nothing") {
  const markov_model m = markov_model::random(12, 2, 9, 1.0f);
  toy_regressive_heads heads(m);
  specdec::clover_growth_options clover;
  clover.total_nodes = 24;
  specdec::head_drafter<toy_regressive_heads, specdec::clover_growth, draft_scheme::sampled_without_replacement> sampled(heads, specdec::clover_growth(clover));
  specdec::head_drafter<toy_regressive_heads, specdec::eagle2_growth> eagle(heads, specdec::eagle2_growth{});
  const std::vector<token_id> tokens{4};
  specdec::draft_tree out;
  for (int warm = 0; warm < 2; ++warm) {
    for (std::uint32_t step = 0; step < 20; ++step) {
      const auto before = specdec_test::allocations();
      out.reset(4, 12);
      sampled.draft(context_for(tokens, 12, 4096, 255, step), out);
      out.reset(4, 12);
      eagle.draft(context_for(tokens, 12, 4096, 255, step), out);
      if (warm == 1) REQUIRE(specdec_test::allocations() == before);
    }
  }
}

namespace {

// Heads that return whatever logits row they are given (NaN, +inf) for every node.
struct fixed_heads {
  std::vector<float> row;
  [[nodiscard]] index_t vocab_size() const { return static_cast<index_t>(row.size()); }
  index_t prepare(specdec::request_id, std::span<const token_id>) { return 4; }
  void step(const specdec::head_step& s, specdec::matrix_view<float> logits) const {
    for (index_t r = 0; r < static_cast<index_t>(s.tokens.size()); ++r) std::copy(row.begin(), row.end(), logits.row(r).begin());
  }
};
static_assert(specdec::regressive_heads<fixed_heads>);

}  // namespace

TEST_CASE("bad heads output and bad policy settings are clear errors") {
  fixed_heads heads{{0.0f, 1.0f, std::numeric_limits<float>::quiet_NaN()}};
  specdec::head_drafter<fixed_heads, specdec::top_k_growth> drafter(heads, specdec::top_k_growth({2, 2}));
  specdec::draft_tree out;
  out.reset(0, 3);
  REQUIRE_THROWS_AS(drafter.draft(context_for({0}, 3), out), specdec::invalid_argument);
  heads.row = {0.0f, std::numeric_limits<float>::infinity(), 1.0f};
  REQUIRE_THROWS_AS(drafter.draft(context_for({0}, 3), out), specdec::invalid_argument);
  heads.row = {0.0f, 1.0f, 2.0f};
  out.reset(0, 3);
  drafter.draft(context_for({0}, 3), out);
  REQUIRE(out.tree.size() == 7);

  specdec::clover_growth_options o;
  o.top_p = 0.0;
  REQUIRE_INVALID_ARGUMENT("top_p", specdec::clover_growth(o));
  o = {};
  o.total_nodes = 0;
  REQUIRE_INVALID_ARGUMENT("total_nodes", specdec::clover_growth(o));
  REQUIRE_INVALID_ARGUMENT("branching", specdec::top_k_growth({2, 0}));
  REQUIRE_INVALID_ARGUMENT("width", specdec::beam_growth(0, 3));
  REQUIRE_INVALID_ARGUMENT("choices", specdec::static_growth(specdec::tree_choices{}));
  specdec::head_drafter_options bad;
  bad.params.temperature = -1.0f;
  REQUIRE_THROWS_AS((specdec::head_drafter<fixed_heads, specdec::top_k_growth>(heads, specdec::top_k_growth({1}), bad)),
                    specdec::invalid_argument);
}
