//! Trees from arrays: the parent-array constructor, engines' parent lists and sibling links. Either
//! `specdec::invalid_argument` with the output untouched, or a canonical tree consistent with the input.
#include <fuzzer/FuzzedDataProvider.h>

#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/tree_from_arrays.hpp>

#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"

namespace {

void check_canonical(const specdec::token_tree& tree) {
  FUZZ_REQUIRE(completes([&] { specdec::validate(tree, 1 << 30); }), "a built tree validates");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, 300);
  const int mode = in.ConsumeIntegralInRange<int>(0, 2);
  std::vector<specdec::token_id> tokens(n);
  std::vector<std::int64_t> a(n), b(n);
  for (std::size_t i = 0; i < n; ++i) {
    tokens[i] = in.ConsumeIntegralInRange<specdec::token_id>(0, 1000);
    // Mostly plausible links (small offsets), sometimes anything.
    const bool wild = in.ConsumeIntegralInRange<int>(0, 15) == 0;
    a[i] = wild ? in.ConsumeIntegral<std::int32_t>() : static_cast<std::int64_t>(i) - in.ConsumeIntegralInRange<std::int64_t>(-2, 4);
    b[i] = wild ? in.ConsumeIntegral<std::int32_t>() : in.ConsumeIntegralInRange<std::int64_t>(-1, static_cast<std::int64_t>(n));
  }
  if (n > 0 && mode != 2 && in.ConsumeBool()) a[0] = -1;

  if (mode == 0) {  // token_tree(tokens, parents): parents must already be in topological order
    std::vector<std::int32_t> narrowed(n);
    for (std::size_t i = 0; i < n; ++i) narrowed[i] = static_cast<std::int32_t>(a[i]);
    try {
      const specdec::token_tree tree(tokens, narrowed);
      check_canonical(tree);
      FUZZ_REQUIRE(static_cast<std::size_t>(tree.size()) == n, "one node per entry");
      for (std::size_t i = 0; i < n; ++i) {
        FUZZ_REQUIRE(tree.parent(static_cast<specdec::index_t>(i)) == narrowed[i], "parents kept");
        FUZZ_REQUIRE(tree.token(static_cast<specdec::index_t>(i)) == tokens[i], "tokens kept");
      }
    } catch (const specdec::invalid_argument&) {
    }
    return 0;
  }

  specdec::token_tree out(-7);
  std::vector<std::int32_t> new_index(n, -9);
  const bool built = completes([&] {
    if (mode == 1) {
      specdec::tree_from_parent_list(tokens, a, out, new_index);
    } else {
      specdec::tree_from_sibling_links(tokens, a, b, out, new_index);
    }
  });
  if (!built) {
    FUZZ_REQUIRE(out.size() == 1 && out.token(0) == -7, "a rejected input leaves the tree untouched");
    for (const std::int32_t x : new_index) FUZZ_REQUIRE(x == -9, "a rejected input leaves new_index untouched");
    return 0;
  }
  check_canonical(out);
  FUZZ_REQUIRE(static_cast<std::size_t>(out.size()) == n, "one node per input node");
  std::vector<bool> hit(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t j = new_index[i];
    FUZZ_REQUIRE(j >= 0 && static_cast<std::size_t>(j) < n && !hit[static_cast<std::size_t>(j)], "new_index is a permutation");
    hit[static_cast<std::size_t>(j)] = true;
    FUZZ_REQUIRE(out.token(j) == tokens[i], "tokens follow their nodes");
  }
  if (mode == 1) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t expected = a[i] < 0 ? -1 : new_index[static_cast<std::size_t>(a[i])];
      FUZZ_REQUIRE(out.parent(new_index[i]) == expected, "parents follow their nodes");
      for (std::size_t k = i + 1; k < n; ++k) {
        if (a[k] == a[i] && a[i] >= 0) FUZZ_REQUIRE(new_index[k] > new_index[i], "siblings keep their input order");
      }
    }
  } else {
    FUZZ_REQUIRE(new_index[0] == 0, "node 0 stays the root");
    for (std::size_t u = 0; u < n; ++u) {  // the link order is the rank order
      std::int64_t previous = -1;
      for (std::int64_t c = a[u]; c >= 0; c = b[static_cast<std::size_t>(c)]) {
        FUZZ_REQUIRE(out.parent(new_index[static_cast<std::size_t>(c)]) == new_index[u], "linked children are children");
        FUZZ_REQUIRE(previous < 0 || new_index[static_cast<std::size_t>(c)] > new_index[static_cast<std::size_t>(previous)],
                     "siblings keep the link order");
        previous = c;
      }
    }
  }
  return 0;
}
