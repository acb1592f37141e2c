// The toy backends every decoding test uses: a Markov target of order 2 over 16 tokens whose logits
// also depend on position, and a draft model close to it.
#pragma once

#include <cstdint>
#include <vector>

#include <specdec/testing.hpp>

namespace specdec_test {

inline constexpr specdec::index_t toy_vocab = 16;

inline specdec::testing::markov_model toy_target_model(std::uint64_t seed = 7) {
  return specdec::testing::markov_model::random(toy_vocab, 2, seed, 2.0f);
}

// The draft: the target's Markov table mixed 30% with another one (it does not see positions).
inline specdec::testing::markov_model toy_draft_model(std::uint64_t seed = 7, float distance = 0.3f) {
  return toy_target_model(seed).mixed_with(specdec::testing::markov_model::random(toy_vocab, 2, seed + 101, 2.0f), distance);
}

// Prompts of lengths 1 .. count with pseudo-random tokens.
inline std::vector<std::vector<specdec::token_id>> toy_prompts(int count, std::uint64_t seed = 3) {
  std::vector<std::vector<specdec::token_id>> prompts;
  const specdec::random_address a{seed, 0, 0, 0, specdec::purpose::draft_sample};
  std::uint32_t word = 0;
  for (int n = 1; n <= count; ++n) {
    std::vector<specdec::token_id> p;
    for (int i = 0; i < n; ++i) p.push_back(static_cast<specdec::token_id>(a.word(word++) % toy_vocab));
    prompts.push_back(p);
  }
  return prompts;
}

}  // namespace specdec_test

namespace specdec_test {

inline specdec::chain_drafter_options chain_options(specdec::index_t gamma) {
  specdec::chain_drafter_options o;
  o.gamma = gamma;
  return o;
}

inline specdec::sampled_tree_options tree_options(std::vector<int> branching) {
  specdec::sampled_tree_options o;
  o.branching = std::move(branching);
  return o;
}

}  // namespace specdec_test
