//! Batched trees with CSR offsets: either `specdec::invalid_argument` with every output untouched (the
//! strong guarantee), or outputs equal to the one-tree flatteners at each tree's offsets.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "flatten_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto batch_size = in.ConsumeIntegralInRange<std::size_t>(0, 8);
  std::vector<std::int32_t> offsets{0};
  std::vector<std::int32_t> parents, depths;
  for (std::size_t b = 0; b < batch_size; ++b) {
    const auto n = in.ConsumeIntegralInRange<std::int32_t>(0, 40);
    for (std::int32_t i = 0; i < n; ++i) {
      std::int32_t parent = i == 0 ? -1 : i - in.ConsumeIntegralInRange<std::int32_t>(1, 3);
      if (i > 0 && parent < 0) parent = 0;
      if (in.ConsumeIntegralInRange<int>(0, 63) == 0) parent = in.ConsumeIntegralInRange<std::int32_t>(-2, 50);
      parents.push_back(parent);
      const std::int32_t base = static_cast<std::size_t>(offsets.back()) + static_cast<std::size_t>(parent) < parents.size() && parent >= 0 && parent < i
                                    ? depths[static_cast<std::size_t>(offsets.back() + parent)] + 1
                                    : 0;
      depths.push_back(in.ConsumeIntegralInRange<int>(0, 63) == 0 ? in.ConsumeIntegralInRange<std::int32_t>(-1, 300) : base);
    }
    offsets.push_back(offsets.back() + n);
  }
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0 && offsets.size() > 1) offsets[in.ConsumeIntegralInRange<std::size_t>(0, offsets.size() - 1)] += in.ConsumeIntegralInRange<std::int32_t>(-3, 3);
  const std::size_t total = parents.size();
  std::vector<specdec::token_id> tokens(total, 3);
  std::vector<std::int32_t> contexts(batch_size);
  for (auto& c : contexts) c = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::int32_t>(0, 30) : in.ConsumeIntegral<std::int32_t>();
  // Offsets beyond the arrays would make every view out of bounds: the caller's promise, not checked.
  if (std::any_of(offsets.begin(), offsets.end(), [&](std::int32_t o) { return o < 0 || static_cast<std::size_t>(o) > total; })) return 0;
  const specdec::token_tree_batch_view batch(specdec::ragged_offsets(offsets), tokens.data(), parents.data(), depths.data());
  const bool wide = in.ConsumeBool();
  const auto order = static_cast<specdec::path_order>(in.ConsumeIntegralInRange<int>(0, 2));

  // Sizes from the trees alone (contexts 0), and the FlashInfer bytes with the real contexts.
  specdec::tree_layout_sizes sizes;
  specdec::tree_layout_sizes with_contexts;
  const std::vector<std::int32_t> no_context(batch_size, 0);
  const bool trees_ok = completes([&] { sizes = specdec::layout_sizes(batch, no_context); });
  const bool shaped = completes([&] { with_contexts = specdec::layout_sizes(batch, contexts); });
  FUZZ_REQUIRE(trees_ok || !shaped, "layout_sizes rejects a malformed batch whatever the contexts");
  // Contexts near 2^31 are accepted, but their FlashInfer masks would take gigabytes: not exercised here
  // (the bounds themselves are unit-tested).
  if (shaped && with_contexts.flashinfer_mask_bytes > (specdec::index_t{1} << 20)) return 0;
  const std::size_t rows = std::max<std::size_t>(total, 1);
  const specdec::index_t leaves = trees_ok ? std::max<specdec::index_t>(sizes.leaves, 1) : 1;
  const specdec::index_t width = trees_ok ? sizes.path_width : 1;
  const specdec::index_t words = trees_ok ? std::max<specdec::index_t>(sizes.mask_words, 1) : 1;
  const specdec::index_t dense_cols = trees_ok ? std::max<specdec::index_t>(sizes.max_nodes, 1) : 1;
  const auto fi_bytes = static_cast<std::size_t>(shaped ? std::max<specdec::index_t>(with_contexts.flashinfer_mask_bytes, 1) : 1);
  std::vector<std::int64_t> positions(rows, 77), rows64(rows, 77), first64(rows, 77), next64(rows, 77), paths64(static_cast<std::size_t>(leaves * width), 77);
  std::vector<std::int32_t> rows32(rows, 77), first32(rows, 77), next32(rows, 77), paths32(paths64.size(), 77);
  std::vector<std::int32_t> leaf_offsets(batch_size + 1, 77), mask_offsets(batch_size + 1, 77);
  std::vector<std::uint32_t> packed(rows * static_cast<std::size_t>(words), 77);
  std::vector<std::uint8_t> flashinfer(fi_bytes, 77);
  std::unique_ptr<bool[]> dense(new bool[rows * static_cast<std::size_t>(dense_cols)]);
  std::fill(dense.get(), dense.get() + rows * static_cast<std::size_t>(dense_cols), true);

  const auto n = static_cast<specdec::index_t>(total);
  const bool ok_positions = completes([&] { specdec::position_ids(batch, contexts, positions); });
  const bool ok_rows = wide ? completes([&] { specdec::parent_rows(batch, rows64); }) : completes([&] { specdec::parent_rows(batch, rows32); });
  const bool ok_links = wide ? completes([&] { specdec::sibling_links(batch, first64, next64); })
                             : completes([&] { specdec::sibling_links(batch, first32, next32); });
  const bool ok_paths = wide ? completes([&] { specdec::root_to_leaf_paths(batch, specdec::matrix_view<std::int64_t>(paths64.data(), leaves, width), leaf_offsets, order); })
                             : completes([&] { specdec::root_to_leaf_paths(batch, specdec::matrix_view<std::int32_t>(paths32.data(), leaves, width), leaf_offsets, order); });
  const bool ok_packed = completes([&] { specdec::ancestor_mask_packed(batch, specdec::matrix_view<std::uint32_t>(packed.data(), n, words)); });
  const bool ok_dense = completes([&] { specdec::ancestor_mask_dense(batch, specdec::matrix_view<bool>(dense.get(), n, dense_cols)); });
  const bool ok_flashinfer = completes([&] { specdec::ancestor_mask_flashinfer(batch, contexts, flashinfer, mask_offsets); });

  const auto untouched = [](const auto& v) { return std::all_of(v.begin(), v.end(), [](auto x) { return x == 77; }); };
  if (!ok_positions) FUZZ_REQUIRE(untouched(positions), "rejected: positions untouched");
  if (!ok_rows) FUZZ_REQUIRE(untouched(rows64) && untouched(rows32), "rejected: rows untouched");
  if (!ok_links) FUZZ_REQUIRE(untouched(first64) && untouched(next64) && untouched(first32) && untouched(next32), "rejected: links untouched");
  if (!ok_paths) FUZZ_REQUIRE(untouched(paths64) && untouched(paths32) && untouched(leaf_offsets), "rejected: paths untouched");
  if (!ok_packed) FUZZ_REQUIRE(untouched(packed), "rejected: packed mask untouched");
  if (!ok_flashinfer) FUZZ_REQUIRE(untouched(flashinfer) && untouched(mask_offsets), "rejected: FlashInfer mask untouched");
  if (!ok_dense) {
    FUZZ_REQUIRE(std::all_of(dense.get(), dense.get() + rows * static_cast<std::size_t>(dense_cols), [](bool x) { return x; }),
                 "rejected: dense mask untouched");
  }
  FUZZ_REQUIRE(ok_links == ok_packed && ok_links == ok_dense && ok_links == ok_paths && ok_links == trees_ok,
               "the batched flatteners agree on the trees");
  if (shaped) FUZZ_REQUIRE(ok_positions && ok_flashinfer, "sized outputs of an accepted batch are written");
  if (!(shaped && ok_rows)) return 0;

  // Each tree's slice equals the one-tree flatteners (checked against the definitions).
  for (std::size_t b = 0; b < batch_size; ++b) {
    const specdec::token_tree_view tree = batch.tree(static_cast<specdec::index_t>(b));
    const auto first = static_cast<std::size_t>(offsets[b]);
    const auto count = static_cast<std::size_t>(tree.size());
    const specdec::index_t tree_leaves = leaf_offsets[b + 1] - leaf_offsets[b];
    std::vector<std::int64_t> pos(positions.begin() + static_cast<std::ptrdiff_t>(first), positions.begin() + static_cast<std::ptrdiff_t>(first + count));
    const auto slice = [&](const auto& v) {
      using T = typename std::decay_t<decltype(v)>::value_type;
      return std::vector<T>(v.begin() + static_cast<std::ptrdiff_t>(first), v.begin() + static_cast<std::ptrdiff_t>(first + count));
    };
    const std::uint8_t* segment = flashinfer.data() + mask_offsets[b];
    const auto segment_bytes = static_cast<std::size_t>(mask_offsets[b + 1] - mask_offsets[b]);
    if (wide) {
      check_layouts<std::int64_t>(tree, contexts[b], pos, slice(rows64), static_cast<specdec::index_t>(first), slice(first64), slice(next64),
                                  paths64.data() + leaf_offsets[b] * width, tree_leaves, width, packed.data() + first * static_cast<std::size_t>(words),
                                  words, segment, segment_bytes);
    } else {
      check_layouts<std::int32_t>(tree, contexts[b], pos, slice(rows32), static_cast<specdec::index_t>(first), slice(first32), slice(next32),
                                  paths32.data() + leaf_offsets[b] * width, tree_leaves, width, packed.data() + first * static_cast<std::size_t>(words),
                                  words, segment, segment_bytes);
    }
    for (std::size_t i = 0; i < count; ++i) {
      for (specdec::index_t j = 0; j < dense_cols; ++j) {
        const bool expected = j < tree.size() && is_ancestor_or_self(tree, j, static_cast<specdec::index_t>(i));
        FUZZ_REQUIRE(dense[(first + i) * static_cast<std::size_t>(dense_cols) + static_cast<std::size_t>(j)] == expected, "dense mask bit");
      }
    }
  }
  return 0;
}
