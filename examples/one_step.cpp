// The README's second example: one verification step on a hand-made tree, flattened, verified and
// committed to a KV cache.
#include <specdec/specdec.hpp>

#include <cstdio>
#include <span>
#include <vector>

int main() {
  // A drafted tree over a vocabulary of 4 tokens. Node 0 is the root: the last emitted token.
  specdec::token_tree tree(/*root_token=*/0);
  const auto first = tree.add_child(0, 2);  // node 1: the root's first-ranked child
  tree.add_child(0, 1);                     // node 2: its second-ranked child
  tree.add_child(first, 3);                 // node 3: below node 1

  // What the engine's forward takes after 10 cached tokens: position ids and the tree mask.
  const specdec::index_t context = 10;
  const specdec::tree_layout_sizes sizes = specdec::layout_sizes(tree, context);
  std::vector<std::int32_t> positions(static_cast<std::size_t>(sizes.nodes));
  std::vector<std::uint32_t> mask(static_cast<std::size_t>(sizes.nodes * sizes.mask_words));
  specdec::position_ids(tree, context, std::span<std::int32_t>(positions));  // 10 11 11 12
  specdec::ancestor_mask_packed(tree, specdec::matrix_view<std::uint32_t>(mask.data(), sizes.nodes, sizes.mask_words));

  // The target's logits at every node (row i: the token after node i's path), made up here.
  const std::vector<float> logits{0.0f, 0.5f, 2.0f, 0.0f,   // row 0: argmax 2, node 1's token
                                  0.0f, 0.0f, 0.0f, 1.0f,   // row 1: argmax 3, node 3's token
                                  1.0f, 0.0f, 0.0f, 0.0f,   // row 2: not read
                                  0.0f, 3.0f, 0.0f, 0.0f};  // row 3: argmax 1, the bonus token
  specdec::verify_input in;
  in.tree = tree;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), 4, 4);
  in.params = specdec::sampling_params::make_greedy();
  in.address.seed = 42;  // request 0, step 0; the verifier sets node and purpose per decision

  specdec::greedy_verifier verifier;
  specdec::verify_result result;
  verifier.verify(in, result);  // path 0 1 3, tokens 2 3 1

  // Commit: node 3, written at position 13, moves to 12, next to its parent.
  std::vector<specdec::kv_move> moves(result.path.size());
  const auto count = specdec::keep_list(tree, std::span<const std::int32_t>(result.path).subspan(1), context, moves);
  std::vector<float> kv(32 * 8);  // one layer, 32 positions of 8 values
  const specdec::strided_kv_cache<float> cache(kv.data(), 32, /*seq_stride=*/8, {{/*extent=*/8, /*stride=*/1}});
  specdec::apply_keep_list(std::span<const specdec::kv_move>(moves.data(), static_cast<std::size_t>(count)), cache);

  std::printf("emitted");
  for (const specdec::token_id token : result.tokens) std::printf(" %d", token);
  std::printf("; cache length %d\n", static_cast<int>(specdec::committed_kv_length(context, result.accepted())));
  const bool as_commented = positions == std::vector<std::int32_t>{10, 11, 11, 12} &&
                            result.path == std::vector<std::int32_t>{0, 1, 3} &&
                            result.tokens == std::vector<specdec::token_id>{2, 3, 1} && count == 1 &&
                            moves[0] == specdec::kv_move{13, 12} &&
                            specdec::committed_kv_length(context, result.accepted()) == 13;
  return as_commented ? 0 : 1;
}
