// The README's first example: process a row of logits, then draw a token at a fixed random address.
#include <specdec/specdec.hpp>

#include <cstdio>
#include <vector>

int main() {
  // Next-token logits over a toy vocabulary of six tokens; -inf masks a token.
  const std::vector<float> logits{2.0f, 1.5f, 0.3f, -0.7f, 1.5f, -2.0f};

  specdec::sampling_params params;  // every filter starts at its "off" value
  params.temperature = 0.8f;
  params.top_p = 0.9f;

  specdec::logits_processor processor;  // keeps its workspace between calls
  std::vector<float> processed(logits.size()), p(logits.size());
  processor.process(logits, params, processed);  // temperature -> top-k -> top-p -> min-p
  processor.probabilities(logits, params, p);    // softmax of the processed row

  // The fixed address of this draw: seed (Philox key), request, step, tree node, purpose.
  const specdec::random_address address{/*seed=*/42, /*request=*/0, /*step=*/0, /*node=*/0,
                                        specdec::purpose::bonus};
  const specdec::token_id sampled = specdec::sample_gumbel_max(processed, address);
  const specdec::token_id greedy = specdec::argmax(logits);  // ties go to the lowest id
  std::printf("greedy %d, sampled %d with p = %.3f\n", greedy, sampled, p[static_cast<std::size_t>(sampled)]);
  return greedy == 0 && p[static_cast<std::size_t>(sampled)] > 0.0f ? 0 : 1;
}
