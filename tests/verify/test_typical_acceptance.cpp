// Typical acceptance (Medusa) is lossy by design: its rule is checked exactly, and the conformance kit
// must report its bias.
#include <specdec/testing.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "statistics.hpp"
#include "support/catch.hpp"

namespace {

std::vector<float> log_row(std::vector<double> p) {
  std::vector<float> row;
  for (const double x : p) row.push_back(x > 0 ? static_cast<float>(std::log(x)) : -std::numeric_limits<float>::infinity());
  return row;
}

}  // namespace

TEST_CASE("typical acceptance keeps the longest typical path, ties by summed log p") {
  /* 0 -- 1:t3  (p .05 <= .09: rejected)
       -- 2:t2  (p .15 > .09) -- 4:t1 (p .9 > .09)
       -- 3:t0  (p .50 > .09) -- 5:t1 (p .2 > .0792)
     Both depth-2 paths are typical; log .15 + log .9 = -2.00 beats log .5 + log .2 = -2.30.  */
  specdec::token_tree tree(0);
  tree.add_child(0, 3);
  tree.add_child(0, 2);
  tree.add_child(0, 0);
  tree.add_child(2, 1);
  tree.add_child(3, 1);
  std::vector<float> logits;
  for (const auto& row : {log_row({0.5, 0.3, 0.15, 0.05}),   // H = 1.142: threshold min(.09, .3 e^-H = .096) = .09
                          log_row({0.25, 0.25, 0.25, 0.25}),  // (node 1's row: not read)
                          log_row({0.05, 0.9, 0.03, 0.02}),   // H = 0.428: threshold .09
                          log_row({0.4, 0.2, 0.2, 0.2}),      // H = 1.332: threshold .3 e^-H = .0792
                          log_row({0.0, 0.0, 0.0, 1.0}),      // the bonus at node 4 is token 3
                          log_row({0.25, 0.25, 0.25, 0.25})}) {
    logits.insert(logits.end(), row.begin(), row.end());
  }
  specdec::verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 6, 4);
  specdec::lossy_typical_acceptance_verifier verifier;
  specdec::verify_result result;
  verifier.verify(in, result);
  REQUIRE(result.path == std::vector<std::int32_t>{0, 2, 4});
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2, 1, 3});
  REQUIRE(result.depth_accepted == std::vector<std::uint8_t>{1, 1});
  REQUIRE_THAT(result.logprobs[0], WithinAbs(std::log(0.15f), 1e-5f));
  REQUIRE_THAT(result.logprobs[1], WithinAbs(std::log(0.9f), 1e-5f));

  // A stricter epsilon rejects node 2's token (p .15): the best path goes through node 3.
  specdec::lossy_typical_acceptance_verifier strict({/*epsilon=*/0.16f, /*delta=*/10.0f});
  strict.verify(in, result);
  REQUIRE(result.path == std::vector<std::int32_t>{0, 3, 5});
  // And one that accepts nothing emits only the bonus from the root's p.
  specdec::lossy_typical_acceptance_verifier none({/*epsilon=*/0.99f, /*delta=*/10.0f});
  none.verify(in, result);
  REQUIRE(result.accepted() == 0);
  REQUIRE(result.depth_accepted == std::vector<std::uint8_t>{0});
  REQUIRE(result.tokens.size() == 1);

  REQUIRE_INVALID_ARGUMENT("epsilon = 0", specdec::lossy_typical_acceptance_verifier({0.0f, 0.3f}));
  REQUIRE_INVALID_ARGUMENT("delta = -1", specdec::lossy_typical_acceptance_verifier({0.09f, -1.0f}));
}

TEST_CASE("the conformance kit reports the bias of typical acceptance") {
  const auto target = specdec::testing::markov_model::random(5, 1, 808);
  const auto draft = target.mixed_with(specdec::testing::markov_model::random(5, 1, 809), 0.5f);
  specdec::testing::top_k_tree_drafter drafter({2, 1});
  specdec::lossy_typical_acceptance_verifier verifier;
  specdec::testing::monte_carlo_config config;
  config.tokens = 3;
  config.trials = specdec_test::trials;
  config.prompt = {1};
  const auto report = specdec::testing::check_lossless(target, draft, drafter, verifier, config, specdec_test::alpha);
  INFO(report.text());
  if (specdec_test::has_power) {
    REQUIRE_FALSE(report.passes());
    REQUIRE(report.total_variation > 0.02);
  }
}

TEST_CASE("typical acceptance breaks a tie of depth and score by the lower node index") {
  // Two children with the same token (so the same p and score) and one grandchild each.
  specdec::token_tree tree(0);
  const auto a = tree.add_child(0, 1);
  const auto b = tree.add_child(0, 1);
  tree.add_child(a, 2);
  tree.add_child(b, 2);
  const std::vector<float> logits(5 * 3, 0.0f);  // uniform rows: every draft has p = 1/3 > 0.09
  specdec::verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 5, 3);
  in.params.temperature = 1.0f;
  specdec::lossy_typical_acceptance_verifier verifier;
  specdec::verify_result result;
  verifier.verify(in, result);
  REQUIRE(result.path == std::vector<std::int32_t>{0, 1, 3});
}
