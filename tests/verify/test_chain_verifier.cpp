// Speculative sampling on chains: statistical losslessness over a pairwise covering set, exact
// single-step identities, the acceptance rate, and meta-tests that deliberately wrong variants fail.
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

enum class distance { identical, close, far, disjoint };

// The draft model at a stated distance from `target` (V = 5).
markov_model draft_for(const markov_model& target, distance d, std::uint64_t seed) {
  const auto other = markov_model::random(target.vocab(), target.order(), seed + 1000);
  switch (d) {
    case distance::identical: return target;
    case distance::close: return target.mixed_with(other, 0.25f);
    case distance::far: return other;
    case distance::disjoint: return other.masked(0b11100);  // draft only proposes tokens 0 and 1
  }
  return target;
}

struct chain_case {
  std::string name;
  int depth;
  int order;
  sampling_params target;
  sampling_params draft;
  distance dist;
};

// Pairwise covering set over depth x temperature x processors x draft distance.
std::vector<chain_case> covering_set() {
  return {
      {"d1 T1 plain identical", 1, 1, params(1.0f), params(1.0f), distance::identical},
      {"d1 T0.7 top-k3 close", 1, 1, params(0.7f, 3), params(1.0f), distance::close},
      {"d1 T1.3 top-p0.8 far", 1, 2, params(1.3f, -1, 0.8f), params(0.8f), distance::far},
      {"d1 T1 min-p0.1 disjoint", 1, 1, params(1.0f, -1, 1.0f, 0.1f), params(1.0f), distance::disjoint},
      {"d2 T1 top-p0.8 identical", 2, 2, params(1.0f, -1, 0.8f), params(1.0f, -1, 0.8f), distance::identical},
      {"d2 T0.7 min-p0.1 far", 2, 1, params(0.7f, -1, 1.0f, 0.1f), params(1.2f), distance::far},
      {"d2 T1.3 plain close", 2, 1, params(1.3f), params(1.0f, 3), distance::close},
      {"d2 T1 top-k3 disjoint", 2, 2, params(1.0f, 3), params(1.0f), distance::disjoint},
      {"d2 T0.7 top-k2 top-p0.9 close", 2, 2, params(0.7f, 2, 0.9f), params(0.7f), distance::close},
      {"d1 T1 plain far order2", 1, 2, params(1.0f), params(1.0f, -1, 0.9f), distance::far},
  };
}

template <injected_fault Fault = injected_fault::none>
specdec::testing::conformance_report run(const chain_case& c, std::uint64_t seed, std::uint64_t trials) {
  const auto target = markov_model::random(5, c.order, seed);
  const auto draft = draft_for(target, c.dist, seed);
  specdec::testing::chain_sampling_drafter drafter(c.depth, c.draft);
  specdec_test::chain_verifier_with<Fault> verifier;
  specdec::testing::monte_carlo_config config;
  config.tokens = c.depth + 1;
  config.trials = trials;
  config.seed = seed * 7919;
  config.prompt = {3, 1};
  config.target_params = c.target;
  return specdec::testing::check_lossless(target, draft, drafter, verifier, config, specdec_test::alpha);
}

std::vector<double> to_double(std::span<const float> x) { return {x.begin(), x.end()}; }

}  // namespace

TEST_CASE("speculative sampling on chains is lossless over the covering set") {
  std::uint64_t seed = 1;
  for (const auto& c : covering_set()) {
    const auto report = run(c, seed++, specdec_test::trials);
    INFO(c.name << ": " << report.text());
    CHECK(report.passes());
  }
}

TEST_CASE("exact single step: acceptance is sum min(p, q) = 1 - TV, and the output is p") {
  const std::vector<std::vector<double>> ps{{0.5, 0.3, 0.2}, {0.1, 0.0, 0.9}, {0.25, 0.25, 0.25, 0.25}};
  const std::vector<std::vector<double>> qs{{0.1, 0.2, 0.7}, {0.0, 1.0, 0.0}, {0.7, 0.1, 0.1, 0.1}};
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto step = specdec::testing::exact_speculative_step(ps[i], qs[i]);
    double overlap = 0.0;
    for (std::size_t x = 0; x < ps[i].size(); ++x) overlap += std::min(ps[i][x], qs[i][x]);
    REQUIRE_THAT(step.acceptance, WithinAbs(overlap, 1e-12));
    REQUIRE_THAT(step.acceptance, WithinAbs(1.0 - specdec::testing::total_variation(ps[i], qs[i]), 1e-12));
    REQUIRE_THAT(specdec::testing::total_variation(step.emitted, ps[i]), WithinAbs(0.0, 1e-12));
  }
}

TEST_CASE("the empirical acceptance rate of one draft matches 1 - TV(p, q)") {
  // One position: the root's p and q; count accepted drafts over many steps.
  const auto target = markov_model::random(5, 1, 77);
  const auto draft = draft_for(target, distance::close, 77);
  specdec::testing::chain_sampling_drafter drafter(1, params(1.0f));
  specdec::chain_verifier verifier;
  specdec::testing::draft_output drafted;
  specdec::verify_result result;
  const std::vector<specdec::token_id> context{2};
  std::vector<float> p(5), q(5);
  specdec::logits_processor processor;
  processor.probabilities(target.logits(context), params(1.0f), p);
  processor.probabilities(draft.logits(context), params(1.0f), q);
  const double expected = 1.0 - specdec::testing::total_variation(to_double(p), to_double(q));

  std::uint64_t accepted = 0;
  const std::uint64_t trials = specdec_test::trials;
  for (std::uint64_t t = 0; t < trials; ++t) {
    const specdec::random_address address{5, static_cast<std::uint32_t>(t), 0, 0, specdec::purpose::draft_sample};
    drafter.draft(draft, context, address, drafted);
    std::vector<float> rows;
    for (std::int32_t i = 0; i < drafted.tree.size(); ++i) {
      std::vector<specdec::token_id> ctx = context;
      if (i > 0) ctx.push_back(drafted.tree.token(i));
      const auto row = target.logits(ctx);
      rows.insert(rows.end(), row.begin(), row.end());
    }
    specdec::verify_input in;
    in.tree = drafted.tree;
    in.target_logits = specdec::const_matrix_view<float>(rows.data(), drafted.tree.size(), 5);
    in.draft_probs = drafted.q_view(5);
    in.address = address;
    verifier.verify(in, result);
    accepted += static_cast<std::uint64_t>(result.accepted());
  }
  const std::vector<std::uint64_t> observed{accepted, trials - accepted};
  const std::vector<double> cells{expected, 1.0 - expected};
  const auto test = specdec::testing::chi_square_goodness_of_fit(observed, cells);
  INFO("acceptance " << static_cast<double>(accepted) / static_cast<double>(trials) << " vs 1 - TV = " << expected << "; "
                     << test.report(specdec_test::alpha));
  REQUIRE(test.passes(specdec_test::alpha));
}

TEST_CASE("meta: resampling from p instead of the residual is caught") {
  const chain_case c{"d1 far", 1, 1, params(1.0f), params(1.0f), distance::far};
  // Exact TV of the faulty first token at the root's p and q.
  const auto target = markov_model::random(5, 1, 101);
  const auto draft = draft_for(target, c.dist, 101);
  std::vector<float> p(5), q(5);
  specdec::logits_processor processor;
  processor.probabilities(target.logits(std::vector<specdec::token_id>{1}), c.target, p);
  processor.probabilities(draft.logits(std::vector<specdec::token_id>{1}), c.draft, q);
  const auto wrong = specdec::testing::exact_speculative_step<injected_fault::resample_from_target>(to_double(p), to_double(q));
  const double tv = specdec::testing::total_variation(wrong.emitted, to_double(p));
  INFO("exact TV of the faulty first token: " << tv);
  REQUIRE(tv >= 0.02);
  const auto report = run<injected_fault::resample_from_target>(c, 101, specdec_test::trials);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

TEST_CASE("meta: judging a draft against its own row instead of its parent's is caught") {
  const chain_case c{"d1 close", 1, 1, params(1.0f), params(1.0f), distance::close};
  const std::uint64_t seed = 102;
  const auto target = markov_model::random(5, 1, seed);
  const auto draft = draft_for(target, c.dist, seed);
  // Exact first-token distribution of the faulty rule: draft x ~ q(.|1), judged against p(.|x).
  std::vector<float> p(5), q(5), p_child(5);
  specdec::logits_processor processor;
  processor.probabilities(target.logits(std::vector<specdec::token_id>{1}), c.target, p);
  processor.probabilities(draft.logits(std::vector<specdec::token_id>{1}), c.draft, q);
  std::vector<double> emitted(5, 0.0);
  for (specdec::token_id x = 0; x < 5; ++x) {
    processor.probabilities(target.logits(std::vector<specdec::token_id>{x}), c.target, p_child);
    // Given x: accepted with min(1, p'(x)/q(x)), else from p' - q normalised; weight by q(x).
    const double qx = q[static_cast<std::size_t>(x)];
    const double accept = std::min(1.0, p_child[static_cast<std::size_t>(x)] / qx);
    emitted[static_cast<std::size_t>(x)] += qx * accept;
    std::vector<double> residual(5);
    double mass = 0.0;
    for (std::size_t y = 0; y < 5; ++y) mass += residual[y] = std::max(0.0, static_cast<double>(p_child[y]) - q[y]);
    for (std::size_t y = 0; y < 5 && mass > 0.0; ++y) emitted[y] += qx * (1.0 - accept) * residual[y] / mass;
  }
  const double tv = specdec::testing::total_variation(emitted, to_double(p));
  INFO("exact TV of the faulty first token: " << tv);
  REQUIRE(tv >= 0.02);
  const auto report = run<injected_fault::child_row>(c, seed, specdec_test::trials);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

namespace {

// Depth 2 with one shared uniform: given acceptance at depth 1, the second draft is accepted with
// probability min(a1, a2) / a1 instead of a2. The exact joint of the first two tokens under the fault,
// and its TV from the target's.
double reuse_uniform_tv(const chain_case& c, std::uint64_t seed) {
  const auto target = markov_model::random(5, 1, seed);
  const auto draft = draft_for(target, c.dist, seed);
  specdec::logits_processor processor;
  const auto probs = [&](const markov_model& m, specdec::token_id last) {
    std::vector<float> out(5);
    processor.probabilities(m.logits(std::vector<specdec::token_id>{last}), c.target, out);
    return to_double(out);
  };
  const auto residual = [](const std::vector<double>& p, const std::vector<double>& q) {
    std::vector<double> r(p.size());
    double mass = 0.0;
    for (std::size_t y = 0; y < p.size(); ++y) mass += r[y] = std::max(0.0, p[y] - q[y]);
    for (double& v : r) v /= mass;
    return r;
  };
  const auto p0 = probs(target, 1), q0 = probs(draft, 1), r0 = residual(p0, q0);
  std::vector<double> joint(25, 0.0), exact(25, 0.0);
  for (std::size_t t1 = 0; t1 < 5; ++t1) {
    const auto p1 = probs(target, static_cast<specdec::token_id>(t1));
    for (std::size_t t2 = 0; t2 < 5; ++t2) exact[t1 + 5 * t2] = p0[t1] * p1[t2];
    // Rejection at depth 1: t1 ~ r0, then the next step starts afresh and emits t2 ~ p1.
    double reject_mass = 0.0;
    for (std::size_t x = 0; x < 5; ++x) reject_mass += q0[x] * (1.0 - std::min(1.0, p0[x] / q0[x]));
    for (std::size_t t2 = 0; t2 < 5; ++t2) joint[t1 + 5 * t2] += reject_mass * r0[t1] * p1[t2];
    // Acceptance of x1 = t1 with probability q0 a1; then x2 ~ q1, accepted with min(a1, a2) / a1.
    const double a1 = std::min(1.0, p0[t1] / q0[t1]);
    const auto q1 = probs(draft, static_cast<specdec::token_id>(t1)), r1 = residual(p1, q1);
    for (std::size_t x2 = 0; x2 < 5; ++x2) {
      const double a2 = std::min(1.0, p1[x2] / q1[x2]);
      const double both = std::min(a1, a2) / a1;
      joint[t1 + 5 * x2] += q0[t1] * a1 * q1[x2] * both;
      for (std::size_t t2 = 0; t2 < 5; ++t2) joint[t1 + 5 * t2] += q0[t1] * a1 * q1[x2] * (1.0 - both) * r1[t2];
    }
  }
  return specdec::testing::total_variation(joint, exact);
}

}  // namespace

TEST_CASE("meta: reusing one uniform for two decisions is caught") {
  // Depth 2: the second decision shares the first's uniform, so given acceptance at depth 1 it accepts
  // with probability min(a1, a2) / a1 instead of a2. Exact joint of the first two tokens under the fault.
  const chain_case c{"d2 close", 2, 1, params(1.0f), params(1.0f), distance::close};
  const auto config = specdec_test::first_detectable(103, [&](std::uint64_t seed) { return reuse_uniform_tv(c, seed); });
  INFO("model seed " << config.seed << ": exact TV of the faulty joint: " << config.tv);
  REQUIRE(config.tv >= 0.02);
  const auto report = run<injected_fault::reuse_uniform>(c, config.seed, specdec_test::trials);
  INFO(report.text());
  if (specdec_test::has_power) REQUIRE_FALSE(report.passes());
}

TEST_CASE("the chain verifier's edge cases and bad input") {
  specdec::chain_verifier verifier;
  specdec::verify_result result;
  specdec::token_tree tree(0);
  tree.add_child(0, 1);
  const std::vector<float> logits{0.f, 1.f, 2.f, 0.f, 1.f, 2.f};
  std::vector<float> q{0.0f, 1.0f, 0.0f, 0.3f, 0.3f, 0.4f};
  specdec::verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 2, 3);
  in.draft_probs = specdec::const_matrix_view<float>(q.data(), 2, 3);
  REQUIRE_NOTHROW(verifier.verify(in, result));
  REQUIRE(result.tokens.size() >= 1);

  // q(x) = 0 for the drafted token rejects it; the correction comes from max(0, p - q), which is 0
  // at token 0 (q(0) = 1).
  q = {1.0f, 0.0f, 0.0f, 0.3f, 0.3f, 0.4f};
  for (std::uint32_t step = 0; step < 50; ++step) {
    in.address.step = step;
    verifier.verify(in, result);
    REQUIRE(result.accepted() == 0);
    REQUIRE(result.depth_accepted == std::vector<std::uint8_t>{0});
    REQUIRE(result.tokens.size() == 1);
    REQUIRE(result.tokens.front() != 0);
  }

  specdec::verify_input bad = in;
  std::vector<float> narrow(4, 0.5f);
  bad.draft_probs = specdec::const_matrix_view<float>(narrow.data(), 2, 2);
  REQUIRE_INVALID_ARGUMENT("draft_probs.cols() = 2", verifier.verify(bad, result));
  bad.draft_probs = {};
  REQUIRE_INVALID_ARGUMENT("draft_probs", verifier.verify(bad, result));
  std::vector<float> negative{0.0f, -0.5f, 1.5f, 0.3f, 0.3f, 0.4f};
  bad.draft_probs = specdec::const_matrix_view<float>(negative.data(), 2, 3);
  REQUIRE_INVALID_ARGUMENT("draft_probs row 0 (q of tree node 0's children), token[1] = -0.5", verifier.verify(bad, result));
  // q rows that a rejection reads in full must be distributions: a row summing to 4 is refused.
  std::vector<float> heavy{0.0f, 0.0f, 4.0f, 0.3f, 0.3f, 0.4f};
  bad.draft_probs = specdec::const_matrix_view<float>(heavy.data(), 2, 3);
  {
    // The draft (token 2 at node 1) has q = 4 > 1: refused as a probability before anything else.
    REQUIRE_INVALID_ARGUMENT("token[2] = 4", verifier.verify(bad, result));
  }
  std::vector<float> all_zero{0.0f, 0.0f, 0.0f, 0.3f, 0.3f, 0.4f};
  bad.draft_probs = specdec::const_matrix_view<float>(all_zero.data(), 2, 3);
  REQUIRE_INVALID_ARGUMENT("sum of draft_probs row 0 (q of tree node 0's children) = 0", verifier.verify(bad, result));
  std::vector<float> over{0.5f, 0.0f, 0.5f};  // one q row (the chain's leaf needs none), summing to 1
  bad.draft_probs = specdec::const_matrix_view<float>(over.data(), 1, 3);
  REQUIRE_NOTHROW(verifier.verify(bad, result));
  over = {0.5f, 0.0f, 0.75f};
  REQUIRE_INVALID_ARGUMENT("= 1.25 violates 1 within 1e-3", verifier.verify(bad, result));

  specdec::token_tree branching(0);
  branching.add_child(0, 1);
  branching.add_child(0, 2);
  bad = in;
  bad.tree = branching;
  std::vector<float> three_rows(9, 0.0f), three_q(9, 1.0f / 3.0f);
  bad.target_logits = specdec::const_matrix_view<float>(three_rows.data(), 3, 3);
  bad.draft_probs = specdec::const_matrix_view<float>(three_q.data(), 3, 3);
  REQUIRE_INVALID_ARGUMENT("parent[2] = 0 violates parent[i] == i - 1", verifier.verify(bad, result));
}

TEST_CASE("speculative sampling on chains is lossless over the full matrix", "[long]") {
  // depth x temperature x processors x draft distance: 2 x 3 x 4 x 4 = 96 configurations.
  const std::vector<sampling_params> processors{params(1.0f), params(1.0f, 3), params(1.0f, -1, 0.8f),
                                                params(1.0f, -1, 1.0f, 0.1f)};
  std::uint64_t seed = 500;
  for (const int depth : {1, 2}) {
    for (const float temperature : {0.7f, 1.0f, 1.3f}) {
      for (sampling_params target : processors) {
        target.temperature = temperature;
        for (const distance d : {distance::identical, distance::close, distance::far, distance::disjoint}) {
          const chain_case c{"matrix", depth, depth == 1 ? 1 : 2, target, params(0.9f), d};
          const auto report = run(c, seed, specdec_test::trials);
          INFO("depth " << depth << ", T " << temperature << ", top-k " << target.top_k << ", top-p " << target.top_p
                        << ", min-p " << target.min_p << ", distance " << static_cast<int>(d) << ", seed " << seed
                        << ": " << report.text());
          CHECK(report.passes());
          ++seed;
        }
      }
    }
  }
}
