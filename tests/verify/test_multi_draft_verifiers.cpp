// Multi-draft rules: with replacement (SpecInfer) and without (recursive rejection sampling, Sequoia).
// Exact enumeration, statistical losslessness over covering sets, and meta-tests.
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
  std::vector<int> branching;
  int order;
  sampling_params target;
  sampling_params draft;
  float draft_distance;
};

std::vector<tree_case> covering_set() {
  return {
      {"{1} T1 identical", {1}, 1, params(1.0f), params(1.0f), 0.0f},
      {"{2} T0.7 top-k3 close", {2}, 1, params(0.7f, 3), params(1.0f), 0.3f},
      {"{3} T1.3 top-p0.8 far", {3}, 2, params(1.3f, -1, 0.8f), params(0.8f), 1.0f},
      {"{4} T1 min-p0.1 close", {4}, 1, params(1.0f, -1, 1.0f, 0.1f), params(1.0f, 3), 0.3f},
      {"{2,1} T1 plain far", {2, 1}, 1, params(1.0f), params(1.2f), 1.0f},
      {"{1,2} T0.7 top-p0.9 identical", {1, 2}, 2, params(0.7f, -1, 0.9f), params(0.7f, -1, 0.9f), 0.0f},
      {"{2,2} T1.3 min-p0.05 close", {2, 2}, 1, params(1.3f, -1, 1.0f, 0.05f), params(1.0f), 0.3f},
      {"{3,1} T1 top-k2 far", {3, 1}, 2, params(1.0f, 2), params(1.0f), 1.0f},
      {"{1,1} T0.7 plain close", {1, 1}, 1, params(0.7f), params(0.9f), 0.3f},
      {"{3,2} T1 top-k4 top-p0.95 close", {3, 2}, 2, params(1.0f, 4, 0.95f), params(1.0f, 4), 0.3f},
  };
}

template <class Verifier>
specdec::testing::conformance_report run(const tree_case& c, std::uint64_t seed, bool with_replacement) {
  const auto target = markov_model::random(5, c.order, seed);
  const auto draft = target.mixed_with(markov_model::random(5, c.order, seed + 1000), c.draft_distance);
  specdec::testing::sampled_tree_drafter drafter(c.branching, c.draft, with_replacement);
  Verifier verifier;
  specdec::testing::monte_carlo_config config;
  config.tokens = static_cast<specdec::index_t>(c.branching.size()) + 1;
  config.trials = specdec_test::trials;
  config.seed = seed * 15485863;
  config.prompt = {4, 0};
  config.target_params = c.target;
  return specdec::testing::check_lossless(target, draft, drafter, verifier, config, specdec_test::alpha);
}

std::vector<double> to_double(std::span<const float> x) { return {x.begin(), x.end()}; }

// The root's processed p and q for a configuration (the first-token distributions of the meta-tests).
std::pair<std::vector<double>, std::vector<double>> root_p_q(const tree_case& c, std::uint64_t seed) {
  const auto target = markov_model::random(5, c.order, seed);
  const auto draft = target.mixed_with(markov_model::random(5, c.order, seed + 1000), c.draft_distance);
  const std::vector<specdec::token_id> context{4, 0};
  std::vector<float> p(5), q(5);
  specdec::logits_processor processor;
  processor.probabilities(target.logits(context), c.target, p);
  processor.probabilities(draft.logits(context), c.draft, q);
  return {to_double(p), to_double(q)};
}

}  // namespace

TEST_CASE("exact enumeration: recursive rejection sampling reproduces p; subtracting the zeroed q does not") {
  const std::vector<double> p{0.5, 0.3, 0.2}, q{0.1, 0.2, 0.7};
  const auto right = specdec::testing::exact_without_replacement_step(p, q, 2);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE_THAT(right.emitted[i], WithinAbs(p[i], 1e-12));
  const auto wrong = specdec::testing::exact_without_replacement_step<injected_fault::subtract_zeroed_q>(p, q, 2);
  REQUIRE_THAT(wrong.emitted[0], WithinAbs(0.27, 0.005));
  REQUIRE_THAT(wrong.emitted[1], WithinAbs(0.20, 0.005));
  REQUIRE_THAT(wrong.emitted[2], WithinAbs(0.53, 0.005));

  // More shapes: both multi-draft rules reproduce p for k = 1..4.
  const std::vector<double> p5{0.05, 0.4, 0.0, 0.25, 0.3}, q5{0.3, 0.1, 0.2, 0.0, 0.4};
  for (int k = 1; k <= 4; ++k) {
    const auto with = specdec::testing::exact_multi_draft_step(p5, q5, k);
    const auto without = specdec::testing::exact_without_replacement_step(p5, q5, k);
    REQUIRE_THAT(specdec::testing::total_variation(with.emitted, p5), WithinAbs(0.0, 1e-12));
    REQUIRE_THAT(specdec::testing::total_variation(without.emitted, p5), WithinAbs(0.0, 1e-12));
    REQUIRE(with.acceptance <= without.acceptance + 1e-12);  // fresh drafts accept at least as often
  }
  // k = 1 is plain speculative sampling: acceptance 1 - TV(p, q).
  REQUIRE_THAT(specdec::testing::exact_multi_draft_step(p5, q5, 1).acceptance,
               WithinAbs(1.0 - specdec::testing::total_variation(p5, q5), 1e-12));
}

TEST_CASE("multi-draft with replacement (SpecInfer) is lossless over the covering set") {
  std::uint64_t seed = 31;
  for (const auto& c : covering_set()) {
    const auto report = run<specdec::multi_draft_verifier>(c, seed++, true);
    INFO(c.name << ": " << report.text());
    CHECK(report.passes());
  }
}

TEST_CASE("recursive rejection sampling without replacement is lossless over the covering set") {
  std::uint64_t seed = 61;
  for (const auto& c : covering_set()) {
    const auto report = run<specdec::rrs_verifier>(c, seed++, false);
    INFO(c.name << ": " << report.text());
    CHECK(report.passes());
  }
}

TEST_CASE("meta: subtracting the already-zeroed q is caught") {
  const tree_case c{"{3} T1 far", {3}, 1, params(1.0f), params(1.0f), 1.0f};
  const auto config = specdec_test::first_detectable(301, [&](std::uint64_t seed) {
    const auto [p, q] = root_p_q(c, seed);
    return specdec::testing::total_variation(
        specdec::testing::exact_without_replacement_step<injected_fault::subtract_zeroed_q>(p, q, 3).emitted, p);
  });
  INFO("model seed " << config.seed << ": exact TV of the faulty first token: " << config.tv);
  REQUIRE(config.tv >= 0.02);
  const auto report = run<specdec_test::rrs_verifier_with<injected_fault::subtract_zeroed_q>>(c, config.seed, false);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

TEST_CASE("meta: multi-draft without renormalising the residual is caught") {
  const tree_case c{"{3} T1 far", {3}, 1, params(1.0f), params(1.0f), 1.0f};
  const auto config = specdec_test::first_detectable(401, [&](std::uint64_t seed) {
    const auto [p, q] = root_p_q(c, seed);
    return specdec::testing::total_variation(
        specdec::testing::exact_multi_draft_step<injected_fault::skip_renormalisation>(p, q, 3).emitted, p);
  });
  INFO("model seed " << config.seed << ": exact TV of the faulty first token: " << config.tv);
  REQUIRE(config.tv >= 0.02);
  const auto report = run<specdec_test::multi_draft_verifier_with<injected_fault::skip_renormalisation>>(c, config.seed, true);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

TEST_CASE("meta: multi-draft resampling from p instead of the residual is caught") {
  const tree_case c{"{2} T1 far", {2}, 1, params(1.0f), params(1.0f), 1.0f};
  const auto config = specdec_test::first_detectable(501, [&](std::uint64_t seed) {
    const auto [p, q] = root_p_q(c, seed);
    return specdec::testing::total_variation(
        specdec::testing::exact_multi_draft_step<injected_fault::resample_from_target>(p, q, 2).emitted, p);
  });
  INFO("model seed " << config.seed << ": exact TV of the faulty first token: " << config.tv);
  REQUIRE(config.tv >= 0.02);
  const auto report = run<specdec_test::multi_draft_verifier_with<injected_fault::resample_from_target>>(c, config.seed, true);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

TEST_CASE("recursive rejection sampling rejects duplicate children; multi-draft accepts them") {
  specdec::token_tree tree(0);
  tree.add_child(0, 1);
  tree.add_child(0, 1);
  const std::vector<float> logits(9, 0.0f);
  const std::vector<float> q(9, 1.0f / 3.0f);
  specdec::verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 3, 3);
  in.draft_probs = specdec::const_matrix_view<float>(q.data(), 3, 3);
  specdec::verify_result result;
  specdec::rrs_verifier rrs;
  REQUIRE_INVALID_ARGUMENT("distinct sibling tokens", rrs.verify(in, result));
  specdec::multi_draft_verifier multi;
  REQUIRE_NOTHROW(multi.verify(in, result));
  REQUIRE(result.tokens.size() >= 1);
}

TEST_CASE("multi-draft rules are lossless over the full matrix", "[long]") {
  const std::vector<std::vector<int>> shapes{{2}, {4}, {2, 1}, {2, 2}};
  const std::vector<sampling_params> processors{params(1.0f), params(1.0f, 3), params(1.0f, -1, 0.8f),
                                                params(1.0f, -1, 1.0f, 0.1f)};
  std::uint64_t seed = 2000;
  for (const auto& shape : shapes) {
    for (const float temperature : {0.7f, 1.3f}) {
      for (sampling_params target : processors) {
        target.temperature = temperature;
        for (const float distance : {0.0f, 0.3f, 1.0f}) {
          const tree_case c{"matrix", shape, 1, target, params(1.0f), distance};
          const auto with = run<specdec::multi_draft_verifier>(c, seed, true);
          const auto without = run<specdec::rrs_verifier>(c, seed, false);
          INFO("shape " << shape.size() << "/" << shape.front() << ", T " << temperature << ", top-k " << target.top_k
                        << ", top-p " << target.top_p << ", min-p " << target.min_p << ", distance " << distance
                        << ", seed " << seed << ": with replacement " << with.text() << "; without " << without.text());
          CHECK(with.passes());
          CHECK(without.passes());
          ++seed;
        }
      }
    }
  }
}
