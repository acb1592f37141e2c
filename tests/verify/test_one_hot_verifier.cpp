// The one-hot tree rule: statistical losslessness over a covering set of tree shapes, exact
// single-node identities, and meta-tests for its characteristic mistakes.
#include <specdec/testing.hpp>

#include <string>
#include <vector>

#include "faulty_rules.hpp"
#include "statistics.hpp"
#include "support/catch.hpp"

using specdec::sampling_params;
using specdec_test::params;
using specdec::testing::injected_fault;
using specdec::testing::markov_model;

namespace {

struct tree_case {
  std::string name;
  std::vector<int> branching;  // children per node at each depth
  int order;
  sampling_params target;
  float draft_distance;        // 0: the draft model is the target; 1: independent
};

std::vector<tree_case> covering_set() {
  return {
      {"{1} T1 identical", {1}, 1, params(1.0f), 0.0f},
      {"{2} T0.7 top-k3 close", {2}, 1, params(0.7f, 3), 0.3f},
      {"{3} T1.3 top-p0.8 far", {3}, 2, params(1.3f, -1, 0.8f), 1.0f},
      {"{5} T1 min-p0.1 close (every token a child)", {5}, 1, params(1.0f, -1, 1.0f, 0.1f), 0.3f},
      {"{2,1} T1 plain far", {2, 1}, 1, params(1.0f), 1.0f},
      {"{1,2} T0.7 top-p0.9 identical", {1, 2}, 2, params(0.7f, -1, 0.9f), 0.0f},
      {"{2,2} T1.3 min-p0.05 close", {2, 2}, 1, params(1.3f, -1, 1.0f, 0.05f), 0.3f},
      {"{3,1} T1 top-k2 far", {3, 1}, 2, params(1.0f, 2), 1.0f},
      {"{1,1} T0.7 plain close (chain)", {1, 1}, 1, params(0.7f), 0.3f},
      {"{4,2} T1 top-k4 top-p0.95 close", {4, 2}, 2, params(1.0f, 4, 0.95f), 0.3f},
  };
}

template <injected_fault Fault = injected_fault::none>
specdec::testing::conformance_report run(const tree_case& c, std::uint64_t seed, std::uint64_t trials) {
  const auto target = markov_model::random(5, c.order, seed);
  const auto draft = target.mixed_with(markov_model::random(5, c.order, seed + 1000), c.draft_distance);
  specdec::testing::top_k_tree_drafter drafter(c.branching);
  specdec_test::one_hot_verifier_with<Fault> verifier;
  specdec::testing::monte_carlo_config config;
  config.tokens = static_cast<specdec::index_t>(c.branching.size()) + 1;
  config.trials = trials;
  config.seed = seed * 104729;
  config.prompt = {2, 4};
  config.target_params = c.target;
  return specdec::testing::check_lossless(target, draft, drafter, verifier, config, specdec_test::alpha);
}

std::vector<double> to_double(std::span<const float> x) { return {x.begin(), x.end()}; }

// A single-node meta configuration: the root's processed p and the drafter's ranked children there.
struct single_node {
  std::vector<double> p;
  std::vector<specdec::token_id> children;
};

single_node root_of(const tree_case& c, std::uint64_t seed) {
  const auto target = markov_model::random(5, c.order, seed);
  const auto draft = target.mixed_with(markov_model::random(5, c.order, seed + 1000), c.draft_distance);
  const std::vector<specdec::token_id> context{2, 4};
  std::vector<float> p(5);
  specdec::logits_processor processor;
  processor.probabilities(target.logits(context), c.target, p);
  specdec::testing::top_k_tree_drafter drafter(c.branching);
  specdec::testing::draft_output drafted;
  drafter.draft(draft, context, specdec::random_address{}, drafted);
  single_node out{to_double(p), {}};
  for (std::int32_t i = 1; i < drafted.tree.size(); ++i) {
    if (drafted.tree.parent(i) == 0) out.children.push_back(drafted.tree.token(i));
  }
  return out;
}

// Pairs the fault with the first model (from `seed` on) where its exact first-token TV is >= 0.02,
// then requires the Monte Carlo check of the faulty verifier to fail.
template <injected_fault Fault>
void require_caught(const tree_case& c, std::uint64_t seed) {
  const auto config = specdec_test::first_detectable(seed, [&](std::uint64_t s) {
    const auto node = root_of(c, s);
    return specdec::testing::total_variation(specdec::testing::exact_one_hot_step<Fault>(node.p, node.children).emitted, node.p);
  });
  INFO(c.name << ", model seed " << config.seed << ": exact TV of the faulty first token: " << config.tv);
  REQUIRE(config.tv >= 0.02);
  const auto report = run<Fault>(c, config.seed, specdec_test::trials);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

}  // namespace

TEST_CASE("the one-hot tree rule is lossless over the covering set") {
  std::uint64_t seed = 11;
  for (const auto& c : covering_set()) {
    const auto report = run(c, seed++, specdec_test::trials);
    INFO(c.name << ": " << report.text());
    CHECK(report.passes());
  }
}

TEST_CASE("exact single node: the output is p and acceptance is p(children)") {
  const std::vector<double> p{0.4, 0.3, 0.2, 0.1, 0.0};
  for (const auto& children : std::vector<std::vector<specdec::token_id>>{{0}, {3, 1}, {4, 2, 0}, {1, 1}, {0, 1, 2, 3, 4}}) {
    const auto step = specdec::testing::exact_one_hot_step(p, children);
    REQUIRE_THAT(specdec::testing::total_variation(step.emitted, p), WithinAbs(0.0, 1e-12));
    double covered = 0.0;
    std::vector<bool> seen(5, false);
    for (const auto c : children) {
      if (!seen[static_cast<std::size_t>(c)]) covered += p[static_cast<std::size_t>(c)];
      seen[static_cast<std::size_t>(c)] = true;
    }
    REQUIRE_THAT(step.acceptance, WithinAbs(covered, 1e-12));
  }
}

TEST_CASE("meta: skipping the residual renormalisation is caught") {
  require_caught<injected_fault::skip_renormalisation>({"{3} T1 far", {3}, 1, params(1.0f), 1.0f}, 201);
}

TEST_CASE("meta: not zeroing a rejected child is caught") {
  require_caught<injected_fault::keep_rejected_child>({"{3} T1 far", {3}, 1, params(1.0f), 1.0f}, 202);
}

TEST_CASE("meta: reusing one uniform for sibling decisions is caught") {
  require_caught<injected_fault::reuse_uniform>({"{3} T1 close", {3}, 1, params(1.0f), 0.3f}, 203);
}

TEST_CASE("meta: judging the children against the first child's row is caught") {
  // The rule reproduces whatever distribution it is given, so the faulty first token follows the first
  // child's row p' instead of the root's p: its exact TV is TV(p', p).
  const tree_case c{"{2} T1 close", {2}, 1, params(1.0f), 0.3f};
  const auto config = specdec_test::first_detectable(204, [&](std::uint64_t seed) {
    const auto node = root_of(c, seed);
    const auto target = markov_model::random(5, c.order, seed);
    std::vector<float> child_row(5);
    specdec::logits_processor processor;
    processor.probabilities(target.logits(std::vector<specdec::token_id>{2, 4, node.children.front()}), c.target, child_row);
    return specdec::testing::total_variation(specdec::testing::exact_one_hot_step(to_double(child_row), node.children).emitted,
                                             node.p);
  });
  INFO("model seed " << config.seed << ": exact TV of the faulty first token: " << config.tv);
  REQUIRE(config.tv >= 0.02);
  const auto report = run<injected_fault::child_row>(c, config.seed, specdec_test::trials);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

TEST_CASE("one-hot edge cases: duplicate children, a root-only tree, and stops") {
  specdec::one_hot_verifier verifier;
  specdec::verify_result result;
  // p = (0, 1, 0) at the root: child 2 is always rejected, the duplicate child 1 accepted first.
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits{neg_inf, 0.f, neg_inf, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  specdec::token_tree tree(0);
  tree.add_child(0, 2);
  tree.add_child(0, 1);
  tree.add_child(0, 1);
  specdec::verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 4, 3);
  for (std::uint32_t step = 0; step < 20; ++step) {
    in.address.step = step;
    verifier.verify(in, result);
    REQUIRE(result.path == std::vector<std::int32_t>{0, 2});
    REQUIRE(result.tokens.size() == 2);
    REQUIRE(result.logprobs[0] == 0.0f);
  }
  const std::vector<specdec::token_id> stops{1};
  in.stop_tokens = stops;
  verifier.verify(in, result);
  REQUIRE(result.tokens == std::vector<specdec::token_id>{1});
  REQUIRE(result.stopped);

  const specdec::token_tree root_only(0);
  in.tree = root_only;
  in.stop_tokens = {};
  verifier.verify(in, result);
  REQUIRE(result.tokens == std::vector<specdec::token_id>{1});  // the bonus: p is one-hot at 1
  REQUIRE(result.accepted() == 0);
}

TEST_CASE("the one-hot tree rule is lossless over the full matrix", "[long]") {
  // tree shape x temperature x processors x draft distance: 6 x 3 x 4 x 3 = 216 configurations.
  const std::vector<std::vector<int>> shapes{{1}, {3}, {5}, {1, 1}, {2, 1}, {2, 2}};
  const std::vector<sampling_params> processors{params(1.0f), params(1.0f, 3), params(1.0f, -1, 0.8f),
                                                params(1.0f, -1, 1.0f, 0.1f)};
  std::uint64_t seed = 900;
  for (const auto& shape : shapes) {
    for (const float temperature : {0.7f, 1.0f, 1.3f}) {
      for (sampling_params target : processors) {
        target.temperature = temperature;
        for (const float distance : {0.0f, 0.3f, 1.0f}) {
          const tree_case c{"matrix", shape, shape.size() == 1 ? 2 : 1, target, distance};
          const auto report = run(c, seed, specdec_test::trials);
          INFO("shape size " << shape.size() << " first " << shape.front() << ", T " << temperature << ", top-k "
                             << target.top_k << ", top-p " << target.top_p << ", min-p " << target.min_p
                             << ", distance " << distance << ", seed " << seed << ": " << report.text());
          CHECK(report.passes());
          ++seed;
        }
      }
    }
  }
}
