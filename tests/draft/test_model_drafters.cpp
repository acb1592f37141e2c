// Draft-model drafters: what they propose, the q they hand over, their budgets, the draft model's KV
// kept in step with the request, adaptive lengths, confidence stops and vocabulary mapping.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "support/catch.hpp"

using specdec::draft_scheme;
using specdec::token_id;
using specdec::testing::markov_model;
using specdec::testing::toy_draft_model;

namespace {

constexpr specdec::index_t vocab = 12;

specdec::draft_context context_for(const std::vector<token_id>& tokens, specdec::index_t max_nodes,
                                   specdec::index_t max_depth, specdec::index_t target_vocab = vocab) {
  specdec::draft_context c;
  c.request = 3;
  c.tokens = tokens;
  c.max_nodes = max_nodes;
  c.max_depth = max_depth;
  c.vocab_size = target_vocab;
  c.address = specdec::random_address{9, 3, 0, 0, specdec::purpose::draft_sample};
  return c;
}

// The draft model's next-token logits after `context`, computed directly (the reference).
std::vector<float> logits_after(const markov_model& m, std::vector<token_id> context) {
  const auto row = m.logits(context);
  return {row.begin(), row.end()};
}

std::vector<token_id> path_tokens(const specdec::token_tree& t, std::int32_t node) {
  std::vector<token_id> out;
  for (std::int32_t v = node; v != 0; v = t.parent(v)) out.insert(out.begin(), t.token(v));
  return out;
}

}  // namespace

TEST_CASE("a greedy chain is the draft model's argmax continuation, within the budgets") {
  const markov_model m = markov_model::random(vocab, 2, 5);
  toy_draft_model model(m);
  specdec::chain_drafter_options o;
  o.gamma = 5;
  specdec::chain_drafter<toy_draft_model, draft_scheme::deterministic> drafter(model, o);
  const std::vector<token_id> tokens{1, 4, 2};
  specdec::draft_tree out;
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, 64, 8), out);
  REQUIRE(out.tree.size() == 6);
  std::vector<token_id> context = tokens;
  for (std::int32_t i = 1; i < out.tree.size(); ++i) {
    REQUIRE(out.tree.parent(i) == i - 1);
    REQUIRE(out.tree.token(i) == specdec::argmax(logits_after(m, context)));
    context.push_back(out.tree.token(i));
  }
  REQUIRE(out.draft_probs().rows() == 0);  // deterministic: no q
  // Budgets: max_depth 2, then max_nodes 3.
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, 64, 2), out);
  REQUIRE(out.tree.size() == 3);
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, 2, 8), out);
  REQUIRE(out.tree.size() == 2);
}

TEST_CASE("a sampled chain hands over q exactly as sampled and keeps the draft KV in step") {
  const markov_model m = markov_model::random(vocab, 2, 6);
  toy_draft_model model(m);
  specdec::chain_drafter_options o;
  o.gamma = 4;
  o.params.temperature = 0.8f;
  o.params.top_k = 5;
  specdec::chain_drafter<toy_draft_model, draft_scheme::sampled_chain> drafter(model, o);
  specdec::logits_processor processor;
  std::vector<token_id> tokens{2, 7};
  specdec::draft_tree out;
  for (int step = 0; step < 30; ++step) {
    out.reset(tokens.back(), vocab);
    auto c = context_for(tokens, 64, 8);
    c.address.step = static_cast<std::uint32_t>(step);
    drafter.draft(c, out);
    REQUIRE(out.tree.size() == 5);
    for (std::int32_t i = 0; i + 1 < out.tree.size(); ++i) {
      std::vector<token_id> context = tokens;
      const auto path = path_tokens(out.tree, i);
      context.insert(context.end(), path.begin(), path.end());
      std::vector<float> q(vocab);
      processor.probabilities(logits_after(m, context), o.params, q);
      const auto row = out.draft_probs().row(i);
      REQUIRE(std::equal(q.begin(), q.end(), row.begin()));
      REQUIRE(q[static_cast<std::size_t>(out.tree.token(i + 1))] > 0.0f);
    }
    // The model's cache now holds the context and the drafts; commit a prefix of them plus a new token.
    REQUIRE(model.length(3) == static_cast<specdec::index_t>(tokens.size()) + 3);
    const auto accepted = static_cast<std::size_t>(step % 5);
    for (std::size_t k = 1; k <= accepted && k < static_cast<std::size_t>(out.tree.size()); ++k) tokens.push_back(out.tree.token(static_cast<specdec::index_t>(k)));
    tokens.push_back(static_cast<token_id>(step % vocab));
  }
  // After the last sync the draft model's cache must equal the request's tokens (checked through its logits).
  out.reset(tokens.back(), vocab);
  o.gamma = 1;
  specdec::chain_drafter<toy_draft_model, draft_scheme::deterministic> check(model, o);
  check.draft(context_for(tokens, 64, 8), out);
  REQUIRE(out.tree.token(1) == specdec::argmax(logits_after(m, tokens)));
}

TEST_CASE("adaptive chain length and the confidence stop") {
  toy_draft_model model(markov_model::random(vocab, 1, 7));
  specdec::chain_drafter_options o;
  o.gamma = 6;
  o.min_gamma = 2;
  o.adaptive = true;
  specdec::chain_drafter<toy_draft_model, draft_scheme::deterministic> drafter(model, o);
  REQUIRE(drafter.current_gamma(0) == 6);
  specdec::token_tree chain(0);
  chain.add_chain(0, std::vector<token_id>{1, 2, 3, 4});
  specdec::draft_feedback f;
  f.request = 0;
  f.tree = chain;
  f.accepted = 1;
  drafter.observe(f);
  REQUIRE(drafter.current_gamma(0) == 5);
  for (int i = 0; i < 6; ++i) drafter.observe(f);
  REQUIRE(drafter.current_gamma(0) == 2);
  f.accepted = 4;
  drafter.observe(f);
  REQUIRE(drafter.current_gamma(0) == 3);

  // A confidence threshold above every draft probability stops before the first draft.
  o.adaptive = false;
  o.confidence_stop = 1.0f;
  specdec::chain_drafter<toy_draft_model, draft_scheme::sampled_chain> timid(model, o);
  specdec::draft_tree out;
  const std::vector<token_id> tokens{1, 2};
  out.reset(tokens.back(), vocab);
  timid.draft(context_for(tokens, 64, 8), out);
  REQUIRE(out.tree.size() == 1);
  REQUIRE_INVALID_ARGUMENT("min_gamma = 7", (specdec::chain_drafter<toy_draft_model>(model, [] {
                             specdec::chain_drafter_options bad;
                             bad.min_gamma = 7;
                             return bad;
                           }())));
}

TEST_CASE("a draft model with a smaller vocabulary maps into the target's") {
  toy_draft_model model(markov_model::random(8, 1, 8));  // 8 tokens, target has 12
  specdec::chain_drafter_options o;
  o.gamma = 3;
  specdec::chain_drafter<toy_draft_model, draft_scheme::sampled_chain> drafter(model, o);
  specdec::draft_tree out;
  const std::vector<token_id> tokens{1, 2};
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, 64, 8, vocab), out);
  REQUIRE(out.draft_probs().cols() == vocab);
  for (std::int32_t i = 0; i + 1 < out.tree.size(); ++i) {
    const auto q = out.draft_probs().row(i);
    REQUIRE(std::all_of(q.begin() + 8, q.end(), [](float x) { return x == 0.0f; }));
    REQUIRE_THAT(std::accumulate(q.begin(), q.end(), 0.0), Catch::Matchers::WithinAbs(1.0, 1e-5));
  }
}

TEST_CASE("the EAGLE-2 drafter ranks the draft's top-k and keeps the best nodes") {
  const markov_model m = markov_model::random(vocab, 2, 9);
  toy_draft_model model(m);
  specdec::dynamic_tree_params p;
  p.top_k = 3;
  p.max_depth = 3;
  p.total_nodes = 9;
  specdec::dynamic_tree_drafter<toy_draft_model> drafter(model, p);
  const std::vector<token_id> tokens{3, 1, 4};
  specdec::draft_tree out;
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, 64, 8), out);
  REQUIRE(out.tree.size() == 9);
  specdec::validate(out.tree, vocab);
  // Every node is among the draft's top-3 after its parent's path, and siblings come best first.
  for (std::int32_t i = 1; i < out.tree.size(); ++i) {
    std::vector<token_id> context = tokens;
    const auto path = path_tokens(out.tree, out.tree.parent(i));
    context.insert(context.end(), path.begin(), path.end());
    auto logits = logits_after(m, context);
    std::vector<token_id> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](token_id a, token_id b) { return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)]; });
    REQUIRE(std::find(order.begin(), order.begin() + 3, out.tree.token(i)) != order.begin() + 3);
  }
  // The tree's nodes are gone from the draft model's cache after drafting.
  REQUIRE(model.length(3) == static_cast<specdec::index_t>(tokens.size()));
  // The decoder's budgets cap the parameters.
  out.reset(tokens.back(), vocab);
  drafter.draft(context_for(tokens, 4, 1), out);
  REQUIRE(out.tree.size() == 4);
  REQUIRE(out.tree.view().max_depth() == 1);
}

TEST_CASE("sampled trees record q per node; without replacement siblings are distinct") {
  const markov_model m = markov_model::random(vocab, 2, 10);
  toy_draft_model model(m);
  specdec::sampled_tree_options o;
  o.branching = {4, 2};
  specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_without_replacement> distinct(model, o);
  specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_with_replacement> repeated(model, o);
  specdec::logits_processor processor;
  const std::vector<token_id> tokens{5, 6};
  bool saw_duplicate = false;
  for (std::uint32_t step = 0; step < 40; ++step) {
    specdec::draft_tree a, b;
    a.reset(tokens.back(), vocab);
    b.reset(tokens.back(), vocab);
    auto c = context_for(tokens, 64, 8);
    c.address.step = step;
    distinct.draft(c, a);
    repeated.draft(c, b);
    REQUIRE(a.tree.size() == 13);
    specdec::validate(a.tree, vocab, specdec::duplicate_siblings::forbidden);
    saw_duplicate = saw_duplicate || b.tree.token(1) == b.tree.token(2) || b.tree.token(1) == b.tree.token(3);
    for (std::int32_t i = 0; i < 5; ++i) {  // the root and depth-1 nodes have children
      std::vector<token_id> context = tokens;
      const auto path = path_tokens(a.tree, i);
      context.insert(context.end(), path.begin(), path.end());
      std::vector<float> q(vocab);
      processor.probabilities(logits_after(m, context), o.params, q);
      REQUIRE(std::equal(q.begin(), q.end(), a.draft_probs().row(i).begin()));
    }
    REQUIRE(model.length(3) == static_cast<specdec::index_t>(tokens.size()));
  }
  REQUIRE(saw_duplicate);
  // Budget: 6 nodes cut the second level.
  specdec::draft_tree small;
  small.reset(tokens.back(), vocab);
  distinct.draft(context_for(tokens, 6, 8), small);
  REQUIRE(small.tree.size() == 6);
}
