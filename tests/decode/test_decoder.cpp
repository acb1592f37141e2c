// The decoding loop: greedy identity with autoregressive decoding for every drafter and rule, stop
// tokens, truncation, empty drafts, ragged batches, context limits, speculation control, determinism
// and bad input.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "toy_setup.hpp"

using specdec::draft_scheme;
using specdec::finish_reason;
using specdec::request_options;
using specdec::token_id;
using specdec::testing::toy_draft_model;
using specdec::testing::toy_target;

namespace {

using greedy_chain = specdec::chain_drafter<toy_draft_model, draft_scheme::deterministic>;
using sampled_chain = specdec::chain_drafter<toy_draft_model, draft_scheme::sampled_chain>;
using dynamic_tree = specdec::dynamic_tree_drafter<toy_draft_model>;
using with_replacement = specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_with_replacement>;
using without_replacement = specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_without_replacement>;

specdec::dynamic_tree_params small_tree() {
  specdec::dynamic_tree_params p;
  p.top_k = 3;
  p.max_depth = 4;
  p.total_nodes = 12;
  return p;
}

// Runs the greedy check for one drafter + verifier pair and requires identity with autoregressive.
template <class Drafter, class Verifier>
void require_greedy_identity(const std::string& name, Drafter& drafter, Verifier& verifier, double min_tau) {
  toy_target target(specdec_test::toy_target_model(), /*position_period=*/3);
  const auto prompts = specdec_test::toy_prompts(12);
  const auto report = specdec::testing::check_greedy(target, drafter, verifier, std::span(prompts), 150);
  INFO(name << ": " << report.text());
  REQUIRE(report.identical);
  REQUIRE(report.tokens == 12 * 150);
  REQUIRE(report.speculative.tokens_per_step() >= min_tau);
}

// A drafter that proposes more nodes than the budget allows.
struct overdrafter {
  static constexpr draft_scheme scheme = draft_scheme::deterministic;
  void draft(const specdec::draft_context& c, specdec::draft_tree& out) {
    for (specdec::index_t i = 0; i < c.max_nodes; ++i) out.tree.add_child(0, 1);
  }
};

}  // namespace

TEST_CASE("greedy speculative decoding equals autoregressive greedy for every drafter and rule") {
  toy_draft_model draft(specdec_test::toy_draft_model());
  greedy_chain chain(draft, specdec_test::chain_options(4));
  sampled_chain sampled(draft, specdec_test::chain_options(4));
  dynamic_tree tree(draft, small_tree());
  with_replacement multi(draft, specdec_test::tree_options({3, 2, 1}));
  without_replacement distinct(draft, specdec_test::tree_options({3, 2, 1}));
  specdec::no_drafter none;
  specdec::greedy_verifier greedy;
  specdec::one_hot_verifier one_hot;
  specdec::chain_verifier chain_rule;
  specdec::block_verifier block;
  specdec::multi_draft_verifier multi_rule;
  specdec::rrs_verifier rrs;
  // The draft model is close to the target: every drafter must gain (tau > 1.3) except the empty one.
  require_greedy_identity("greedy chain + greedy", chain, greedy, 1.3);
  require_greedy_identity("greedy chain + one-hot", chain, one_hot, 1.3);
  require_greedy_identity("sampled chain + chain", sampled, chain_rule, 1.3);
  require_greedy_identity("sampled chain + block", sampled, block, 1.3);
  require_greedy_identity("sampled chain + multi-draft", sampled, multi_rule, 1.3);
  require_greedy_identity("sampled chain + rrs", sampled, rrs, 1.3);
  require_greedy_identity("dynamic tree + one-hot", tree, one_hot, 1.3);
  require_greedy_identity("dynamic tree + greedy", tree, greedy, 1.3);
  require_greedy_identity("sampled chain + one-hot", sampled, one_hot, 1.3);
  require_greedy_identity("tree with replacement + multi-draft", multi, multi_rule, 1.3);
  require_greedy_identity("tree with replacement + one-hot", multi, one_hot, 1.3);
  require_greedy_identity("tree without replacement + rrs", distinct, rrs, 1.3);
  require_greedy_identity("tree without replacement + one-hot", distinct, one_hot, 1.3);
  require_greedy_identity("no drafts + one-hot", none, one_hot, 1.0);
  // Model-free drafters: greedy toy generations fall into cycles that lookups predict.
  specdec::prompt_lookup_drafter lookup;
  specdec::ngram_cache_drafter cache;
  specdec::suffix_tree_drafter suffix;
  require_greedy_identity("prompt lookup + one-hot", lookup, one_hot, 1.3);
  require_greedy_identity("prompt lookup + greedy", lookup, greedy, 1.3);
  require_greedy_identity("n-gram cache + one-hot", cache, one_hot, 1.3);
  require_greedy_identity("suffix tree + one-hot", suffix, one_hot, 1.3);
}

TEST_CASE("a lookup with no match drafts nothing and the step still emits one token") {
  toy_target target(specdec_test::toy_target_model(), 3);
  specdec::prompt_lookup_drafter lookup;
  specdec::one_hot_verifier verifier;
  specdec::speculative_decoder decoder(target, lookup, verifier);
  request_options o;
  o.max_new_tokens = 1;
  o.params.temperature = 1.0f;
  // Distinct tokens: no suffix occurred before. max_new_tokens 1 would trim drafting anyway, so also
  // check a longer request's first step.
  const std::vector<token_id> prompt{1, 2, 3, 4, 5};
  REQUIRE(decoder.generate(prompt, o).size() == 1);
  o.max_new_tokens = 10;
  decoder.add_request(0, prompt, o);
  decoder.step();
  REQUIRE(decoder.tokens(0).size() == 1);
  REQUIRE(decoder.stats().drafted == 0);
}

TEST_CASE("the same seed gives the same tokens, another seed other tokens") {
  toy_target target(specdec_test::toy_target_model(), 3);
  toy_draft_model draft(specdec_test::toy_draft_model());
  without_replacement drafter(draft, specdec_test::tree_options({2, 2}));
  specdec::rrs_verifier verifier;
  specdec::speculative_decoder decoder(target, drafter, verifier);
  request_options o;
  o.params.temperature = 1.0f;
  o.seed = 42;
  o.max_new_tokens = 60;
  const std::vector<token_id> prompt{1, 2, 3};
  const auto first = decoder.generate(prompt, o);
  const auto again = decoder.generate(prompt, o);
  o.seed = 43;
  const auto other = decoder.generate(prompt, o);
  REQUIRE(first.size() == 60);
  REQUIRE(first == again);
  REQUIRE(first != other);
}

TEST_CASE("a stop token inside an accepted run ends the generation there") {
  toy_target target(specdec_test::toy_target_model(), 3);
  toy_draft_model draft(specdec_test::toy_target_model());  // the draft equals the target's Markov part
  greedy_chain drafter(draft, specdec_test::chain_options(6));
  specdec::greedy_verifier verifier;
  specdec::autoregressive_decoder<toy_target> ar(target);
  request_options o;
  o.params = specdec::sampling_params::make_greedy();
  o.max_new_tokens = 40;
  const std::vector<token_id> prompt{5, 9};
  const auto reference = ar.generate(prompt, o);
  specdec::speculative_decoder decoder(target, drafter, verifier);
  bool stopped_mid_run = false;
  for (std::size_t k = 2; k < 20; ++k) {
    request_options s = o;
    s.stop_tokens = {reference[k]};
    const auto first = static_cast<std::size_t>(std::find(reference.begin(), reference.end(), reference[k]) - reference.begin());
    decoder.add_request(0, prompt, s);
    decoder.run();
    const auto out = decoder.tokens(0);
    INFO("stop token " << reference[k] << " first generated at " << first);
    REQUIRE(decoder.status(0) == finish_reason::stop_token);
    REQUIRE(std::vector<token_id>(out.begin(), out.end()) == std::vector<token_id>(reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(first) + 1));
    // The target's cache holds exactly the context before the last emitted token.
    REQUIRE(target.cache(0).size() == prompt.size() + out.size() - 1);
    decoder.release(0);
    stopped_mid_run = stopped_mid_run || decoder.stats().accepted_histogram.size() > 2;
  }
  REQUIRE(stopped_mid_run);
}

TEST_CASE("max_new_tokens truncates an accepted run; requests of a batch finish at different steps") {
  toy_target target(specdec_test::toy_target_model(), 3);
  toy_draft_model draft(specdec_test::toy_target_model());
  greedy_chain drafter(draft, specdec_test::chain_options(5));
  specdec::one_hot_verifier verifier;
  specdec::speculative_decoder decoder(target, drafter, verifier);
  specdec::autoregressive_decoder<toy_target> ar(target);
  const auto prompts = specdec_test::toy_prompts(6);
  std::vector<std::vector<token_id>> expected;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    request_options o;
    o.params = specdec::sampling_params::make_greedy();
    o.max_new_tokens = static_cast<specdec::index_t>(3 + 7 * i);  // 3, 10, 17, ...
    expected.push_back(ar.generate(prompts[i], o, 100));
    decoder.add_request(static_cast<specdec::request_id>(i), prompts[i], o);
  }
  std::vector<specdec::index_t> finished_at(prompts.size(), -1);
  for (specdec::index_t step = 0, running = 1; running > 0; ++step) {
    running = decoder.step();
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      if (finished_at[i] < 0 && decoder.status(static_cast<specdec::request_id>(i)) != finish_reason::running) finished_at[i] = step;
    }
  }
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto out = decoder.tokens(static_cast<specdec::request_id>(i));
    REQUIRE(std::vector<token_id>(out.begin(), out.end()) == expected[i]);
    REQUIRE(decoder.status(static_cast<specdec::request_id>(i)) == finish_reason::length);
    REQUIRE(target.cache(static_cast<specdec::request_id>(i)).size() == prompts[i].size() + out.size() - 1);
  }
  REQUIRE(finished_at.front() < finished_at.back());
}

TEST_CASE("empty drafts still emit one token per step, and a drafter that breaks its budget is an error") {
  toy_target target(specdec_test::toy_target_model(), 3);
  specdec::no_drafter none;
  specdec::one_hot_verifier verifier;
  specdec::speculative_decoder decoder(target, none, verifier);
  request_options o;
  o.max_new_tokens = 25;
  o.params.temperature = 0.8f;
  REQUIRE(decoder.generate(std::vector<token_id>{1}, o).size() == 25);
  REQUIRE(decoder.stats().request_steps == 25);
  REQUIRE(decoder.stats().tokens_per_step() == 1.0);

  overdrafter over;
  specdec::speculative_decoder bad(target, over, verifier);
  REQUIRE_THROWS_AS(bad.generate(std::vector<token_id>{1}, o), specdec::runtime_error);
}

TEST_CASE("the context limit bounds every tree and ends the request") {
  toy_target target(specdec_test::toy_target_model(), 3, /*max_context=*/24);
  toy_draft_model draft(specdec_test::toy_draft_model());
  dynamic_tree drafter(draft, small_tree());
  specdec::one_hot_verifier verifier;
  specdec::speculative_decoder decoder(target, drafter, verifier);
  request_options o;
  o.max_new_tokens = 100;
  o.params.temperature = 1.0f;
  const std::vector<token_id> prompt{3, 4, 5};
  decoder.add_request(0, prompt, o);
  decoder.run();  // toy_target throws if a tree would overflow its 24 entries
  REQUIRE(decoder.status(0) == finish_reason::context_full);
  // The cache holds 24 entries; the last token (the 25th) is never cached.
  REQUIRE(prompt.size() + decoder.tokens(0).size() == 25);
  REQUIRE(target.cache(0).size() == 24);
}

TEST_CASE("speculation control: adaptive depth and switching off a request that does not gain") {
  toy_target target(specdec_test::toy_target_model(), 3);
  toy_draft_model far(specdec::testing::markov_model::random(specdec_test::toy_vocab, 2, 999, 2.0f));
  greedy_chain drafter(far, specdec_test::chain_options(6));
  specdec::one_hot_verifier verifier;
  specdec::speculation_options control;
  control.max_depth = 6;
  control.adaptive_depth = true;
  control.disable_below = 0.5;
  control.window = 8;
  specdec::speculative_decoder decoder(target, drafter, verifier, control);
  request_options o;
  o.max_new_tokens = 200;
  o.params = specdec::sampling_params::make_greedy();
  decoder.add_request(0, std::vector<token_id>{1, 2}, o);
  for (int i = 0; i < 40 && decoder.status(0) == finish_reason::running; ++i) decoder.step();
  REQUIRE_FALSE(decoder.speculating(0));
  const auto drafted = decoder.stats().drafted;
  decoder.run();
  REQUIRE(decoder.stats().drafted == drafted);  // nothing drafted once off
  // Adaptive depth shrank the chains before the switch-off: fewer drafts than 6 per step on average.
  REQUIRE(static_cast<double>(drafted) / static_cast<double>(decoder.stats().request_steps) < 6.0);
}

TEST_CASE("the decoder rejects bad requests with clear errors") {
  toy_target target(specdec_test::toy_target_model(), 3);
  specdec::no_drafter none;
  specdec::one_hot_verifier verifier;
  specdec::speculative_decoder decoder(target, none, verifier);
  request_options o;
  REQUIRE_INVALID_ARGUMENT("prompt.size() = 0", decoder.add_request(0, std::vector<token_id>{}, o));
  REQUIRE_INVALID_ARGUMENT("prompt[1] = 16", decoder.add_request(0, std::vector<token_id>{1, 16}, o));
  o.max_new_tokens = 0;
  REQUIRE_INVALID_ARGUMENT("max_new_tokens = 0", decoder.add_request(0, std::vector<token_id>{1}, o));
  o.max_new_tokens = 4;
  o.stop_tokens = {-1};
  REQUIRE_INVALID_ARGUMENT("stop_tokens[0] = -1", decoder.add_request(0, std::vector<token_id>{1}, o));
  o.stop_tokens.clear();
  decoder.add_request(0, std::vector<token_id>{1}, o);
  REQUIRE_INVALID_ARGUMENT("request = 0", decoder.add_request(0, std::vector<token_id>{1}, o));
  REQUIRE_INVALID_ARGUMENT("request = 5", decoder.release(5));
  specdec::speculation_options bad;
  bad.max_nodes = 0;
  REQUIRE_INVALID_ARGUMENT("max_nodes = 0", specdec::speculative_decoder(target, none, verifier, bad));
}
