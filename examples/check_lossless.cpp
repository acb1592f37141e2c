// The conformance kit in 20 lines: is "my drafter + speculative sampling" lossless? Run it against a toy
// Markov target with a draft model at a controlled distance, and test the joint distribution of the
// first three emitted tokens against the exact one (chi-square, alpha = 1e-6).
#include <specdec/testing.hpp>

#include <cstdio>

int main() {
  using namespace specdec::testing;
  const auto target = markov_model::random(/*vocab=*/5, /*order=*/2, /*seed=*/42);
  const auto draft = target.mixed_with(markov_model::random(5, 2, 43), /*weight=*/0.3f);

  chain_sampling_drafter drafter(/*depth=*/2, specdec::sampling_params{});
  specdec::chain_verifier verifier;

  monte_carlo_config config;
  config.tokens = 3;  // the joint of the first 3 emitted tokens: depth + 1
  config.trials = 100000;
  config.target_params.temperature = 0.8f;
  config.target_params.top_p = 0.9f;

  const conformance_report report = check_lossless(target, draft, drafter, verifier, config, /*alpha=*/1e-6);
  std::printf("%s\n", report.text().c_str());
  return report.passes() ? 0 : 1;
}
