// specdec sampling tour: the sampling primitives every verifier is built on. A row of next-token logits over a
// toy vocabulary goes through the request's processing (temperature -> top-k -> top-p -> min-p); the
// processed distribution p is printed, and seeded samples are drawn from it with Gumbel-max. Each draw
// has a fixed Philox address (seed, request, step, node, purpose), so reruns print the same tokens.
#include <specdec/specdec.hpp>

#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace {

void show(const char* title, const std::vector<std::string>& vocab, const std::vector<float>& logits,
          const specdec::sampling_params& params, specdec::logits_processor& processor) {
  std::vector<float> processed(logits.size()), probs(logits.size());
  processor.process(logits, params, processed);
  processor.probabilities(logits, params, probs);
  std::printf("\n%s  (temperature %.2f, top_k %d, top_p %.2f, min_p %.2f)\n", title, params.temperature,
              params.top_k, params.top_p, params.min_p);
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    std::printf("  %-8s logit %6.2f  p %.4f  %s\n", vocab[i].c_str(), logits[i], probs[i],
                std::string(static_cast<std::size_t>(probs[i] * 40.0f + 0.5f), '#').c_str());
  }
  // Ten draws at steps 0..9 of request 0; the seed is the Philox key.
  specdec::random_address address{/*seed=*/2026, /*request=*/0, /*step=*/0, /*node=*/0, specdec::purpose::bonus};
  std::printf("  samples:");
  for (std::uint32_t step = 0; step < 10; ++step) {
    address.step = step;
    const specdec::token_id token = specdec::sample_gumbel_max(processed, address);
    std::printf(" %s", vocab[static_cast<std::size_t>(token)].c_str());
  }
  std::printf("\n");
}

}  // namespace

int main() {
  std::printf("specdec %s: sampling primitives\n", SPECDEC_VERSION_STRING);
  const std::vector<std::string> vocab{"the", "a", "cat", "dog", "sat", "ran", "<eos>", "<pad>"};
  constexpr float masked = -std::numeric_limits<float>::infinity();  // e.g. a grammar mask
  const std::vector<float> logits{2.1f, 1.7f, 0.9f, 0.8f, 0.2f, -0.5f, -1.0f, masked};
  specdec::logits_processor processor;

  show("plain softmax", vocab, logits, specdec::sampling_params{}, processor);
  specdec::sampling_params nucleus;
  nucleus.temperature = 0.7f;
  nucleus.top_p = 0.8f;
  show("nucleus", vocab, logits, nucleus, processor);
  specdec::sampling_params filtered;
  filtered.top_k = 4;
  filtered.min_p = 0.3f;
  show("top-k + min-p", vocab, logits, filtered, processor);
  show("greedy", vocab, logits, specdec::sampling_params::make_greedy(), processor);
  return 0;
}
