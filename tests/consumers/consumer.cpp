// A user's translation unit: includes the umbrella header and uses a few primitives.
#include <specdec/specdec.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

int main() {
  if (std::strcmp(SPECDEC_VERSION_STRING, SPECDEC_EXPECTED_VERSION) != 0) {
    std::printf("version mismatch: header %s, package %s\n", SPECDEC_VERSION_STRING, SPECDEC_EXPECTED_VERSION);
    return 1;
  }
  const std::vector<float> logits{0.5f, 2.0f, 1.0f};
  specdec::logits_processor processor;
  std::vector<float> probs(logits.size());
  processor.probabilities(logits, specdec::sampling_params{}, probs);
  const specdec::random_address address{7, 0, 0, 0, specdec::purpose::bonus};
  const specdec::token_id sampled = specdec::sample_gumbel_max(logits, address);
  std::printf("specdec %s: argmax %d, sampled %d\n", SPECDEC_VERSION_STRING, specdec::argmax(logits), sampled);
  return specdec::argmax(logits) == 1 && sampled >= 0 && sampled < 3 ? 0 : 1;
}
