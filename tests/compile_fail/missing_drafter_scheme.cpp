// A drafter that does not say how it draws its children is refused.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

struct drafter {
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
  static constexpr specdec::draft_scheme scheme = specdec::draft_scheme::deterministic;
#endif
  void draft(const specdec::draft_context&, specdec::draft_tree&) {}
};

int main() {
  specdec::testing::toy_target t(specdec::testing::markov_model::random(4, 1, 1));
  drafter d;
  specdec::one_hot_verifier v;
  specdec::speculative_decoder<specdec::testing::toy_target, drafter, specdec::one_hot_verifier> decoder(t, d, v);
  (void)decoder;
}
