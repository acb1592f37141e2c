//! Flatteners on one tree given as raw arrays (parents and depths possibly inconsistent): either
//! `specdec::invalid_argument` with every output untouched, or outputs that satisfy each layout's
//! definition, in int32 and int64, in every path order.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "flatten_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto n = in.ConsumeIntegralInRange<std::size_t>(0, 300);
  std::vector<specdec::token_id> tokens(n, 1);
  std::vector<std::int32_t> parents(n), depths(n);
  for (std::size_t i = 0; i < n; ++i) {
    const bool wild = in.ConsumeIntegralInRange<int>(0, 31) == 0;
    parents[i] = wild ? in.ConsumeIntegral<std::int32_t>()
                      : (i == 0 ? -1 : static_cast<std::int32_t>(i) - in.ConsumeIntegralInRange<std::int32_t>(1, 3));
    if (!wild && i > 0 && parents[i] < 0) parents[i] = 0;
    const std::int64_t derived = i == 0 || parents[i] < 0 || parents[i] >= static_cast<std::int32_t>(i)
                                     ? 0
                                     : std::int64_t{depths[static_cast<std::size_t>(parents[i])]} + 1;
    depths[i] = static_cast<std::int32_t>(std::min<std::int64_t>(derived, INT32_MAX));
    if (in.ConsumeIntegralInRange<int>(0, 63) == 0) depths[i] = in.ConsumeIntegral<std::int32_t>();
  }
  const specdec::token_tree_view tree(tokens.data(), parents.data(), depths.data(), static_cast<specdec::index_t>(n));
  const specdec::index_t context = in.ConsumeBool() ? in.ConsumeIntegralInRange<specdec::index_t>(0, 40)
                                                    : in.ConsumeIntegral<specdec::index_t>();
  const specdec::index_t first_row = in.ConsumeBool() ? in.ConsumeIntegralInRange<specdec::index_t>(0, 40)
                                                      : in.ConsumeIntegral<specdec::index_t>();
  const auto order = static_cast<specdec::path_order>(in.ConsumeIntegralInRange<int>(0, 2));
  const bool wide = in.ConsumeBool();

  // Outputs sized from the tree alone (context 0; small when the tree is rejected), filled with a
  // sentinel; the FlashInfer bytes with the real context.
  specdec::tree_layout_sizes sizes;
  specdec::tree_layout_sizes with_context;
  const bool tree_ok = completes([&] { sizes = specdec::layout_sizes(tree, 0); });
  const bool shaped = completes([&] { with_context = specdec::layout_sizes(tree, context); });
  FUZZ_REQUIRE(tree_ok || !shaped, "layout_sizes rejects a malformed tree whatever the context");
  // Contexts near 2^31 are accepted, but their FlashInfer masks would take gigabytes: not exercised here
  // (the bounds themselves are unit-tested).
  if (shaped && with_context.flashinfer_mask_bytes > (specdec::index_t{1} << 20)) return 0;
  const std::size_t nodes = std::max<std::size_t>(n, 1);
  const specdec::index_t leaves = tree_ok ? sizes.leaves : 1;
  const specdec::index_t width = tree_ok ? sizes.path_width : 1;
  const specdec::index_t words = tree_ok ? sizes.mask_words + in.ConsumeIntegralInRange<specdec::index_t>(0, 1) : 1;
  const auto fi_bytes = static_cast<std::size_t>(shaped ? with_context.flashinfer_mask_bytes : 1);
  std::vector<std::int64_t> positions(nodes, 77), rows64(nodes, 77), first64(nodes, 77), next64(nodes, 77);
  std::vector<std::int32_t> rows32(nodes, 77), first32(nodes, 77), next32(nodes, 77);
  std::vector<std::int64_t> paths64(static_cast<std::size_t>(leaves * width), 77);
  std::vector<std::int32_t> paths32(paths64.size(), 77);
  std::vector<std::uint32_t> packed(nodes * static_cast<std::size_t>(words), 77);
  std::vector<std::uint8_t> flashinfer(fi_bytes, 77);

  const bool ok_positions = completes([&] { specdec::position_ids(tree, context, positions); });
  const bool ok_rows = wide ? completes([&] { specdec::parent_rows(tree, rows64, first_row); })
                            : completes([&] { specdec::parent_rows(tree, rows32, first_row); });
  const bool ok_links = wide ? completes([&] { specdec::sibling_links(tree, first64, next64); })
                             : completes([&] { specdec::sibling_links(tree, first32, next32); });
  const bool ok_paths = wide ? completes([&] { specdec::root_to_leaf_paths(tree, specdec::matrix_view<std::int64_t>(paths64.data(), leaves, width), order); })
                             : completes([&] { specdec::root_to_leaf_paths(tree, specdec::matrix_view<std::int32_t>(paths32.data(), leaves, width), order); });
  const bool ok_packed = completes([&] { specdec::ancestor_mask_packed(tree, specdec::matrix_view<std::uint32_t>(packed.data(), static_cast<specdec::index_t>(n), words)); });
  const bool ok_flashinfer = completes([&] { specdec::ancestor_mask_flashinfer(tree, context, flashinfer); });

  // The structure check is shared: every flattener accepts or rejects the same trees, and what
  // layout_sizes accepts, every flattener given those sizes accepts.
  FUZZ_REQUIRE(ok_links == ok_packed && ok_links == ok_paths && ok_links == tree_ok, "the flatteners agree on the tree");
  if (!ok_links) FUZZ_REQUIRE(!shaped && !ok_positions && !ok_flashinfer, "a malformed tree is rejected by all");
  if (shaped) FUZZ_REQUIRE(ok_positions && ok_flashinfer, "sized outputs of an accepted tree are written");
  FUZZ_REQUIRE(!ok_flashinfer || shaped, "the FlashInfer mask accepts only what layout_sizes accepts");
  const auto untouched = [](const auto& v) { return std::all_of(v.begin(), v.end(), [](auto x) { return x == 77; }); };
  if (!ok_positions) FUZZ_REQUIRE(untouched(positions), "rejected: positions untouched");
  if (!ok_rows) FUZZ_REQUIRE(untouched(rows64) && untouched(rows32), "rejected: rows untouched");
  if (!ok_links) FUZZ_REQUIRE(untouched(first64) && untouched(next64) && untouched(first32) && untouched(next32), "rejected: links untouched");
  if (!ok_paths) FUZZ_REQUIRE(untouched(paths64) && untouched(paths32), "rejected: paths untouched");
  if (!ok_packed) FUZZ_REQUIRE(untouched(packed), "rejected: packed mask untouched");
  if (!ok_flashinfer) FUZZ_REQUIRE(untouched(flashinfer), "rejected: FlashInfer mask untouched");
  if (!(ok_positions && ok_rows && ok_links && ok_paths && ok_packed && ok_flashinfer)) return 0;

  FUZZ_REQUIRE(n >= 1 && depths[0] == 0, "accepted trees have a root");
  FUZZ_REQUIRE(context >= 0 && context <= INT32_MAX, "accepted contexts are in range");
  if (wide) {
    check_layouts<std::int64_t>(tree, context, positions, rows64, first_row, first64, next64, paths64.data(), leaves, width,
                                packed.data(), words, flashinfer.data(), fi_bytes);
  } else {
    check_layouts<std::int32_t>(tree, context, positions, rows32, first_row, first32, next32, paths32.data(), leaves, width,
                                packed.data(), words, flashinfer.data(), fi_bytes);
  }
  return 0;
}
