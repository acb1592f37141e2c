// The conformance kit on whole integrations: every drafter with the rules it is lossless for passes the
// two-sample test against the backend's own autoregressive sampling; backends with a wrong position, a
// wrong mask or a wrong commit, and a rule fed drafts it is not lossless for, fail it.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <string>
#include <vector>

#include "support/catch.hpp"
#include "toy_setup.hpp"

using specdec::draft_scheme;
using specdec::token_id;
using specdec::testing::integration_config;
using specdec::testing::toy_draft_model;
using specdec::testing::toy_target;

namespace {

#if SPECDEC_SANITIZE_BUILD
constexpr std::uint64_t trials = 2000;  // memory safety, not statistics
constexpr bool has_power = false;
#else
constexpr std::uint64_t trials = 50000;
constexpr bool has_power = true;
#endif
constexpr double alpha = 1e-6;

integration_config config_for(float temperature, std::uint64_t seed, float top_p = 1.0f) {
  integration_config c;
  c.prompt = {3, 7, 1};
  c.tokens = 2;
  c.trials = trials;
  c.batch = 16;
  c.params.temperature = temperature;
  c.params.top_p = top_p;
  c.seed = seed;
  c.speculation.max_depth = 4;
  return c;
}

template <class Composition = specdec::checked_composition, class Target, class Drafter, class Verifier>
specdec::testing::integration_report check(Target& target, Drafter& drafter, Verifier& verifier, const integration_config& c) {
  return specdec::testing::check_lossless<Composition>(target, drafter, verifier, c, alpha);
}

using sampled_chain = specdec::chain_drafter<toy_draft_model, draft_scheme::sampled_chain>;
using greedy_chain = specdec::chain_drafter<toy_draft_model, draft_scheme::deterministic>;
using with_replacement = specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_with_replacement>;
using without_replacement = specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_without_replacement>;

// Backends with one deliberate integration bug each, around the toy target.
struct wrong_positions : toy_target {  // position = committed + node index: the classic tree bug
  using toy_target::toy_target;
  void forward(const specdec::tree_forward_batch& batch, specdec::matrix_view<float> logits) {
    positions.assign(batch.positions.begin(), batch.positions.end());
    for (specdec::index_t b = 0; b < batch.batch_size(); ++b) {
      for (specdec::index_t i = 0; i < batch.trees.offsets().size(b); ++i) {
        positions[static_cast<std::size_t>(batch.trees.offsets().begin(b) + i)] = batch.committed[static_cast<std::size_t>(b)] + static_cast<std::int32_t>(i);
      }
    }
    specdec::tree_forward_batch wrong = batch;
    wrong.positions = positions;
    toy_target::forward(wrong, logits);
  }
  std::vector<std::int32_t> positions;
};
static_assert(specdec::target_model<wrong_positions>);

struct wrong_mask : toy_target {  // a causal mask over the tree's slots instead of its ancestors
  using toy_target::toy_target;
  void forward(const specdec::tree_forward_batch& batch, specdec::matrix_view<float> logits) {
    const specdec::index_t words = batch.mask.cols();
    mask.assign(static_cast<std::size_t>(batch.total_nodes() * words), 0u);
    for (specdec::index_t b = 0; b < batch.batch_size(); ++b) {
      for (specdec::index_t i = 0; i < batch.trees.offsets().size(b); ++i) {
        const specdec::index_t row = batch.trees.offsets().begin(b) + i;
        for (specdec::index_t j = 0; j <= i; ++j) mask[static_cast<std::size_t>(row * words + j / 32)] |= 1u << (j % 32);
      }
    }
    specdec::tree_forward_batch wrong = batch;
    wrong.mask = specdec::const_matrix_view<std::uint32_t>(mask.data(), batch.total_nodes(), words);
    toy_target::forward(wrong, logits);
  }
  std::vector<std::uint32_t> mask;
};

struct dropped_moves : toy_target {  // keeps the first entries of the tree instead of the accepted path
  using toy_target::toy_target;
  void commit(const specdec::kv_commit& c) {
    specdec::kv_commit wrong = c;
    wrong.moves = {};
    toy_target::commit(wrong);
  }
};

struct missed_commit : toy_target {
  using toy_target::toy_target;
  void commit(const specdec::kv_commit&) {}
};

}  // namespace

TEST_CASE("every drafter passes the integration kit with the rules it is lossless for") {
  toy_target target(specdec_test::toy_target_model(), 3);
  toy_draft_model draft(specdec_test::toy_draft_model(7, 0.5f));
  sampled_chain chain(draft, specdec_test::chain_options(3));
  greedy_chain greedy(draft, specdec_test::chain_options(3));
  with_replacement multi(draft, specdec_test::tree_options({3, 2}));
  without_replacement distinct(draft, specdec_test::tree_options({3, 2}));
  specdec::dynamic_tree_params tree_params;
  tree_params.top_k = 3;
  tree_params.max_depth = 3;
  tree_params.total_nodes = 10;
  specdec::dynamic_tree_drafter<toy_draft_model> dynamic(draft, tree_params);
  specdec::chain_verifier chain_rule;
  specdec::block_verifier block;
  specdec::multi_draft_verifier multi_rule;
  specdec::rrs_verifier rrs;
  specdec::one_hot_verifier one_hot;

  const auto expect_pass = [](const std::string& name, const specdec::testing::integration_report& r) {
    INFO(name << ": " << r.text());
    REQUIRE(r.passes());
    REQUIRE(r.speculative.tokens_per_step() > 1.1);
  };
  expect_pass("sampled chain + chain, T 1", check(target, chain, chain_rule, config_for(1.0f, 1)));
  expect_pass("sampled chain + block, T 1", check(target, chain, block, config_for(1.0f, 2)));
  expect_pass("sampled chain + block, T 0.7 top-p 0.9", check(target, chain, block, config_for(0.7f, 3, 0.9f)));
  expect_pass("sampled chain + rrs, T 0.7", check(target, chain, rrs, config_for(0.7f, 4)));
  expect_pass("tree with replacement + multi-draft, T 1", check(target, multi, multi_rule, config_for(1.0f, 5)));
  expect_pass("tree without replacement + rrs, T 1", check(target, distinct, rrs, config_for(1.0f, 6)));
  expect_pass("tree without replacement + rrs, T 0.7 top-p 0.9", check(target, distinct, rrs, config_for(0.7f, 7, 0.9f)));
  expect_pass("dynamic tree + one-hot, T 1", check(target, dynamic, one_hot, config_for(1.0f, 8)));
  expect_pass("greedy chain + one-hot, T 0.7", check(target, greedy, one_hot, config_for(0.7f, 9)));
  expect_pass("sampled chain + multi-draft, T 1", check(target, chain, multi_rule, config_for(1.0f, 14)));
  expect_pass("sampled chain + one-hot, T 1", check(target, chain, one_hot, config_for(1.0f, 15)));
  expect_pass("tree with replacement + one-hot, T 1", check(target, multi, one_hot, config_for(1.0f, 16)));
  expect_pass("tree without replacement + one-hot, T 0.7", check(target, distinct, one_hot, config_for(0.7f, 17)));
  // Model-free drafters: lookups over the request's own (short) context and earlier generations.
  specdec::suffix_tree_drafter suffix;
  specdec::ngram_cache_drafter cache;
  auto lookup_config = config_for(0.5f, 10);
  lookup_config.prompt = {3, 7, 1, 3, 7, 1, 3, 7};  // a repetitive prompt, so lookups find matches
  const auto suffix_report = check(target, suffix, one_hot, lookup_config);
  INFO("suffix tree + one-hot, T 0.5: " << suffix_report.text());
  REQUIRE(suffix_report.passes());
  REQUIRE(suffix_report.speculative.drafted > 0);
  lookup_config.seed = 13;
  const auto cache_report = check(target, cache, one_hot, lookup_config);
  INFO("n-gram cache + one-hot, T 0.5: " << cache_report.text());
  REQUIRE(cache_report.passes());
  REQUIRE(cache_report.speculative.drafted > 0);
  specdec::prompt_lookup_drafter lookup;
  lookup_config.seed = 18;
  const auto lookup_report = check(target, lookup, one_hot, lookup_config);
  INFO("prompt lookup + one-hot, T 0.5: " << lookup_report.text());
  REQUIRE(lookup_report.passes());
  REQUIRE(lookup_report.speculative.drafted > 0);
}

TEST_CASE("the kit fails backends with a wrong position, mask or commit") {
  toy_draft_model draft(specdec_test::toy_draft_model(7, 0.3f));
  without_replacement drafter(draft, specdec_test::tree_options({3, 2}));
  specdec::rrs_verifier rrs;
  const auto prompts = specdec_test::toy_prompts(6);

  wrong_positions positions(specdec_test::toy_target_model(), 3);
  const auto greedy_positions = specdec::testing::check_greedy(positions, drafter, rrs, std::span(prompts), 60);
  INFO("wrong positions, greedy: " << greedy_positions.text());
  REQUIRE_FALSE(greedy_positions.identical);

  wrong_mask mask(specdec_test::toy_target_model(), 3);
  const auto greedy_mask = specdec::testing::check_greedy(mask, drafter, rrs, std::span(prompts), 60);
  INFO("wrong mask, greedy: " << greedy_mask.text());
  REQUIRE_FALSE(greedy_mask.identical);

  dropped_moves moves(specdec_test::toy_target_model(), 3);
  const auto greedy_moves = specdec::testing::check_greedy(moves, drafter, rrs, std::span(prompts), 60);
  INFO("dropped KV moves, greedy: " << greedy_moves.text());
  REQUIRE_FALSE(greedy_moves.identical);

  missed_commit missed(specdec_test::toy_target_model(), 3);
  REQUIRE_THROWS_AS(specdec::testing::check_greedy(missed, drafter, rrs, std::span(prompts), 20), specdec::runtime_error);

  if (!has_power) return;
  const auto sampled_positions = check(positions, drafter, rrs, config_for(1.0f, 11));
  INFO("wrong positions, T 1: " << sampled_positions.text());
  REQUIRE_FALSE(sampled_positions.passes());
  const auto sampled_mask = check(mask, drafter, rrs, config_for(1.0f, 12));
  INFO("wrong mask, T 1: " << sampled_mask.text());
  REQUIRE_FALSE(sampled_mask.passes());
}

TEST_CASE("the kit fails a rule fed drafts it is not lossless for (opted in with unchecked_composition)") {
  if (!has_power) return;
  toy_target target(specdec_test::toy_target_model(), 3);
  // A draft far from the target, drawn without replacement, verified as if drawn with replacement.
  toy_draft_model draft(specdec_test::toy_draft_model(7, 1.0f));
  without_replacement distinct(draft, specdec_test::tree_options({4}));
  specdec::multi_draft_verifier multi_rule;
  STATIC_REQUIRE(!specdec::lossless_composition<without_replacement, specdec::multi_draft_verifier>);
  auto c = config_for(1.0f, 21);
  c.tokens = 1;  // the first token alone: the rule's bias at the root
  const auto report = check<specdec::unchecked_composition>(target, distinct, multi_rule, c);
  INFO(report.text());
  REQUIRE_FALSE(report.passes());
}
