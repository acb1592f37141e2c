// specdec's decoders on the real stories260K backend: every drafter's greedy output equals
// autoregressive greedy decoding, sampling is reproducible from the seed, and the conformance kit's
// distributional check passes on this backend.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <string>
#include <vector>

#include "drafter_registry.hpp"
#include "llama_draft.hpp"
#include "llama_target.hpp"
#include "model_files.hpp"
#include "support/catch.hpp"

using llama::llama_draft;
using llama::llama_target;
using specdec::index_t;
using specdec::token_id;

namespace {

#if SPECDEC_SANITIZE_BUILD
constexpr index_t greedy_tokens = 40;  // memory safety, not coverage
constexpr std::size_t greedy_prompts = 4;
constexpr std::uint64_t lossless_trials = 240;
#else
constexpr index_t greedy_tokens = 200;
constexpr std::size_t greedy_prompts = 10;
constexpr std::uint64_t lossless_trials = 3000;
#endif

// Ten prompts: five texts through the tokenizer, five drawn from the model itself (T = 1 from BOS,
// fixed seeds, 6 to 14 tokens).
std::vector<std::vector<token_id>> prompts() {
  std::vector<std::vector<token_id>> out;
  for (const char* text : {"Once upon a time", "Tom had a red ball. He", "The little cat was sad because",
                           "One day, Lily and her mom went to the park. They saw", "Ben liked to"}) {
    out.push_back(llama_test::tok512().encode(text));
  }
  llama_target target(llama_test::stories260k());
  specdec::autoregressive_decoder<llama_target> sampler(target);
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    specdec::request_options o;
    o.params.temperature = 1.0f;
    o.seed = seed;
    o.max_new_tokens = static_cast<index_t>(4 + 2 * seed);
    const std::vector<token_id> bos{1};
    std::vector<token_id> p = sampler.generate(bos, o);
    p.insert(p.begin(), 1);
    out.push_back(p);
  }
  out.resize(greedy_prompts);
  return out;
}

// The target and the model-based drafters' models of one run, wired into a drafter_setup: a draft model
// of `draft_layers` layers (0: all) and the layer-skip drafters on the target's first 2 of 5 layers.
struct llama_run {
  llama_run(const llama::llama_model& model, index_t draft_layers, float draft_temperature)
      : target(model), draft(model, draft_layers), layer_skip(model, 2) {
    setup.draft = &draft;
    setup.layer_skip = &layer_skip;
    setup.target = &target;
    setup.skip_layers = 2;
    setup.draft_params.temperature = draft_temperature;
  }
  llama_target target;
  llama_draft draft, layer_skip;
  llama::drafter_setup setup;
};

} // namespace

TEST_CASE("speculative greedy decoding equals autoregressive greedy for every drafter (200 tokens, 10 prompts)") {
  const llama::llama_model& model = llama_test::stories260k();
  const std::vector<std::vector<token_id>> ps = prompts();
  for (const std::string& name : llama::drafter_names()) {
    if (llama::needs_trained(name)) continue;  // the trained drafters: test_llama_heads.cpp
    llama_run run(model, 0, 1.0f);  // the only checkpoint at hand drafts for itself
    specdec::testing::greedy_report report;
    REQUIRE(llama::with_drafter(name, false, run.setup, [&](auto& drafter, auto& verifier) {
      report = specdec::testing::check_greedy(run.target, drafter, verifier, std::span<const std::vector<token_id>>(ps), greedy_tokens);
    }));
    INFO(name << ": " << report.text());
    REQUIRE(report.identical);
    CHECK(report.tokens == greedy_tokens * static_cast<index_t>(ps.size()));
    if (name == "draft-chain" || name == "draft-tree") CHECK(report.speculative.tokens_per_step() > 3.0);
    if (name == "layer-skip" || name == "layer-skip-tree") CHECK(report.speculative.tokens_per_step() > 1.0);
    if (name == "autoregressive") CHECK(report.speculative.tokens_per_step() == 1.0);
  }
}

TEST_CASE("sampled speculative decoding: the same seed gives the same tokens") {
  // Each run starts from fresh drafter state: drafters that learn across requests (n-gram, suffix)
  // draft differently after earlier requests, and the tokens then follow other random draws (from the
  // same distribution).
  const llama::llama_model& model = llama_test::stories260k();
  const std::vector<token_id> prompt = llama_test::tok512().encode("Once upon a time");
  for (const std::string name : {"draft-chain", "draft-tree", "layer-skip", "layer-skip-tree", "suffix"}) {
    std::vector<std::vector<token_id>> runs;
    for (const std::uint64_t seed : {7u, 7u, 8u}) {
      llama_run run(model, 3, 1.0f);
      llama::with_drafter(name, true, run.setup, [&](auto& drafter, auto& verifier) {
        specdec::speculative_decoder decoder(run.target, drafter, verifier);
        specdec::request_options o;
        o.params.temperature = 1.0f;
        o.params.top_p = 0.95f;
        o.seed = seed;
        o.max_new_tokens = 60;
        runs.push_back(decoder.generate(prompt, o));
      });
    }
    INFO(name);
    REQUIRE(runs.size() == 3);
    CHECK(runs[0].size() == 60);
    CHECK(runs[0] == runs[1]);
    CHECK(runs[0] != runs[2]);
  }
}

TEST_CASE("the conformance kit's distributional check passes on the llama backend") {
  const llama::llama_model& model = llama_test::stories260k();
  specdec::testing::integration_config config;
  config.prompt = llama_test::tok512().encode("The dog");
  config.tokens = 2;
  config.trials = lossless_trials;
  config.batch = 8;
  config.params.temperature = 1.0f;
  config.speculation.max_depth = 4;
  for (const std::string name : {"draft-chain", "draft-tree", "layer-skip", "layer-skip-tree"}) {
    llama_run run(model, 3, 1.0f);
    specdec::testing::integration_report report;
    llama::with_drafter(name, true, run.setup, [&](auto& drafter, auto& verifier) {
      report = specdec::testing::check_lossless(run.target, drafter, verifier, config, 1e-6);
    });
    INFO(name << ": " << report.text());
    CHECK(report.passes());
    CHECK(report.speculative.drafted > 0);  // trees were drafted and verified, not only roots
    if (name != "layer-skip" && name != "layer-skip-tree") CHECK(report.speculative.tokens_per_step() > 1.0);
  }
}
