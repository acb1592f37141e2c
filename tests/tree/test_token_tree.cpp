#include <specdec/tree/sibling_links.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/token_tree_batch.hpp>

#include <random>
#include <vector>

#include "support/catch.hpp"

using specdec::duplicate_siblings;
using specdec::token_tree;
using specdec::token_tree_view;

namespace {

/*        0:t5
         /    \
      1:t7    2:t8
      /  \       \
    3:t9 4:t7    5:t9      (node:token)    */
token_tree sample_tree() {
  token_tree tree(5);
  const auto a = tree.add_child(0, 7);
  const auto b = tree.add_child(0, 8);
  tree.add_child(a, 9);
  tree.add_child(a, 7);
  tree.add_child(b, 9);
  return tree;
}

struct raw_tree {
  std::vector<specdec::token_id> tokens;
  std::vector<std::int32_t> parents;
  std::vector<std::int32_t> depths;
  token_tree_view view() const {
    return {tokens.data(), parents.data(), depths.data(), static_cast<specdec::index_t>(tokens.size())};
  }
};

raw_tree raw(const token_tree& tree) {
  const auto v = tree.view();
  return {{v.tokens().begin(), v.tokens().end()}, {v.parents().begin(), v.parents().end()},
          {v.depths().begin(), v.depths().end()}};
}

}  // namespace

TEST_CASE("a tree built child by child keeps the canonical invariants") {
  const token_tree tree = sample_tree();
  REQUIRE(tree.size() == 6);
  REQUIRE(std::vector<std::int32_t>(tree.view().parents().begin(), tree.view().parents().end()) ==
          std::vector<std::int32_t>{-1, 0, 0, 1, 1, 2});
  REQUIRE(std::vector<std::int32_t>(tree.view().depths().begin(), tree.view().depths().end()) ==
          std::vector<std::int32_t>{0, 1, 1, 2, 2, 2});
  REQUIRE(tree.view().max_depth() == 2);
  REQUIRE_NOTHROW(specdec::validate(tree, 10));
  REQUIRE_NOTHROW(specdec::validate(tree, 10, duplicate_siblings::forbidden));  // 7 twice, but not siblings

  const token_tree root_only(42);
  REQUIRE(root_only.size() == 1);
  REQUIRE_NOTHROW(specdec::validate(root_only, 100));  // a drafter that found nothing

  token_tree chain(1);
  const std::vector<specdec::token_id> tokens{2, 3, 4};
  REQUIRE(chain.add_chain(0, tokens) == 3);
  REQUIRE(chain.depth(3) == 3);
  chain.clear(9);
  REQUIRE(chain.size() == 1);
  REQUIRE(chain.token(0) == 9);
}

TEST_CASE("a tree from parent arrays derives depths and checks the order") {
  const std::vector<specdec::token_id> tokens{5, 7, 8, 9};
  const token_tree tree(tokens, std::vector<std::int32_t>{-1, 0, 0, 2});
  REQUIRE(tree.depth(3) == 2);
  REQUIRE_INVALID_ARGUMENT("parent[2] = 3", token_tree(tokens, std::vector<std::int32_t>{-1, 0, 3, 2}));
  REQUIRE_INVALID_ARGUMENT("parent[0] = 0", token_tree(tokens, std::vector<std::int32_t>{0, 0, 0, 2}));
  REQUIRE_INVALID_ARGUMENT("parents.size() = 3", token_tree(tokens, std::vector<std::int32_t>{-1, 0, 0}));
  REQUIRE_INVALID_ARGUMENT("at least one node", token_tree(std::vector<specdec::token_id>{}, std::vector<std::int32_t>{}));
}

TEST_CASE("validation names each malformed field") {
  const raw_tree good = raw(sample_tree());
  REQUIRE_NOTHROW(specdec::validate(good.view(), 10));

  raw_tree bad = good;
  bad.parents[4] = 4;
  REQUIRE_INVALID_ARGUMENT("parent[4] = 4 violates 0 <= parent[i] < i", specdec::validate(bad.view(), 10));
  bad = good;
  bad.parents[3] = -1;
  REQUIRE_INVALID_ARGUMENT("parent[3] = -1", specdec::validate(bad.view(), 10));
  bad = good;
  bad.depths[5] = 1;
  REQUIRE_INVALID_ARGUMENT("depth[5] = 1 violates depth[parent[i]] + 1", specdec::validate(bad.view(), 10));
  bad = good;
  bad.depths[0] = 1;
  REQUIRE_INVALID_ARGUMENT("depth[0] = 1", specdec::validate(bad.view(), 10));
  bad = good;
  bad.tokens[2] = 10;
  REQUIRE_INVALID_ARGUMENT("token[2] = 10 violates a token id in [0, vocab_size)", specdec::validate(bad.view(), 10));
  bad.tokens[2] = -3;
  REQUIRE_INVALID_ARGUMENT("token[2] = -3", specdec::validate(bad.view(), 10));
  REQUIRE_INVALID_ARGUMENT("tree.size() = 0", specdec::validate(token_tree_view{}, 10));
  REQUIRE_INVALID_ARGUMENT("vocab_size = 0", specdec::validate(good.view(), 0));

  token_tree duplicates(1);
  duplicates.add_child(0, 4);
  duplicates.add_child(0, 4);  // drawn with replacement: legal for greedy and multi-draft rules
  REQUIRE_NOTHROW(specdec::validate(duplicates, 10, duplicate_siblings::allowed));
  REQUIRE_INVALID_ARGUMENT("token of a child of node[0] = 4 violates distinct sibling tokens",
                           specdec::validate(duplicates, 10, duplicate_siblings::forbidden));
}

TEST_CASE("the documented limits on nodes and depth are enforced") {
  token_tree deep(0);
  std::int32_t last = 0;
  for (specdec::index_t d = 0; d < specdec::max_tree_depth; ++d) last = deep.add_child(last, 1);
  REQUIRE(deep.depth(last) == specdec::max_tree_depth);
  REQUIRE_INVALID_ARGUMENT("depth = 256", deep.add_child(last, 1));

  token_tree wide(0);
  for (specdec::index_t i = 1; i < specdec::max_tree_nodes; ++i) wide.add_child(0, 1);
  REQUIRE(wide.size() == specdec::max_tree_nodes);
  REQUIRE_INVALID_ARGUMENT("tree.size() = 4096", wide.add_child(0, 1));

  raw_tree too_deep = raw(deep);
  too_deep.tokens.push_back(1);
  too_deep.parents.push_back(last);
  too_deep.depths.push_back(static_cast<std::int32_t>(specdec::max_tree_depth + 1));
  REQUIRE_INVALID_ARGUMENT("at most max_tree_depth", specdec::validate(too_deep.view(), 10));
}

TEST_CASE("sibling links list each node's children in rank order") {
  const token_tree tree = sample_tree();
  std::vector<std::int32_t> first_child(6), next_sibling(6);
  specdec::sibling_links(tree, first_child, next_sibling);
  REQUIRE(first_child == std::vector<std::int32_t>{1, 3, 5, -1, -1, -1});
  REQUIRE(next_sibling == std::vector<std::int32_t>{-1, 2, -1, 4, -1, -1});

  // Random trees: the links enumerate exactly the nodes whose parent is n, in increasing index.
  std::mt19937 rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 40);
    token_tree random(0);
    for (int i = 1; i < n; ++i) random.add_child(static_cast<std::int32_t>(rng() % static_cast<unsigned>(i)), 3);
    first_child.assign(static_cast<std::size_t>(n), 0);
    next_sibling.assign(static_cast<std::size_t>(n), 0);
    specdec::sibling_links(random, first_child, next_sibling);
    for (int parent = 0; parent < n; ++parent) {
      std::vector<std::int32_t> expected, linked;
      for (int i = 1; i < n; ++i) {
        if (random.parent(i) == parent) expected.push_back(i);
      }
      for (auto c = first_child[static_cast<std::size_t>(parent)]; c != -1; c = next_sibling[static_cast<std::size_t>(c)]) {
        linked.push_back(c);
      }
      REQUIRE(linked == expected);
    }
  }
}

TEST_CASE("a ragged batch of trees reads back each tree with local parents") {
  specdec::token_tree_batch batch;
  const token_tree first = sample_tree();
  const token_tree second(3);
  token_tree third(1);
  third.add_child(0, 12);
  batch.push_back(first);
  batch.push_back(second);
  batch.push_back(third);
  REQUIRE(batch.batch_size() == 3);
  REQUIRE(batch.total_nodes() == 9);
  const auto view = batch.view();
  REQUIRE(view.offsets().begin(2) == 7);
  REQUIRE(view.tree(1).size() == 1);
  REQUIRE(view.tree(1).token(0) == 3);
  REQUIRE(view.tree(2).parent(1) == 0);  // local to its tree
  REQUIRE(view.tree(2).token(1) == 12);
  REQUIRE_NOTHROW(view.validate(13));
  REQUIRE_INVALID_ARGUMENT("in trees[2]: specdec: token[1] = 12", view.validate(10));
  batch.clear();
  REQUIRE(batch.batch_size() == 0);
}
