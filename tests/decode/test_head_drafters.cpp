// Head drafters in the decoder: every head (Medusa, regressive -- Clover / Hydra / EAGLE / ReDrafter
// backends all take this form --, layer skip) x every growth policy x every lossless rule gives greedy
// output identical to autoregressive decoding; sampled drafts pass the conformance kit; same seed,
// same tokens; the exact expected tau of regressive heads is at least Medusa's; exact regressive heads
// are accepted to full depth.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "toy_setup.hpp"

using specdec::draft_scheme;
using specdec::index_t;
using specdec::token_id;
using specdec::testing::markov_model;
using specdec::testing::toy_medusa_heads;
using specdec::testing::toy_regressive_heads;
using specdec::testing::toy_target;

namespace {

#if SPECDEC_SANITIZE_BUILD
constexpr std::uint64_t trials = 1500;  // memory safety, not statistics
constexpr bool has_power = false;
#else
constexpr std::uint64_t trials = 30000;
constexpr bool has_power = true;
#endif
constexpr double alpha = 1e-6;

using medusa = specdec::medusa_heads<toy_medusa_heads>;
using layer_skip = specdec::layer_skip_heads<toy_target>;

specdec::clover_growth clover_policy() {
  specdec::clover_growth_options o;
  o.candidates = 4;
  o.top_p = 0.9;
  o.min_relative = 0.05;
  o.total_nodes = 12;
  o.max_depth = 4;
  o.depth_budget = {4, 4, 3};
  return specdec::clover_growth(o);
}
specdec::eagle2_growth eagle2_policy() {
  specdec::dynamic_tree_params p;
  p.top_k = 3;
  p.max_depth = 4;
  p.total_nodes = 12;
  return specdec::eagle2_growth(p);
}
specdec::static_growth medusa_choices() {
  return specdec::static_growth(specdec::tree_choices{{0}, {1}, {2}, {0, 0}, {0, 1}, {1, 0}, {0, 0, 0}, {0, 0, 0, 0}});
}
specdec::static_growth sequoia_policy() {
  const std::vector<double> acceptance{0.55, 0.2, 0.1, 0.05};
  return specdec::static_growth(specdec::plan_sequoia_tree(acceptance, 10, 4));
}

// Runs `check(name, policy)` with every growth policy.
template <class Check>
void each_policy(Check&& check) {
  check("top-k", specdec::top_k_growth({3, 2, 1, 1}));
  check("choices", medusa_choices());
  check("sequoia", sequoia_policy());
  check("clover", clover_policy());
  check("eagle-2", eagle2_policy());
  check("beam", specdec::beam_growth(3, 4));
}

template <class Heads, class Target>
void greedy_everywhere(const std::string& head_name, Heads& heads, Target& target) {
  const auto prompts = specdec_test::toy_prompts(6);
  specdec::greedy_verifier greedy;
  specdec::one_hot_verifier one_hot;
  specdec::rrs_verifier rrs;
  specdec::multi_draft_verifier multi;
  specdec::chain_verifier chain;
  specdec::speculation_options speculation;
  speculation.max_depth = 4;
  speculation.max_nodes = 16;
  const auto expect_identical = [&](const std::string& what, const specdec::testing::greedy_report& r) {
    INFO(head_name << " + " << what << ": " << r.text());
    REQUIRE(r.identical);
    REQUIRE(r.speculative.drafted > 0);
  };
  each_policy([&](const std::string& name, auto policy) {
    using policy_t = decltype(policy);
    specdec::head_drafter<Heads, policy_t> deterministic(heads, policy);
    specdec::head_drafter<Heads, policy_t, draft_scheme::sampled_without_replacement> distinct(heads, policy);
    specdec::head_drafter<Heads, policy_t, draft_scheme::sampled_with_replacement> repeated(heads, policy);
    specdec::head_drafter<Heads, policy_t, draft_scheme::sampled_chain> sampled_chain(heads, policy);
    expect_identical(name + ", deterministic + greedy", specdec::testing::check_greedy(target, deterministic, greedy, std::span(prompts), 40, speculation));
    expect_identical(name + ", deterministic + one-hot", specdec::testing::check_greedy(target, deterministic, one_hot, std::span(prompts), 40, speculation));
    expect_identical(name + ", without replacement + rrs", specdec::testing::check_greedy(target, distinct, rrs, std::span(prompts), 40, speculation));
    expect_identical(name + ", with replacement + multi-draft", specdec::testing::check_greedy(target, repeated, multi, std::span(prompts), 40, speculation));
    expect_identical(name + ", sampled chain + chain", specdec::testing::check_greedy(target, sampled_chain, chain, std::span(prompts), 40, speculation));
  });
}

}  // namespace

TEST_CASE("every head drafter x every growth policy x every lossless rule: greedy equals autoregressive") {
  SECTION("Medusa heads (an order-1 target)") {
    toy_target target(markov_model::random(specdec_test::toy_vocab, 1, 11, 2.0f), 3);
    toy_medusa_heads heads(target.model(), 4);
    medusa adapter(heads);
    greedy_everywhere("medusa", adapter, target);
  }
  SECTION("regressive heads (Clover, Hydra, EAGLE, ReDrafter backends)") {
    toy_target target(specdec_test::toy_target_model(), 3);
    toy_regressive_heads heads(specdec_test::toy_draft_model(7, 0.3f));
    greedy_everywhere("regressive", heads, target);
  }
  SECTION("layer skip (a shallow model over the target's cache)") {
    toy_target target(specdec_test::toy_target_model(), 3);
    target.set_shallow_model(specdec_test::toy_draft_model(7, 0.3f));
    layer_skip heads(target, 1);
    greedy_everywhere("layer skip", heads, target);
  }
}

namespace {

// The conformance kit at T = 1 for one head with every policy and every sampled or deterministic
// scheme, each with the rule it is lossless for.
template <class Heads, class Target>
void kit_everywhere(const std::string& head_name, Heads& heads, Target& target, std::uint64_t seed) {
  specdec::one_hot_verifier one_hot;
  specdec::rrs_verifier rrs;
  specdec::multi_draft_verifier multi;
  specdec::chain_verifier chain;
  specdec::testing::integration_config c;
  c.prompt = {3, 7, 1};
  c.tokens = 2;
  c.trials = trials / 2;
  c.batch = 16;
  c.speculation.max_depth = 4;
  c.speculation.max_nodes = 16;
  const auto expect_pass = [&](const std::string& what, const specdec::testing::integration_report& r) {
    INFO(head_name << " + " << what << ": " << r.text());
    REQUIRE(r.passes());
    REQUIRE(r.speculative.drafted > 0);
  };
  // Same seed, same tokens (a fresh decoder each time; heads keep no state across requests).
  const auto expect_reproducible = [&](const std::string& what, auto& drafter, auto& verifier) {
    const auto generate = [&](std::uint64_t s) {
      specdec::speculative_decoder decoder(target, drafter, verifier);
      specdec::request_options o;
      o.seed = s;
      o.max_new_tokens = 24;
      const std::vector<token_id> prompt{3, 7, 1};
      return decoder.generate(prompt, o);
    };
    INFO(head_name << " + " << what);
    REQUIRE(generate(seed) == generate(seed));
  };
  each_policy([&](const std::string& name, auto policy) {
    using policy_t = decltype(policy);
    specdec::head_drafter<Heads, policy_t> deterministic(heads, policy);
    specdec::head_drafter<Heads, policy_t, draft_scheme::sampled_without_replacement> distinct(heads, policy);
    specdec::head_drafter<Heads, policy_t, draft_scheme::sampled_with_replacement> repeated(heads, policy);
    specdec::head_drafter<Heads, policy_t, draft_scheme::sampled_chain> sampled_chain(heads, policy);
    c.seed = ++seed;
    expect_pass(name + ", deterministic + one-hot", specdec::testing::check_lossless(target, deterministic, one_hot, c, alpha));
    c.seed = ++seed;
    expect_pass(name + ", without replacement + rrs", specdec::testing::check_lossless(target, distinct, rrs, c, alpha));
    c.seed = ++seed;
    expect_pass(name + ", with replacement + multi-draft", specdec::testing::check_lossless(target, repeated, multi, c, alpha));
    c.seed = ++seed;
    expect_pass(name + ", sampled chain + chain", specdec::testing::check_lossless(target, sampled_chain, chain, c, alpha));
    expect_reproducible(name + ", without replacement + rrs", distinct, rrs);
    expect_reproducible(name + ", with replacement + multi-draft", repeated, multi);
    expect_reproducible(name + ", sampled chain + chain", sampled_chain, chain);
  });
}

}  // namespace

TEST_CASE("every head drafter x every growth policy x every lossless rule passes the conformance kit at T = 1, reproducibly") {
  SECTION("Medusa heads") {
    toy_target target(markov_model::random(specdec_test::toy_vocab, 1, 11, 2.0f), 3);
    toy_medusa_heads heads(target.model(), 4);
    medusa adapter(heads);
    kit_everywhere("medusa", adapter, target, 100);
  }
  SECTION("regressive heads") {
    toy_target target(specdec_test::toy_target_model(), 3);
    toy_regressive_heads heads(specdec_test::toy_draft_model(7, 0.3f));
    kit_everywhere("regressive", heads, target, 200);
  }
  SECTION("layer skip") {
    toy_target target(specdec_test::toy_target_model(), 3);
    target.set_shallow_model(specdec_test::toy_draft_model(7, 0.3f));
    layer_skip heads(target, 1);
    kit_everywhere("layer skip", heads, target, 300);
  }
}

TEST_CASE("exact regressive heads and a perfect shallow model are accepted to full depth") {
  // Order 1 without position terms: the regressive toy heads are the target's exact transition.
  toy_target target(markov_model::random(specdec_test::toy_vocab, 1, 12, 2.0f));
  toy_regressive_heads heads(target.model());
  specdec::head_drafter<toy_regressive_heads, specdec::top_k_growth> chain(heads, specdec::top_k_growth({1, 1, 1, 1}));
  specdec::greedy_verifier greedy;
  specdec::speculation_options speculation;
  speculation.max_depth = 4;
  const auto prompts = specdec_test::toy_prompts(5);
  const auto report = specdec::testing::check_greedy(target, chain, greedy, std::span(prompts), 40, speculation);
  INFO(report.text());
  REQUIRE(report.identical);
  REQUIRE(report.speculative.accepted == report.speculative.drafted);  // every draft accepted
  REQUIRE(report.speculative.tokens_per_step() == 5.0);

  // Layer skip whose first layers are the whole model, on a target with position terms: every draft is
  // accepted only if the drafter hands the shallow forward the right positions and mask.
  toy_target positioned(specdec_test::toy_target_model(), 5);
  layer_skip full(positioned, positioned.num_layers());
  specdec::head_drafter<layer_skip, specdec::beam_growth> beam(full, specdec::beam_growth(2, 4));
  const auto skip = specdec::testing::check_greedy(positioned, beam, greedy, std::span(prompts), 40, speculation);
  INFO(skip.text());
  REQUIRE(skip.identical);
  REQUIRE(skip.speculative.tokens_per_step() == 5.0);
}

namespace {

// p(b | a) of an order-1 chain at temperature 1.
std::vector<std::vector<double>> transition(const markov_model& m) {
  std::vector<std::vector<double>> p(static_cast<std::size_t>(m.vocab()));
  for (token_id a = 0; a < m.vocab(); ++a) {
    const auto logits = m.logits(std::span<const token_id>(&a, 1));
    std::vector<float> row(logits.size());
    specdec::softmax(logits, std::span<float>(row));
    p[static_cast<std::size_t>(a)].assign(row.begin(), row.end());
  }
  return p;
}

// The exact expected tokens per step of a deterministic tree verified by the one-hot rule at T = 1 on
// an order-1 chain: the target samples each next token, the walk follows a child when it matches, so
// node v is reached with probability prod p(token | parent token) along its path; tau = sum over nodes.
double expected_tau(const specdec::token_tree& tree, const std::vector<std::vector<double>>& p) {
  std::vector<double> reach(static_cast<std::size_t>(tree.size()), 1.0);
  double tau = 1.0;
  for (index_t i = 1; i < tree.size(); ++i) {
    const auto parent = static_cast<std::size_t>(tree.parent(i));
    reach[static_cast<std::size_t>(i)] = reach[parent] * p[static_cast<std::size_t>(tree.token(static_cast<index_t>(parent)))][static_cast<std::size_t>(tree.token(i))];
    tau += reach[static_cast<std::size_t>(i)];
  }
  return tau;
}

}  // namespace

TEST_CASE("regressive heads reach at least Medusa's exact expected tau for the same node budget") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const markov_model m = markov_model::random(8, 1, seed + 40, 1.5f);
    const auto p = transition(m);
    toy_medusa_heads medusa_heads(m, 4);
    medusa adapter(medusa_heads);
    toy_regressive_heads regressive(m);
    const auto compare = [&](const std::string& name, auto policy) {
      using policy_t = decltype(policy);
      specdec::head_drafter<medusa, policy_t> medusa_drafter(adapter, policy);
      specdec::head_drafter<toy_regressive_heads, policy_t> regressive_drafter(regressive, policy);
      double medusa_tau = 0.0, regressive_tau = 0.0;
      for (token_id before = 0; before < 8; ++before) {
        for (token_id root = 0; root < 8; ++root) {
          const std::vector<token_id> tokens{before, root};
          // Both get the context state of `before` (one-hot, as the toy target computes it).
          std::vector<float> state(8, 0.0f);
          state[static_cast<std::size_t>(before)] = 1.0f;
          specdec::context_states states;
          states.request = 0;
          states.tokens = tokens;
          states.first = 0;
          states.hidden = specdec::const_matrix_view<float>(state.data(), 1, 8);
          adapter.observe(states);
          regressive.observe(states);
          specdec::draft_context c;
          c.tokens = tokens;
          c.max_nodes = 4096;
          c.max_depth = 255;
          c.vocab_size = 8;
          specdec::draft_tree a, b;
          a.reset(root, 8);
          b.reset(root, 8);
          medusa_drafter.draft(c, a);
          regressive_drafter.draft(c, b);
          REQUIRE(a.tree.size() == b.tree.size());  // the same node budget spent
          const double ta = expected_tau(a.tree, p), tb = expected_tau(b.tree, p);
          medusa_tau += ta / 64.0;
          regressive_tau += tb / 64.0;
        }
      }
      INFO("seed " << seed << ", " << name << ": expected tau Medusa " << medusa_tau << ", regressive " << regressive_tau);
      REQUIRE(regressive_tau >= medusa_tau);
      return regressive_tau - medusa_tau;
    };
    const double chain_gain = compare("chain of 4", specdec::top_k_growth({1, 1, 1, 1}));
    compare("Medusa choices", medusa_choices());
    compare("top-k 3-2-1-1", specdec::top_k_growth({3, 2, 1, 1}));
    REQUIRE(chain_gain > 0.0);  // strictly better on chains: Medusa cannot condition on its own guesses
  }
}

TEST_CASE("sampled head drafts pass the conformance kit; a wrong rule fails it; same seed, same tokens") {
  toy_target target(specdec_test::toy_target_model(), 3);
  toy_regressive_heads heads(specdec_test::toy_draft_model(7, 0.5f));
  toy_target order1(markov_model::random(specdec_test::toy_vocab, 1, 13, 2.0f), 3);
  toy_medusa_heads medusa_heads(order1.model(), 4);
  medusa adapter(medusa_heads);
  toy_target skipping(specdec_test::toy_target_model(), 3);
  skipping.set_shallow_model(specdec_test::toy_draft_model(7, 0.5f));
  layer_skip skip(skipping, 1);

  const auto config_for = [](float temperature, std::uint64_t seed, float top_p = 1.0f) {
    specdec::testing::integration_config c;
    c.prompt = {3, 7, 1};
    c.tokens = 2;
    c.trials = trials;
    c.batch = 16;
    c.params.temperature = temperature;
    c.params.top_p = top_p;
    c.seed = seed;
    c.speculation.max_depth = 4;
    return c;
  };
  const auto expect_pass = [](const std::string& name, const specdec::testing::integration_report& r) {
    INFO(name << ": " << r.text());
    REQUIRE(r.passes());
    if (has_power) REQUIRE(r.chi_square.degrees_of_freedom >= 10);  // room for a bias to show
    REQUIRE(r.speculative.tokens_per_step() > 1.1);
  };
  specdec::rrs_verifier rrs;
  specdec::multi_draft_verifier multi;
  specdec::chain_verifier chain;
  specdec::block_verifier block;
  specdec::one_hot_verifier one_hot;
  specdec::head_drafter<toy_regressive_heads, specdec::clover_growth, draft_scheme::sampled_without_replacement> clover(heads, clover_policy());
  specdec::head_drafter<toy_regressive_heads, specdec::eagle2_growth, draft_scheme::sampled_with_replacement> eagle(heads, eagle2_policy());
  specdec::head_drafter<toy_regressive_heads, specdec::top_k_growth, draft_scheme::sampled_chain> hydra_chain(heads, specdec::top_k_growth({1, 1, 1}));
  specdec::head_drafter<toy_regressive_heads, specdec::clover_growth> clover_top(heads, clover_policy());
  specdec::head_drafter<medusa, specdec::static_growth, draft_scheme::sampled_without_replacement> medusa_drafter(adapter, medusa_choices());
  specdec::head_drafter<layer_skip, specdec::beam_growth, draft_scheme::sampled_without_replacement> beam(skip, specdec::beam_growth(2, 3));
  expect_pass("Clover growth, without replacement + rrs, T 1", specdec::testing::check_lossless(target, clover, rrs, config_for(1.0f, 31), alpha));
  expect_pass("Clover growth, without replacement + rrs, T 0.8 top-p 0.97",
              specdec::testing::check_lossless(target, clover, rrs, config_for(0.8f, 32, 0.97f), alpha));
  expect_pass("EAGLE-2 growth, with replacement + multi-draft, T 1", specdec::testing::check_lossless(target, eagle, multi, config_for(1.0f, 33), alpha));
  expect_pass("chain, sampled + chain rule, T 1", specdec::testing::check_lossless(target, hydra_chain, chain, config_for(1.0f, 34), alpha));
  expect_pass("chain, sampled + block rule, T 0.8", specdec::testing::check_lossless(target, hydra_chain, block, config_for(0.8f, 35), alpha));
  expect_pass("Clover growth, deterministic + one-hot, T 1", specdec::testing::check_lossless(target, clover_top, one_hot, config_for(1.0f, 36), alpha));
  expect_pass("Medusa choices, without replacement + rrs, T 1", specdec::testing::check_lossless(order1, medusa_drafter, rrs, config_for(1.0f, 37), alpha));
  expect_pass("layer skip beam, without replacement + rrs, T 1", specdec::testing::check_lossless(skipping, beam, rrs, config_for(1.0f, 38), alpha));

  if (has_power) {
    // The same drafts verified as if drawn with replacement: biased, and the kit sees it.
    toy_regressive_heads far(specdec_test::toy_draft_model(7, 1.0f));
    specdec::head_drafter<toy_regressive_heads, specdec::top_k_growth, draft_scheme::sampled_without_replacement> wide(far, specdec::top_k_growth({4}));
    STATIC_REQUIRE(!specdec::lossless_composition<decltype(wide), specdec::multi_draft_verifier>);
    auto c = config_for(1.0f, 39);
    c.tokens = 1;
    const auto report = specdec::testing::check_lossless<specdec::unchecked_composition>(target, wide, multi, c, alpha);
    INFO("without replacement + multi-draft (wrong): " << report.text());
    REQUIRE_FALSE(report.passes());
  }

  // Same seed, same tokens; another seed, other tokens.
  const auto generate = [&](std::uint64_t seed) {
    specdec::speculative_decoder<toy_target, decltype(clover), specdec::rrs_verifier> decoder(target, clover, rrs);
    specdec::request_options o;
    o.seed = seed;
    o.max_new_tokens = 60;
    const std::vector<token_id> prompt{1, 2};
    return decoder.generate(prompt, o);
  };
  REQUIRE(generate(5) == generate(5));
  REQUIRE(generate(5) != generate(6));
}
