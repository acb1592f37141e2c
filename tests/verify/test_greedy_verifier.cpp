#include <specdec/testing.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "support/catch.hpp"

using specdec::greedy_verifier;
using specdec::token_tree;
using specdec::verify_input;
using specdec::verify_result;

namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();

// Target logits for a 6-node tree over a vocabulary of 5; argmax per row in the comment.
//   row 0: argmax 2    row 1: argmax 3    row 2: argmax 0 (tie 0/4 -> lowest)
//   row 3: argmax 1    row 4: argmax 4    row 5: argmax 2
const std::vector<float> logits{
    0.f, 1.f, 5.f, 2.f, 1.f,      //
    0.f, 1.f, 2.f, 6.f, 1.f,      //
    3.f, 1.f, 2.f, 0.f, 3.f,      //
    0.f, 9.f, 2.f, 1.f, neg_inf,  //
    0.f, 1.f, 2.f, 1.f, 7.f,      //
    0.f, 1.f, 8.f, 1.f, 1.f};

/*  0:t9 - 1:t2 - 3:t3 - 5:t1        (node:token)
          \ 2:t2 - 4:t0                               */
token_tree example_tree() {
  token_tree tree(4);
  tree.add_child(0, 2);  // 1: equals argmax(row 0) = 2
  tree.add_child(0, 2);  // 2: a duplicate sibling, ranked second
  tree.add_child(1, 3);  // 3: equals argmax(row 1) = 3
  tree.add_child(2, 0);  // 4
  tree.add_child(3, 1);  // 5: equals argmax(row 3) = 1
  return tree;
}

verify_input input_for(const token_tree& tree, std::span<const float> rows, std::span<const specdec::token_id> stops = {}) {
  verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(rows.data(), tree.size(), 5);
  in.params = specdec::sampling_params::make_greedy();
  in.stop_tokens = stops;
  return in;
}

}  // namespace

TEST_CASE("greedy accepts the longest argmax path, ranks first, and emits the argmax bonus") {
  const token_tree tree = example_tree();
  greedy_verifier verifier;
  verify_result result;
  verifier.verify(input_for(tree, logits), result);
  REQUIRE(result.path == std::vector<std::int32_t>{0, 1, 3, 5});
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2, 3, 1, 2});  // bonus = argmax(row 5)
  REQUIRE(result.accepted() == 3);
  REQUIRE(result.depth_accepted == std::vector<std::uint8_t>{1, 1, 1});
  REQUIRE_FALSE(result.stopped);
  // log-softmax of the raw row at each emitted token.
  REQUIRE_THAT(result.logprobs[0], WithinAbs(static_cast<float>(5.0 - specdec::logsumexp(std::span(logits).subspan(0, 5))), 1e-6f));
  REQUIRE_THAT(result.logprobs[3], WithinAbs(static_cast<float>(8.0 - specdec::logsumexp(std::span(logits).subspan(25, 5))), 1e-6f));
}

TEST_CASE("greedy records a rejected depth and emits the correction") {
  token_tree tree(4);
  tree.add_child(0, 1);  // row 0 argmax is 2: rejected
  tree.add_child(0, 4);
  greedy_verifier verifier;
  verify_result result;
  verifier.verify(input_for(tree, logits), result);
  REQUIRE(result.path == std::vector<std::int32_t>{0});
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2});
  REQUIRE(result.depth_accepted == std::vector<std::uint8_t>{0});

  const token_tree root_only(4);  // a drafter that found nothing still yields one token
  verifier.verify(input_for(root_only, logits), result);
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2});
  REQUIRE(result.depth_accepted.empty());
}

TEST_CASE("stop tokens end emission and cut the accepted path") {
  const token_tree tree = example_tree();
  greedy_verifier verifier;
  verify_result result;
  const std::vector<specdec::token_id> stop_on_3{3};
  verifier.verify(input_for(tree, logits, stop_on_3), result);
  REQUIRE(result.path == std::vector<std::int32_t>{0, 1, 3});
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2, 3});
  REQUIRE(result.stopped);
  const std::vector<specdec::token_id> stop_on_bonus{2, 4};  // 2 is also the first draft
  verifier.verify(input_for(tree, logits, stop_on_bonus), result);
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2});
  REQUIRE(result.stopped);
}

TEST_CASE("greedy speculative decoding equals plain argmax decoding over thousands of random trees") {
  // Every verifier selects the greedy rule at temperature 0; all must reproduce argmax decoding.
  specdec::greedy_verifier greedy;
  specdec::chain_verifier chain;
  specdec::one_hot_verifier one_hot;
  specdec::testing::random_tree_drafter random_trees(12);
  specdec::testing::chain_sampling_drafter chains(3, specdec::sampling_params{});
  int trees = 0;
  for (std::uint64_t model_seed = 1; model_seed <= 60; ++model_seed) {
    const auto target = specdec::testing::markov_model::random(6, model_seed % 2 == 0 ? 2 : 1, model_seed);
    const auto draft = target.mixed_with(specdec::testing::markov_model::random(6, target.order(), model_seed + 100), 0.4f);
    std::vector<specdec::token_id> expected{static_cast<specdec::token_id>(model_seed % 6)};
    for (int i = 0; i < 32; ++i) expected.push_back(specdec::argmax(target.logits(expected)));

    const auto run = [&](auto& drafter, auto& verifier) {
      std::vector<specdec::token_id> context{expected.front()};
      specdec::testing::draft_output drafted;
      verify_result result;
      std::vector<float> rows;
      std::vector<specdec::token_id> node_context;
      specdec::random_address address{model_seed, 0, 0, 0, specdec::purpose::draft_sample};
      while (context.size() < expected.size()) {
        drafter.draft(draft, context, address, drafted);
        rows.clear();
        for (std::int32_t i = 0; i < drafted.tree.size(); ++i) {
          specdec::testing::detail::node_context(drafted.tree, i, context, target.order(), node_context);
          const auto row = target.logits(node_context);
          rows.insert(rows.end(), row.begin(), row.end());
        }
        verify_input in;
        in.tree = drafted.tree;
        in.target_logits = specdec::const_matrix_view<float>(rows.data(), drafted.tree.size(), 6);
        in.draft_probs = drafted.q_view(6);
        in.params = specdec::sampling_params::make_greedy();
        in.address = address;
        verifier.verify(in, result);
        context.insert(context.end(), result.tokens.begin(), result.tokens.end());
        ++address.step;
        ++trees;
      }
      context.resize(expected.size());
      return context;
    };
    REQUIRE(run(random_trees, greedy) == expected);
    REQUIRE(run(random_trees, one_hot) == expected);
    REQUIRE(run(chains, chain) == expected);
  }
  INFO("trees verified: " << trees);
  REQUIRE(trees > 2000);
}

TEST_CASE("verifiers reject malformed input without touching their state") {
  const token_tree tree = example_tree();
  greedy_verifier verifier;
  verify_result result;
  std::vector<float> bad = logits;
  bad[7] = std::numeric_limits<float>::quiet_NaN();  // row 1
  REQUIRE_INVALID_ARGUMENT("target_logits row 1 (tree node 1), token[2] = nan", verifier.verify(input_for(tree, bad), result));
  bad[7] = std::numeric_limits<float>::infinity();
  REQUIRE_INVALID_ARGUMENT("target_logits row 1 (tree node 1), token[2] = inf", verifier.verify(input_for(tree, bad), result));

  verify_input in = input_for(tree, logits);
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 5, 5);  // one row short
  REQUIRE_INVALID_ARGUMENT("target_logits.rows() = 5", verifier.verify(in, result));
  in = input_for(tree, logits);
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 6, 3);  // vocabulary too small for token 3
  REQUIRE_INVALID_ARGUMENT("token[0] = 4", verifier.verify(in, result));  // the root is checked too
  in = input_for(tree, logits);
  in.tree = specdec::token_tree_view{};
  REQUIRE_INVALID_ARGUMENT("tree.size() = 0", verifier.verify(in, result));
  const std::vector<specdec::token_id> bad_stop{5};
  REQUIRE_INVALID_ARGUMENT("stop_tokens[0] = 5", verifier.verify(input_for(tree, logits, bad_stop), result));

  // The verifier still works after the errors.
  verifier.verify(input_for(tree, logits), result);
  REQUIRE(result.tokens == std::vector<specdec::token_id>{2, 3, 1, 2});
}

TEST_CASE("greedy log-probabilities keep their precision at any logit magnitude") {
  specdec::token_tree root(0);
  const std::vector<float> huge{1e30f, 1e30f, 1e30f, -1e30f};
  verify_input in;
  in.tree = root;
  in.target_logits = specdec::const_matrix_view<float>(huge.data(), 1, 4);
  in.params = specdec::sampling_params::make_greedy();
  greedy_verifier verifier;
  verify_result result;
  verifier.verify(in, result);
  REQUIRE(result.tokens == std::vector<specdec::token_id>{0});
  REQUIRE_THAT(result.logprobs[0], Catch::Matchers::WithinAbs(std::log(1.0 / 3.0), 1e-6));
  // A stride below the row length names the view's field and the columns.
  in.target_logits = specdec::const_matrix_view<float>(huge.data(), 2, 4, 3);
  REQUIRE_INVALID_ARGUMENT("target_logits.row_stride() = 3 violates row_stride >= cols (cols = 4)", verifier.verify(in, result));
}
