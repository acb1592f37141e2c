#include <specdec/tree/medusa_planner.hpp>
#include <specdec/tree/tree_choices.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "support/catch.hpp"

using specdec::index_t;

namespace {

using accuracy_table = std::vector<std::vector<double>>;

double path_value(const accuracy_table& accuracy, const std::vector<std::int32_t>& path) {
  double v = 1.0;
  for (std::size_t d = 0; d < path.size(); ++d) v *= accuracy[d][static_cast<std::size_t>(path[d])];
  return v;
}

// Every rank path of the full tree up to `depth`, for brute force.
void all_paths(const accuracy_table& accuracy, std::size_t depth, std::vector<std::int32_t>& path,
               std::vector<std::vector<std::int32_t>>& out) {
  if (path.size() == depth) return;
  for (std::size_t r = 0; r < accuracy[path.size()].size(); ++r) {
    path.push_back(static_cast<std::int32_t>(r));
    out.push_back(path);
    all_paths(accuracy, depth, path, out);
    path.pop_back();
  }
}

// The best value over every prefix-closed set of at most `budget - 1` paths.
double brute_force(const accuracy_table& accuracy, std::size_t depth, index_t budget) {
  std::vector<std::vector<std::int32_t>> paths;
  std::vector<std::int32_t> path;
  all_paths(accuracy, depth, path, paths);
  REQUIRE(paths.size() <= 20);
  double best = 1.0;
  for (std::uint32_t mask = 1; mask < (1u << paths.size()); ++mask) {
    std::set<std::vector<std::int32_t>> chosen;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      if ((mask >> i) & 1u) chosen.insert(paths[i]);
    }
    if (static_cast<index_t>(chosen.size()) + 1 > budget) continue;
    bool closed = true;
    double value = 1.0;
    for (const auto& p : chosen) {
      if (p.size() > 1 && !chosen.count(std::vector<std::int32_t>(p.begin(), p.end() - 1))) closed = false;
      value += path_value(accuracy, p);
    }
    if (closed) best = std::max(best, value);
  }
  return best;
}

}  // namespace

TEST_CASE("plan_medusa_tree: a hand-checked table") {
  // Head 1 is right at rank 0 half the time, at rank 1 a fifth; head 2 at rank 0 a quarter.
  const accuracy_table accuracy{{0.5, 0.2}, {0.25, 0.1}};
  // Best first: [0] 0.5, [1] 0.2, [0,0] 0.125, [0,1] 0.05 / [1,0] 0.05 (tie: [0,1] first), ...
  const auto plan = specdec::plan_medusa_tree(accuracy, 5);
  REQUIRE(plan.choices.size() == 5);
  const std::vector<std::vector<std::int32_t>> expected{{0}, {1}, {0, 0}, {0, 1}};
  CHECK(plan.choices.paths() == expected);
  CHECK(plan.expected_tokens == Approx(1.0 + 0.5 + 0.2 + 0.125 + 0.05));
  // A budget of 1 is the root alone; depth 1 keeps the first head only.
  CHECK(specdec::plan_medusa_tree(accuracy, 1).choices.size() == 1);
  const auto shallow = specdec::plan_medusa_tree(accuracy, 64, 1);
  CHECK(shallow.choices.size() == 3);
  CHECK(shallow.expected_tokens == Approx(1.7));
}

TEST_CASE("plan_medusa_tree: optimal against brute force, prefix-closed, monotone in the budget") {
  std::mt19937 rng(20261128);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t depth = 1 + static_cast<std::size_t>(trial % 3);
    const std::size_t ranks = depth == 3 ? 2 : 3;
    accuracy_table accuracy(depth, std::vector<double>(ranks));
    for (auto& row : accuracy) {
      double total = 0.0;
      for (double& a : row) total += (a = unit(rng) * (trial % 5 == 0 ? 0.0 : 1.0) + (trial % 7 == 0 ? 0.0 : 0.01));
      const double scale = unit(rng) / std::max(total, 1e-12);  // each row sums to at most 1
      for (double& a : row) a *= scale;
    }
    double previous = 0.0;
    for (index_t budget = 1; budget <= 10; ++budget) {
      const auto plan = specdec::plan_medusa_tree(accuracy, budget);
      REQUIRE(plan.choices.size() <= budget);
      double value = 1.0;
      for (const auto& p : plan.choices.paths()) value += path_value(accuracy, p);  // tree_choices checked prefix closure
      CHECK(plan.expected_tokens == Approx(value).epsilon(1e-12));
      CHECK(plan.expected_tokens == Approx(brute_force(accuracy, depth, budget)).epsilon(1e-12));
      CHECK(plan.expected_tokens >= previous);
      previous = plan.expected_tokens;
    }
  }
}

TEST_CASE("plan_medusa_tree: bad tables and budgets are refused, naming the argument") {
  REQUIRE_INVALID_ARGUMENT("accuracy", specdec::plan_medusa_tree({}, 8));
  REQUIRE_INVALID_ARGUMENT("accuracy[1]", specdec::plan_medusa_tree({{0.5}, {}}, 8));
  REQUIRE_INVALID_ARGUMENT("accuracy[0]", specdec::plan_medusa_tree({{0.5, 1.5}}, 8));
  REQUIRE_INVALID_ARGUMENT("at most 1", specdec::plan_medusa_tree({{0.7, 0.6}}, 8));
  REQUIRE_INVALID_ARGUMENT("[0, 1]", specdec::plan_medusa_tree({{0.5, -0.1}}, 8));
  REQUIRE_INVALID_ARGUMENT("[0, 1]", specdec::plan_medusa_tree({{0.5, std::nan("")}}, 8));
  REQUIRE_INVALID_ARGUMENT("node_budget", specdec::plan_medusa_tree({{0.5}}, 0));
  REQUIRE_INVALID_ARGUMENT("node_budget", specdec::plan_medusa_tree({{0.5}}, specdec::max_tree_nodes + 1));
  REQUIRE_INVALID_ARGUMENT("max_depth", specdec::plan_medusa_tree({{0.5}}, 8, 0));
}
