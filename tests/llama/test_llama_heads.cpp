// The trained drafters of training/trained on stories260K: each C++ head backend reproduces the
// logits PyTorch computed for the same tokens (the test vectors stored in each file), and every
// trained drafter's greedy output equals autoregressive greedy decoding, with drafts accepted.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "drafter_registry.hpp"
#include "llama_draft.hpp"
#include "llama_target.hpp"
#include "model_files.hpp"
#include "safetensors.hpp"
#include "support/catch.hpp"
#include "trained_heads.hpp"
#include "verify/faulty_rules.hpp"

using llama::llama_target;
using specdec::index_t;
using specdec::token_id;

namespace {

// Runs `heads` (regressive) the way head_drafter does along the file's test sequence: prefill the
// tokens up to the root x[t + 1], hand over the prefill's states, prepare, then step a chain through
// x[t + 2 ...]. Returns the largest error relative to each row's largest |logit|.
template <class Heads>
double test_vector_error(Heads& heads, const llama::safetensors& file, index_t depth) {
  const llama::llama_model& model = llama_test::stories260k();
  const index_t vocab = model.config().vocab_size;
  const std::vector<float> t_raw = file.f32("test.context", {1});
  const auto t = static_cast<index_t>(t_raw[0]);
  const std::vector<float> raw = file.f32("test.tokens", {t + depth + 2});
  const std::vector<float> expected = file.f32("test.logits", {depth, vocab});
  std::vector<token_id> tokens;
  for (const float x : raw) tokens.push_back(static_cast<token_id>(x));
  const std::span<const token_id> context(tokens.data(), static_cast<std::size_t>(t + 2));  // ends with the root x[t + 1]
  llama_target target(model);
  target.prefill(0, context);
  specdec::context_states states;
  states.request = 0;
  states.tokens = context;
  states.first = 0;
  states.hidden = target.last_hidden_states();
  REQUIRE(states.hidden.rows() == t + 1);
  heads.observe(states);
  REQUIRE(heads.prepare(0, context) == depth);
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  double worst = 0.0;
  for (index_t d = 0; d < depth; ++d) {
    const std::int32_t parent = d == 0 ? -1 : static_cast<std::int32_t>(d - 1);
    const token_id token = tokens[static_cast<std::size_t>(t + 1 + d)];
    const std::int32_t slot = static_cast<std::int32_t>(d);
    specdec::head_step step;
    step.request = 0;
    step.depth = static_cast<std::int32_t>(d);
    step.parents = std::span<const std::int32_t>(&parent, 1);
    step.tokens = std::span<const token_id>(&token, 1);
    step.slots = std::span<const std::int32_t>(&slot, 1);
    heads.step(step, specdec::matrix_view<float>(logits.data(), 1, vocab));
    double scale = 0.0, err = 0.0;
    for (index_t v = 0; v < vocab; ++v) {
      const double e = expected[static_cast<std::size_t>(d * vocab + v)];
      scale = std::max(scale, std::abs(e));
      err = std::max(err, std::abs(e - static_cast<double>(logits[static_cast<std::size_t>(v)])));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

std::vector<std::vector<token_id>> prompts() {
  std::vector<std::vector<token_id>> out;
  for (const char* text : {"Once upon a time", "Tom had a red ball. He", "The little cat was sad because", "Ben liked to"}) {
    out.push_back(llama_test::tok512().encode(text));
  }
  return out;
}

} // namespace

TEST_CASE("trained Medusa heads reproduce PyTorch's logits on the stored test vectors") {
  const llama::safetensors file = llama::safetensors::load(llama_test::trained_path("medusa.safetensors"));
  llama::medusa_backend backend(file, llama_test::stories260k());
  specdec::medusa_heads<llama::medusa_backend> heads(backend);
  const double err = test_vector_error(heads, file, backend.num_heads());
  INFO("max relative error " << err);
  CHECK(err < 1e-4);
}

TEST_CASE("trained Hydra heads reproduce PyTorch's logits on the stored test vectors") {
  const llama::safetensors file = llama::safetensors::load(llama_test::trained_path("hydra.safetensors"));
  llama::hydra_backend backend(file, llama_test::stories260k());
  const double err = test_vector_error(backend, file, backend.depth());
  INFO("max relative error " << err);
  CHECK(err < 1e-4);
}

TEST_CASE("trained Clover-2 heads reproduce PyTorch's logits on the stored test vectors") {
  const llama::safetensors file = llama::safetensors::load(llama_test::trained_path("clover.safetensors"));
  llama::clover_backend backend(file, llama_test::stories260k());
  const double err = test_vector_error(backend, file, backend.depth());
  INFO("max relative error " << err);
  CHECK(err < 1e-4);
}

TEST_CASE("the Clover ablations (no regressive connection, no augmenting block) reproduce PyTorch's logits") {
  for (const std::string name : {"ablations/clover-no-regressive.safetensors", "ablations/clover-no-augment.safetensors"}) {
    const llama::safetensors file = llama::safetensors::load(llama_test::trained_path(name));
    llama::clover_backend backend(file, llama_test::stories260k());
    CHECK(backend.regressive() != (name.find("no-regressive") != std::string::npos));
    CHECK(backend.augmented() != (name.find("no-augment") != std::string::npos));
    const double err = test_vector_error(backend, file, backend.depth());
    INFO(name << ": max relative error " << err);
    CHECK(err < 1e-4);
  }
}

TEST_CASE("the trained EAGLE drafter reproduces PyTorch's logits on the stored test vectors") {
  const llama::safetensors file = llama::safetensors::load(llama_test::trained_path("eagle.safetensors"));
  llama::eagle_backend backend(file, llama_test::stories260k());
  const double err = test_vector_error(backend, file, backend.depth());
  INFO("max relative error " << err);
  CHECK(err < 1e-4);
}

TEST_CASE("a head file of another kind or shape is rejected, naming the field") {
  const llama::safetensors file = llama::safetensors::load(llama_test::trained_path("hydra.safetensors"));
  REQUIRE_THROWS_WITH(llama::medusa_backend(file, llama_test::stories260k()), contains_text("__metadata__.kind"));
}

TEST_CASE("trained drafters: greedy output equals autoregressive greedy, with drafts accepted") {
  const llama::llama_model& model = llama_test::stories260k();
  const llama::llama_model distilled_model = llama::llama_model::load(llama_test::trained_path("draft.bin"));
  const llama::safetensors medusa_file = llama::safetensors::load(llama_test::trained_path("medusa.safetensors"));
  const llama::safetensors hydra_file = llama::safetensors::load(llama_test::trained_path("hydra.safetensors"));
  const llama::safetensors clover_file = llama::safetensors::load(llama_test::trained_path("clover.safetensors"));
  const llama::safetensors eagle_file = llama::safetensors::load(llama_test::trained_path("eagle.safetensors"));
  const std::vector<std::vector<token_id>> ps = prompts();
  for (const std::string name : {"draft-model-chain", "draft-model", "medusa", "hydra", "clover", "eagle"}) {
    llama_target target(model);
    llama::llama_draft distilled(distilled_model);
    llama::medusa_backend medusa(medusa_file, model);
    llama::hydra_backend hydra(hydra_file, model);
    llama::clover_backend clover(clover_file, model);
    llama::eagle_backend eagle(eagle_file, model);
    llama::drafter_setup setup;
    setup.clover = &clover;
    setup.eagle = &eagle;
    setup.distilled = &distilled;
    setup.medusa = &medusa;
    setup.hydra = &hydra;
    specdec::testing::greedy_report report;
    REQUIRE(llama::with_drafter(name, false, setup, [&](auto& drafter, auto& verifier) {
      report = specdec::testing::check_greedy(target, drafter, verifier, std::span<const std::vector<token_id>>(ps), 120);
    }));
    INFO(name << ": " << report.text());
    REQUIRE(report.identical);
    CHECK(report.tokens == 120 * static_cast<index_t>(ps.size()));
    CHECK(report.speculative.tokens_per_step() > 1.3);  // trained drafts are accepted
  }
}

TEST_CASE("trained Clover heads at T = 1: the first two tokens are distributed as the target's (and a wrong rule is caught)") {
  // Chi-square test of homogeneity at alpha = 1e-6 between 6000 speculative and 6000 autoregressive
  // generations of two tokens after a prompt, over the real model and the trained heads: the heads'
  // states flow through observe/prepare, trees are drafted to full depth (up to 24 nodes) by sampling
  // without replacement and verified by recursive rejection sampling. The same run with the residual
  // left unnormalised must be rejected, so the test has the power to see a lossy rule here.
  const llama::llama_model& model = llama_test::stories260k();
  const llama::safetensors clover_file = llama::safetensors::load(llama_test::trained_path("clover.safetensors"));
  specdec::testing::integration_config config;
  config.prompt = llama_test::tok512().encode("Once upon a time, there was a little");
  config.tokens = 2;
  config.trials = 6000;
  config.params.temperature = 1.0f;
  config.speculation.max_nodes = 24;
  config.speculation.max_depth = 5;
  const auto run = [&](auto fault) {
    llama_target target(model);
    llama::clover_backend clover(clover_file, model);
    llama::drafter_setup setup;
    setup.clover = &clover;
    specdec::testing::integration_report report;
    REQUIRE(llama::with_drafter("clover", true, setup, [&](auto& drafter, auto&) {
      // with_drafter instantiates this for every drafter; "clover" sampled is drawn without replacement.
      if constexpr (std::remove_cvref_t<decltype(drafter)>::scheme == specdec::draft_scheme::sampled_without_replacement) {
        specdec_test::rrs_verifier_with<decltype(fault)::value> verifier;
        report = specdec::testing::check_lossless(target, drafter, verifier, config);
      } else {
        FAIL("clover at T = 1 should draw without replacement");
      }
    }));
    return report;
  };
  using specdec::testing::injected_fault;
  const auto exact = run(std::integral_constant<injected_fault, injected_fault::none>{});
  INFO("exact rule: " << exact.text());
  CHECK(exact.passes());
  CHECK(exact.speculative.tokens_per_step() > 1.5);  // drafts are accepted: the trees take part
  const auto wrong = run(std::integral_constant<injected_fault, injected_fault::skip_renormalisation>{});
  INFO("unnormalised residual: " << wrong.text());
  CHECK(!wrong.passes());
}
