// A ragged batch, each request with its own tree, parameters, address and stop tokens, verifies to
// exactly the results of running the requests one by one.
#include <specdec/testing.hpp>

#include <vector>

#include "support/catch.hpp"

namespace {

struct batch_fixture {
  specdec::token_tree_batch trees;
  std::vector<float> logits;
  std::vector<float> q;
  std::vector<specdec::sampling_params> params;
  std::vector<specdec::random_address> addresses;
  std::vector<std::int32_t> stop_offsets{0};
  std::vector<specdec::token_id> stops;

  specdec::verify_batch_input input() const {
    specdec::verify_batch_input in;
    in.trees = trees.view();
    in.target_logits = specdec::const_matrix_view<float>(logits.data(), trees.total_nodes(), 6);
    in.draft_probs = specdec::const_matrix_view<float>(q.data(), trees.total_nodes(), 6);
    in.params = params;
    in.addresses = addresses;
    in.stop_offsets = specdec::ragged_offsets(stop_offsets);
    in.stop_tokens = stops;
    return in;
  }
};

// `chains`: draft chains (for the chain rule) rather than sampled trees without replacement.
batch_fixture make_batch(bool chains) {
  batch_fixture f;
  const auto target = specdec::testing::markov_model::random(6, 2, 5);
  const auto draft = target.mixed_with(specdec::testing::markov_model::random(6, 2, 6), 0.3f);
  for (std::uint32_t b = 0; b < 9; ++b) {
    specdec::sampling_params p;
    p.temperature = b % 3 == 0 ? 0.0f : 0.6f + 0.2f * static_cast<float>(b % 4);
    p.top_k = b % 2 == 0 ? 4 : -1;
    p.top_p = b % 4 == 1 ? 0.9f : 1.0f;
    const std::vector<specdec::token_id> context{static_cast<specdec::token_id>(b % 6), static_cast<specdec::token_id>((b * 5) % 6)};
    specdec::testing::draft_output drafted;
    const specdec::random_address address{1000 + b, b, 7 * b, 0, specdec::purpose::draft_sample};
    if (chains) {
      specdec::testing::chain_sampling_drafter drafter(static_cast<int>(b % 4), p.greedy() ? specdec::sampling_params{} : p);
      drafter.draft(draft, context, address, drafted);
    } else {
      specdec::testing::sampled_tree_drafter drafter({static_cast<int>(1 + b % 3), 2}, specdec::sampling_params{}, false);
      drafter.draft(draft, context, address, drafted);
    }
    f.trees.push_back(drafted.tree);
    for (std::int32_t i = 0; i < drafted.tree.size(); ++i) {
      std::vector<specdec::token_id> node_context;
      specdec::testing::detail::node_context(drafted.tree, i, context, 2, node_context);
      const auto row = target.logits(node_context);
      f.logits.insert(f.logits.end(), row.begin(), row.end());
    }
    f.q.insert(f.q.end(), drafted.q.begin(), drafted.q.end());
    f.params.push_back(p);
    f.addresses.push_back(address);
    if (b % 3 == 1) f.stops.push_back(static_cast<specdec::token_id>(b % 6));
    f.stop_offsets.push_back(static_cast<std::int32_t>(f.stops.size()));
  }
  return f;
}

template <class Rule>
void require_batch_equals_sequential(const batch_fixture& f) {
  Rule batched, single;
  const auto in = f.input();
  std::vector<specdec::verify_result> results(9);
  for (std::uint32_t step = 0; step < 30; ++step) {  // several steps: different random draws
    auto stepped = in;
    std::vector<specdec::random_address> addresses = f.addresses;
    for (auto& a : addresses) a.step += step;
    stepped.addresses = addresses;
    specdec::verify_batch(batched, stepped, results);
    for (specdec::index_t b = 0; b < 9; ++b) {
      specdec::verify_result one;
      single.verify(stepped.request(b), one);
      const auto& r = results[static_cast<std::size_t>(b)];
      REQUIRE(r.path == one.path);
      REQUIRE(r.tokens == one.tokens);
      REQUIRE(r.logprobs == one.logprobs);
      REQUIRE(r.depth_accepted == one.depth_accepted);
      REQUIRE(r.stopped == one.stopped);
    }
  }
}

}  // namespace

TEST_CASE("every verifier over a ragged batch equals the requests one by one") {
  const batch_fixture trees = make_batch(false);
  const batch_fixture chains = make_batch(true);
  require_batch_equals_sequential<specdec::greedy_verifier>(trees);
  require_batch_equals_sequential<specdec::one_hot_verifier>(trees);
  require_batch_equals_sequential<specdec::multi_draft_verifier>(trees);
  require_batch_equals_sequential<specdec::rrs_verifier>(trees);
  require_batch_equals_sequential<specdec::lossy_typical_acceptance_verifier>(trees);
  require_batch_equals_sequential<specdec::chain_verifier>(chains);
  require_batch_equals_sequential<specdec::block_verifier>(chains);
}

TEST_CASE("a malformed batch is rejected with the request named") {
  batch_fixture f = make_batch(false);
  specdec::rrs_verifier rule;
  std::vector<specdec::verify_result> results(9);
  auto in = f.input();
  in.params = std::span(f.params).first(8);
  REQUIRE_INVALID_ARGUMENT("params.size() = 8", specdec::verify_batch(rule, in, results));
  in = f.input();
  REQUIRE_INVALID_ARGUMENT("results.size() = 3", specdec::verify_batch(rule, in, std::span(results).first(3)));
  in.target_logits = specdec::const_matrix_view<float>(f.logits.data(), 4, 6);
  REQUIRE_INVALID_ARGUMENT("target_logits.rows() = 4", specdec::verify_batch(rule, in, results));
  f.params[5].top_p = 2.0f;
  in = f.input();
  REQUIRE_INVALID_ARGUMENT("in requests[5]: specdec: top_p = 2", specdec::verify_batch(rule, in, results));
}
