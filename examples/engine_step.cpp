// One engine step on the host, end to end, for a batch: three requests with different cached lengths
// bring their drafted trees; the batch is flattened (position ids and FlashInfer's packed custom
// mask); a stand-in for the model writes the logits; `verify_batch` decides; the verified paths become
// one batched keep-list that compacts a paged KV cache (vLLM's [blocks][block_size][heads][dim]
// layout) through each request's block table. Every value in the comments is checked.
#include <specdec/specdec.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr specdec::index_t vocab = 8;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "engine_step: %s\n", what);
    std::exit(1);
  }
}

}  // namespace

int main() {
  // The drafted trees: request 0 a chain, request 1 a small tree, request 2 nothing (root only).
  specdec::token_tree chain(3);
  chain.add_chain(0, std::vector<specdec::token_id>{4, 5, 7});
  specdec::token_tree tree(0);
  const auto one = tree.add_child(0, 1);
  tree.add_child(0, 2);
  tree.add_child(one, 2);
  const specdec::token_tree root_only(6);
  specdec::token_tree_batch batch;
  batch.push_back(chain);
  batch.push_back(tree);
  batch.push_back(root_only);
  const std::vector<std::int32_t> context{5, 9, 2};  // cached entries per request

  // Flatten for the forward: positions (context + depth) and the FlashInfer mask over context + tree.
  const specdec::tree_layout_sizes sizes = specdec::layout_sizes(batch, context);
  std::vector<std::int32_t> positions(static_cast<std::size_t>(sizes.nodes));
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(sizes.flashinfer_mask_bytes));
  std::vector<std::int32_t> mask_offsets(4);
  specdec::position_ids(batch, context, positions);
  specdec::ancestor_mask_flashinfer(batch, context, mask, mask_offsets);
  check(positions == std::vector<std::int32_t>{5, 6, 7, 8, 9, 10, 10, 11, 2}, "positions");
  // Request 1, node 3 (child of node 1): its row of 9 + 4 bits sees the context, the root, node 1 and
  // itself. Bit k of its segment is byte k / 8, bit k % 8 (little endian).
  const auto bit = [&](std::int64_t k) { return (mask[static_cast<std::size_t>(mask_offsets[1] + k / 8)] >> (k % 8)) & 1; };
  const std::int64_t row = 3 * (9 + 4);
  check(bit(row + 8) == 1 && bit(row + 9) == 1 && bit(row + 10) == 1 && bit(row + 11) == 0 && bit(row + 12) == 1, "mask");

  // The model stand-in: after token t it predicts t + 1 (mod vocab), confidently.
  std::vector<float> logits(static_cast<std::size_t>(sizes.nodes * vocab), 0.0f);
  for (specdec::index_t r = 0; r < sizes.nodes; ++r) {
    const specdec::token_id last = batch.view().tree(r < 4 ? 0 : r < 8 ? 1 : 2).token(r < 4 ? r : r < 8 ? r - 4 : 0);
    logits[static_cast<std::size_t>(r * vocab + (last + 1) % vocab)] = 5.0f;
  }

  // Verify the batch (greedy here: the outcome can be read off the logits).
  const std::vector<specdec::sampling_params> params(3, specdec::sampling_params::make_greedy());
  const std::vector<specdec::random_address> addresses{{42, 0, 7, 0, specdec::purpose::accept},
                                                       {42, 1, 3, 0, specdec::purpose::accept},
                                                       {42, 2, 0, 0, specdec::purpose::accept}};
  specdec::verify_batch_input in;
  in.trees = batch;
  in.target_logits = specdec::const_matrix_view<float>(logits.data(), sizes.nodes, vocab);
  in.params = params;
  in.addresses = addresses;
  specdec::one_hot_verifier verifier;
  std::vector<specdec::verify_result> results(3);
  specdec::verify_batch(verifier, in, results);
  check(results[0].tokens == std::vector<specdec::token_id>{4, 5, 6}, "request 0: accepts 4 5, corrects 7 to 6");
  check(results[1].tokens == std::vector<specdec::token_id>{1, 2, 3}, "request 1: accepts node 1 then node 3, bonus 3");
  check(results[2].tokens == std::vector<specdec::token_id>{7}, "request 2: one token");

  // Commit: one batched keep-list, applied to a paged cache of 12 blocks of 4 slots (1 head, dim 2).
  std::vector<specdec::kv_move> moves(4);
  std::vector<std::int32_t> move_offsets(4);
  const auto count = specdec::keep_list_from_results(batch, results, context, moves, move_offsets);
  check(count == 1 && moves[0] == specdec::kv_move{12, 11}, "request 1's node 3 moves from 9 + 3 to 9 + 2");
  const std::vector<std::int32_t> tables{7, 0, 3, 9,    // request 0: logical block i -> physical block
                                         1, 4, 11, 2,   // request 1
                                         5, 6, 8, 10};  // request 2
  std::vector<float> kv(12 * 4 * 2);
  for (std::size_t i = 0; i < kv.size(); ++i) kv[i] = static_cast<float>(i);
  const specdec::paged_kv_cache<float> cache(kv.data(), 12, 4, /*block_stride=*/4 * 2, /*slot_stride=*/2, {{/*extent=*/2, /*stride=*/1}});
  const specdec::const_matrix_view<std::int32_t> block_tables(tables.data(), 3, 4);
  const auto slot_of = [&](std::size_t request, specdec::index_t position) {
    return specdec::physical_slot(std::span<const std::int32_t>(tables).subspan(request * 4, 4), 4, position);
  };
  const float before = kv[static_cast<std::size_t>(slot_of(1, 12) * 2)];
  specdec::apply_keep_list(std::span<const specdec::kv_move>(moves.data(), static_cast<std::size_t>(count)), move_offsets,
                           block_tables, cache);
  check(kv[static_cast<std::size_t>(slot_of(1, 11) * 2)] == before, "the accepted entry now sits at context + depth");
  std::printf("emitted: [4 5 6] [1 2 3] [7]; %lld KV move; cache lengths %lld %lld %lld\n", static_cast<long long>(count),
              static_cast<long long>(specdec::committed_kv_length(5, results[0].accepted())),
              static_cast<long long>(specdec::committed_kv_length(9, results[1].accepted())),
              static_cast<long long>(specdec::committed_kv_length(2, results[2].accepted())));
}
