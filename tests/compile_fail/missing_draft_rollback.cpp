// A draft model without rollback cannot drive a chain drafter.
#include <specdec/specdec.hpp>

struct model {
  specdec::index_t vocab_size() const { return 4; }
  void extend(specdec::request_id, std::span<const specdec::token_id>, std::span<float>) {}
  specdec::index_t length(specdec::request_id) const { return 0; }
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
  void rollback(specdec::request_id, specdec::index_t) {}
#endif
  void release(specdec::request_id) {}
};

int main() {
  model m;
  specdec::chain_drafter<model> drafter(m);
  (void)drafter;
}
