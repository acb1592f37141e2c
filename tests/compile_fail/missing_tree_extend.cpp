// A draft model that cannot evaluate a tree cannot drive an EAGLE-2 dynamic tree drafter.
#include <specdec/specdec.hpp>

struct model {
  specdec::index_t vocab_size() const { return 4; }
  void extend(specdec::request_id, std::span<const specdec::token_id>, std::span<float>) {}
  specdec::index_t length(specdec::request_id) const { return 0; }
  void rollback(specdec::request_id, specdec::index_t) {}
  void release(specdec::request_id) {}
#ifdef SPECDEC_COMPILE_FAIL_CONTROL
  void extend_tree(specdec::request_id, const specdec::token_tree_view&, specdec::index_t, specdec::matrix_view<float>) {}
#endif
};

int main() {
  model m;
  specdec::dynamic_tree_drafter<model> drafter(m);
  (void)drafter;
}
