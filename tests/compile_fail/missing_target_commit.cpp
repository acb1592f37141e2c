// A target backend without commit: the decoder must refuse it, naming the missing member.
#include <specdec/specdec.hpp>

struct target {
  specdec::index_t vocab_size() const { return 4; }
  void prefill(specdec::request_id, std::span<const specdec::token_id>) {}
  void forward(const specdec::tree_forward_batch&, specdec::matrix_view<float>) {}
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
  void commit(const specdec::kv_commit&) {}
#endif
  void release(specdec::request_id) {}
};

int main() {
  target t;
  specdec::no_drafter d;
  specdec::one_hot_verifier v;
  specdec::speculative_decoder<target, specdec::no_drafter, specdec::one_hot_verifier> decoder(t, d, v);
  (void)decoder;
}
