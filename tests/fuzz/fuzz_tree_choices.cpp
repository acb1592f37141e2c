//! Medusa choices: either `specdec::invalid_argument`, or a canonical shape whose nodes are exactly the
//! listed paths, and a static tree built from it that validates.
#include <fuzzer/FuzzedDataProvider.h>

#include <specdec/tree/static_tree_builder.hpp>
#include <specdec/tree/tree_choices.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::vector<std::int32_t>> paths(in.ConsumeIntegralInRange<std::size_t>(0, 80));
  for (auto& path : paths) {
    path.resize(in.ConsumeIntegralInRange<std::size_t>(0, 6));
    for (auto& rank : path) rank = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::int32_t>(0, 3) : in.ConsumeIntegral<std::int32_t>();
  }
  specdec::tree_choices choices;
  if (!completes([&] { choices = specdec::tree_choices(paths); })) return 0;
  const std::set<std::vector<std::int32_t>> listed(paths.begin(), paths.end());
  FUZZ_REQUIRE(listed.size() == paths.size(), "accepted choices are distinct");
  FUZZ_REQUIRE(static_cast<std::size_t>(choices.size()) == paths.size() + 1, "one node per path plus the root");
  // Rebuild each node's path from the shape: it must be a listed path, in sorted (length, lexicographic) order.
  std::vector<std::vector<std::int32_t>> node_paths(static_cast<std::size_t>(choices.size()));
  for (specdec::index_t i = 1; i < choices.size(); ++i) {
    const std::int32_t parent = choices.parent(i);
    FUZZ_REQUIRE(parent >= 0 && parent < i, "parents precede children");
    node_paths[static_cast<std::size_t>(i)] = node_paths[static_cast<std::size_t>(parent)];
    node_paths[static_cast<std::size_t>(i)].push_back(choices.rank(i));
    FUZZ_REQUIRE(listed.count(node_paths[static_cast<std::size_t>(i)]) == 1, "every node is a listed path");
    FUZZ_REQUIRE(choices.depth(i) == static_cast<std::int32_t>(node_paths[static_cast<std::size_t>(i)].size()), "depth = path length");
    if (i > 1) {
      const auto& a = node_paths[static_cast<std::size_t>(i - 1)];
      const auto& b = node_paths[static_cast<std::size_t>(i)];
      FUZZ_REQUIRE(a.size() < b.size() || (a.size() == b.size() && a < b), "Medusa's sort order");
    }
  }
  // Fill it with Medusa candidates: [max_depth, k] with k = the largest rank + 1.
  std::int32_t k = 1;
  for (std::int32_t d = 1; d <= choices.max_depth(); ++d) k = std::max(k, choices.max_rank_at_depth(d) + 1);
  if (static_cast<std::int64_t>(k) * std::max(choices.max_depth(), 1) > 100000) return 0;
  std::vector<specdec::token_id> candidates(static_cast<std::size_t>(k) * static_cast<std::size_t>(std::max(choices.max_depth(), 1)));
  for (std::size_t i = 0; i < candidates.size(); ++i) candidates[i] = static_cast<specdec::token_id>(i % 997);
  specdec::token_tree tree(0);
  specdec::static_tree_builder builder;
  builder.build(choices, 5, specdec::const_matrix_view<specdec::token_id>(candidates.data(), std::max(choices.max_depth(), 1), k), tree);
  FUZZ_REQUIRE(tree.size() == choices.size(), "the built tree has the shape's nodes");
  FUZZ_REQUIRE(completes([&] { specdec::validate(tree, 1000); }), "the built tree validates");
  return 0;
}
