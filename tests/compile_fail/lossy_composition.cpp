// Drafts drawn without replacement verified by the with-replacement rule: refused unless opted in.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

using drafter = specdec::sampled_tree_drafter<specdec::testing::toy_draft_model, specdec::draft_scheme::sampled_without_replacement>;
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
using composition = specdec::unchecked_composition;
#else
using composition = specdec::checked_composition;
#endif

int main() {
  specdec::testing::toy_target t(specdec::testing::markov_model::random(4, 1, 1));
  specdec::testing::toy_draft_model m(specdec::testing::markov_model::random(4, 1, 2));
  drafter d(m);
  specdec::multi_draft_verifier v;
  specdec::speculative_decoder<specdec::testing::toy_target, drafter, specdec::multi_draft_verifier, composition> decoder(t, d, v);
  (void)decoder;
}
