#include <specdec/tree/sequoia_planner.hpp>
#include <specdec/tree/static_tree_builder.hpp>
#include <specdec/tree/token_tree.hpp>
#include <specdec/tree/tree_choices.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "support/catch.hpp"

using specdec::index_t;
using specdec::token_tree;

namespace {

struct shape_value {
  index_t nodes;
  index_t height;
  double value;
};

// Every tree of up to `max_nodes` nodes: each parent array with parent[i] < i is one (ordered) tree, and
// every ordered tree arises this way, so the maximum over them is the true optimum.
void enumerate(std::vector<std::int32_t>& parents, int max_nodes, std::span<const double> acceptance,
               std::vector<shape_value>& out) {
  std::vector<specdec::token_id> tokens(parents.size(), 0);
  const token_tree tree(tokens, parents);
  out.push_back({tree.size(), tree.view().max_depth(), specdec::expected_tokens(tree, acceptance)});
  if (static_cast<int>(parents.size()) == max_nodes) return;
  for (std::int32_t p = 0; p < static_cast<std::int32_t>(parents.size()); ++p) {
    parents.push_back(p);
    enumerate(parents, max_nodes, acceptance, out);
    parents.pop_back();
  }
}

}  // namespace

TEST_CASE("Sequoia: hand-computed plans and expected tokens") {
  const std::vector<double> half{0.5};
  const auto chain = specdec::plan_sequoia_tree(half, 4, 3);
  REQUIRE(chain.expected_tokens == Approx(1.875));  // 1 + 1/2 + 1/4 + 1/8
  REQUIRE(chain.choices.paths() == std::vector<std::vector<std::int32_t>>{{0}, {0, 0}, {0, 0, 0}});

  const std::vector<double> wide{0.3, 0.2, 0.1};
  const auto star = specdec::plan_sequoia_tree(wide, 4, 1);
  REQUIRE(star.expected_tokens == Approx(1.6));
  REQUIRE(star.choices.paths() == std::vector<std::vector<std::int32_t>>{{0}, {1}, {2}});

  // Budget 3, depth 2, acceptance {0.6, 0.3}: a chain (1 + .6 + .36 = 1.96) beats two children (1.9).
  const std::vector<double> steep{0.6, 0.3};
  const auto plan = specdec::plan_sequoia_tree(steep, 3, 2);
  REQUIRE(plan.expected_tokens == Approx(1.96));
  REQUIRE(plan.choices.paths() == std::vector<std::vector<std::int32_t>>{{0}, {0, 0}});
  REQUIRE(specdec::expected_tokens(plan.choices, steep) == Approx(1.96));
}

TEST_CASE("Sequoia: the dynamic program equals brute force over all trees of up to 7 nodes") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 8; ++trial) {
    const std::size_t ranks = 1 + rng() % 4;
    std::vector<double> acceptance(ranks);
    double total = 0.0;
    for (double& a : acceptance) total += (a = std::uniform_real_distribution<double>(0.0, 1.0)(rng));
    const double scale = std::uniform_real_distribution<double>(0.3, 1.0)(rng) / total;
    for (double& a : acceptance) a *= scale;
    if (trial % 2 == 1) std::sort(acceptance.begin(), acceptance.end(), std::greater<>());  // the usual shape

    std::vector<shape_value> trees;
    std::vector<std::int32_t> parents{-1};
    enumerate(parents, 7, acceptance, trees);
    REQUIRE(trees.size() == 1 + 1 + 2 + 6 + 24 + 120 + 720);
    for (index_t budget = 1; budget <= 7; ++budget) {
      for (index_t depth = 1; depth <= 7; ++depth) {
        double best = 0.0;
        for (const auto& t : trees) {
          if (t.nodes <= budget && t.height <= depth) best = std::max(best, t.value);
        }
        const auto plan = specdec::plan_sequoia_tree(acceptance, budget, depth);
        INFO("budget " << budget << " depth " << depth);
        REQUIRE(plan.expected_tokens == Approx(best).epsilon(1e-12));
        REQUIRE(plan.choices.size() <= budget);
        REQUIRE(plan.choices.max_depth() <= depth);
        REQUIRE(specdec::expected_tokens(plan.choices, acceptance) == Approx(plan.expected_tokens).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("Sequoia: larger plans stay consistent and bad inputs are rejected") {
  const std::vector<double> acceptance{0.45, 0.15, 0.08, 0.05, 0.03, 0.02};
  double previous = 0.0;
  for (index_t budget : {8, 16, 32, 64, 128}) {
    const auto plan = specdec::plan_sequoia_tree(acceptance, budget, 8);
    REQUIRE(plan.choices.size() == budget);  // every extra node adds a positive probability
    REQUIRE(plan.expected_tokens > previous);
    previous = plan.expected_tokens;
    specdec::static_tree_builder builder;
    std::vector<specdec::token_id> heads(8 * 6, 1);
    token_tree tree(0);
    builder.build(plan.choices, 0, specdec::const_matrix_view<specdec::token_id>(heads.data(), 8, 6), tree);
    REQUIRE(specdec::expected_tokens(tree, acceptance) == Approx(plan.expected_tokens).epsilon(1e-12));
  }

  REQUIRE_INVALID_ARGUMENT("node_budget = 0", specdec::plan_sequoia_tree(acceptance, 0, 4));
  REQUIRE_INVALID_ARGUMENT("node_budget = 4097", specdec::plan_sequoia_tree(acceptance, 4097, 4));
  REQUIRE_INVALID_ARGUMENT("max_depth = 0", specdec::plan_sequoia_tree(acceptance, 8, 0));
  REQUIRE_INVALID_ARGUMENT("acceptance[1] = 1.5", specdec::plan_sequoia_tree(std::vector<double>{0.1, 1.5}, 8, 2));
  REQUIRE_INVALID_ARGUMENT("sum of acceptance = 1.2", specdec::plan_sequoia_tree(std::vector<double>{0.6, 0.6}, 8, 2));
  REQUIRE(specdec::plan_sequoia_tree(acceptance, 1, 4).choices.size() == 1);
  REQUIRE(specdec::plan_sequoia_tree(std::vector<double>{}, 8, 4).expected_tokens == 1.0);
}
