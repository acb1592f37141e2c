// A verification rule must state which drafting schemes it is lossless for.
#include <specdec/specdec.hpp>

struct rule {
  static constexpr bool needs_draft_probs = false;
  static constexpr specdec::duplicate_siblings siblings = specdec::duplicate_siblings::allowed;
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
  static constexpr bool lossless_for(specdec::draft_scheme) { return true; }
#endif
  void walk(specdec::verify_state& s) { specdec::detail::greedy_walk(s); }
};

int main() {
  specdec::tree_verifier<rule> v;
  (void)v;
}
