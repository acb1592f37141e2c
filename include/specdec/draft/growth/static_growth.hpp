//! A static shape: Medusa's tree choices, or a Sequoia plan.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/draft/growth/detail_budget.hpp"
#include "specdec/draft/growth_policy.hpp"
#include "specdec/tree/sequoia_planner.hpp"
#include "specdec/tree/tree_choices.hpp"

namespace specdec {
inline namespace v0 {

//! Grows the shape `tree_choices` lists (Medusa's `medusa_choices`, EAGLE-1's and Hydra's static trees,
//! or `plan_sequoia_tree(...).choices`): the node with rank path `{r1, ..., rd}` takes its parent's
//! `rd`-th best token. Deterministic drafts create each node's best `candidates_needed` tokens and drop
//! the ranks the choices skip (`prune`); sampled drafts draw as many children as the node has in the
//! choices, the j-th draw taking the j-th listed child's place in the shape.
class static_growth {
public:
  explicit static_growth(tree_choices choices) : choices_(std::move(choices)) {
    expects(choices_.size() >= 2, "choices.size()", choices_.size(), ">= 2 (a shape with at least one draft)");
    children_.assign(static_cast<std::size_t>(choices_.size()), 0);
    first_child_.assign(static_cast<std::size_t>(choices_.size()), -1);
    for (index_t i = choices_.size() - 1; i >= 1; --i) {
      const auto p = static_cast<std::size_t>(choices_.parent(i));
      ++children_[p];
      first_child_[p] = static_cast<std::int32_t>(i);  // the smallest index wins: children are contiguous
    }
    for (index_t i = 0; i < choices_.size(); ++i) k_ = std::max(k_, choices_.candidates_needed(i));
  }
  //! The shape of a Sequoia plan.
  explicit static_growth(const sequoia_plan& plan) : static_growth(plan.choices) {}

  [[nodiscard]] index_t max_depth() const noexcept { return choices_.max_depth(); }
  [[nodiscard]] index_t max_nodes() const noexcept { return choices_.size(); }
  [[nodiscard]] index_t candidates_per_node() const noexcept { return k_; }
  [[nodiscard]] const tree_choices& choices() const noexcept { return choices_; }

  void choose_children(growth_frontier& f) {
    deterministic_ = f.may_exceed_budget;
    if (f.depth == 0) choice_of_.assign(1, 0);
    parents_choice_.resize(f.nodes.size());
    for (std::size_t r = 0; r < f.nodes.size(); ++r) {
      const std::int32_t c = choice_of_[static_cast<std::size_t>(f.nodes[r])];
      parents_choice_[r] = c;
      const std::int32_t wanted = c < 0 ? 0
                                  : deterministic_ ? choices_.candidates_needed(c)
                                                   : children_[static_cast<std::size_t>(c)];
      f.children[r] = std::min(wanted, detail::drawable(f, r, wanted));
    }
  }

  void choose_expansions(growth_children& g) {
    const auto size = static_cast<std::size_t>(g.nodes.back()) + 1;
    if (choice_of_.size() < size) choice_of_.resize(size, -1);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const std::int32_t parent_choice = parents_choice_[static_cast<std::size_t>(g.frontier_row[i])];
      std::int32_t c = -1;
      if (parent_choice >= 0) {
        const std::int32_t first = first_child_[static_cast<std::size_t>(parent_choice)];
        const std::int32_t count = children_[static_cast<std::size_t>(parent_choice)];
        if (deterministic_) {  // the child of rank `sibling_rank`, if the choices list it
          for (std::int32_t j = 0; j < count; ++j) {
            if (choices_.rank(first + j) == g.sibling_rank[i]) c = first + j;
          }
        } else if (g.sibling_rank[i] < count) {
          c = first + g.sibling_rank[i];
        }
      }
      choice_of_[static_cast<std::size_t>(g.nodes[i])] = c;
      g.expand[i] = c >= 0 && children_[static_cast<std::size_t>(c)] > 0 ? 1 : 0;
    }
  }

  //! Drops the ranks the choices skip (deterministic drafts only).
  void prune(const token_tree_view& tree, std::span<const double>, std::span<std::uint8_t> keep) const {
    for (index_t i = 1; i < tree.size(); ++i) {
      if (static_cast<std::size_t>(i) >= choice_of_.size() || choice_of_[static_cast<std::size_t>(i)] < 0) keep[static_cast<std::size_t>(i)] = 0;
    }
  }

private:
  tree_choices choices_;
  std::vector<std::int32_t> children_;
  std::vector<std::int32_t> first_child_;
  std::vector<std::int32_t> choice_of_;
  std::vector<std::int32_t> parents_choice_;
  std::int32_t k_ = 1;
  bool deterministic_ = true;
};

static_assert(growth_policy<static_growth>);

} // namespace v0
} // namespace specdec
