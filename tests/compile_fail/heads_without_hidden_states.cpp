// Regressive heads that read the target's hidden states, decoded with a target that has none: refused
// at compile time (the control's target exposes them).
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <span>
#include <utility>

// A target model without `hidden_size()` / `last_hidden_states()`.
struct plain_target {
  explicit plain_target(specdec::testing::markov_model m) : inner(std::move(m)) {}
  specdec::testing::toy_target inner;
  [[nodiscard]] specdec::index_t vocab_size() const { return inner.vocab_size(); }
  void prefill(specdec::request_id r, std::span<const specdec::token_id> p) { inner.prefill(r, p); }
  void forward(const specdec::tree_forward_batch& b, specdec::matrix_view<float> l) { inner.forward(b, l); }
  void commit(const specdec::kv_commit& c) { inner.commit(c); }
  void release(specdec::request_id r) { inner.release(r); }
};

#ifdef SPECDEC_COMPILE_FAIL_CONTROL
using target = specdec::testing::toy_target;
#else
using target = plain_target;
#endif
using heads = specdec::testing::toy_regressive_heads;
using drafter = specdec::head_drafter<heads, specdec::top_k_growth>;

int main() {
  target t(specdec::testing::markov_model::random(4, 1, 1));
  heads h(specdec::testing::markov_model::random(4, 1, 1));
  drafter d(h, specdec::top_k_growth({2}));
  specdec::one_hot_verifier v;
  specdec::speculative_decoder<target, drafter, specdec::one_hot_verifier> decoder(t, d, v);
  (void)decoder;
}
