// A verifier without verify(input, result) is refused.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

struct verifier {
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
  void verify(const specdec::verify_input&, specdec::verify_result&) {}
#endif
  static constexpr bool lossless_for(specdec::draft_scheme) { return true; }
};

int main() {
  specdec::testing::toy_target t(specdec::testing::markov_model::random(4, 1, 1));
  specdec::no_drafter d;
  verifier v;
  specdec::speculative_decoder<specdec::testing::toy_target, specdec::no_drafter, verifier> decoder(t, d, v);
  (void)decoder;
}
