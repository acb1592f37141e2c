//! The head drafter: grows a token tree from regressive heads (Clover, Hydra, EAGLE, MTP, ReDrafter,
//! Medusa through `medusa_heads`, layer skip through `layer_skip_heads`) under a growth policy, with
//! deterministic or sampled drafts.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "specdec/backend/heads.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/draft/detail/draft_model_sync.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/detail/top_k.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/draft/growth_policy.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/softmax.hpp"

namespace specdec {
inline namespace v0 {

//! Settings of `head_drafter`.
struct head_drafter_options {
  //! The processing that turns a head's logits into its draft distribution q (temperature, top-k,
  //! top-p, min-p). Policies rank and cut by q; sampled drafts draw from q and hand it to the verifier
  //! as drawn. Keep the temperature above 0: a greedy q has one token, so a tree would have one child
  //! per node.
  sampling_params params;
};

//! Grows each step's tree depth by depth. At every depth the frontier -- the nodes the policy chose to
//! expand -- is evaluated in one `heads.step` call (each node from its parent's state and its own
//! token; the root from the request's context state); each node's draft distribution q is ranked; the
//! policy sets how many children each node gets; the drafter creates them and the policy picks the
//! next frontier. `Scheme`:
//! - `deterministic`: children are the best tokens of q (ties to the lower id); the policy may generate
//!   more than the budget and prune, and the best `max_nodes` by cumulative log q stay (EAGLE-2's
//!   rerank). Pair with `one_hot_verifier` (any temperature) or `greedy_verifier`.
//! - `sampled_without_replacement`: each node's children are successive draws from q without
//!   replacement, q is recorded as the node's q row; pair with `rrs_verifier`, lossless at any
//!   temperature.
//! - `sampled_with_replacement`: i.i.d. draws (duplicates possible); pair with `multi_draft_verifier`.
//! Draws are by inverse CDF, child c with the double uniform at (c, `draft_sample`).
//! - `sampled_chain`: at most one drawn child per node; pair with `chain_verifier` or `block_verifier`.
//! Node ids double as the heads' state slots (slot = node index in the tree being grown).
//! Cost per step: `depth` head calls, plus O(V log K) per evaluated node to process and rank q.
template <regressive_heads Heads, growth_policy Policy, draft_scheme Scheme = draft_scheme::deterministic>
class head_drafter {
public:
  static constexpr draft_scheme scheme = Scheme;

  head_drafter(Heads& heads, Policy policy, head_drafter_options options = {})
      : heads_(&heads), policy_(std::move(policy)), options_(options) {
    options_.params.validate();
    expects(heads.vocab_size() >= 1, "heads.vocab_size()", heads.vocab_size(), ">= 1");
  }

  void draft(const draft_context& context, draft_tree& out) {
    constexpr bool deterministic = Scheme == draft_scheme::deterministic;
    const index_t available = heads_->prepare(context.request, context.tokens);
    const index_t depth_limit = std::min({static_cast<index_t>(policy_.max_depth()), context.max_depth, available});
    const index_t budget = std::min<index_t>(static_cast<index_t>(policy_.max_nodes()), context.max_nodes);
    if (depth_limit <= 0 || budget <= 1) return;

    const index_t vocab = context.vocab_size;
    const index_t k = std::min<index_t>(static_cast<index_t>(policy_.candidates_per_node()), vocab);
    draws_.reserve(static_cast<std::size_t>(k));
    drawn_.reserve(static_cast<std::size_t>(k));
    token_tree& grown = deterministic ? candidates_ : out.tree;
    grown.clear(context.tokens.back());
    log_joint_.assign(1, 0.0);
    frontier_.assign(1, 0);
    frontier_joint_.assign(1, 0.0);

    for (index_t depth = 0; depth < depth_limit && !frontier_.empty(); ++depth) {
      evaluate(context, grown, static_cast<std::int32_t>(depth), k);
      growth_frontier f;
      f.depth = static_cast<std::int32_t>(depth);
      f.tree_size = grown.size();
      f.node_budget = budget;
      f.may_exceed_budget = deterministic;
      f.nodes = frontier_;
      f.log_joint = frontier_joint_;
      f.ranked_tokens = const_matrix_view<token_id>(ranked_tokens_.data(), rows(), k);
      f.ranked_probs = const_matrix_view<float>(ranked_probs_.data(), rows(), k);
      children_.assign(frontier_.size(), 0);
      f.children = children_;
      policy_.choose_children(f);
      if (!create_children(context, out, grown, k, budget)) break;

      growth_children g;
      g.depth = static_cast<std::int32_t>(depth + 1);
      g.nodes = new_nodes_;
      g.frontier_row = new_rows_;
      g.sibling_rank = new_ranks_;
      g.log_joint = new_joint_;
      expand_.assign(new_nodes_.size(), 0);
      g.expand = expand_;
      policy_.choose_expansions(g);
      frontier_.clear();
      frontier_joint_.clear();
      for (std::size_t i = 0; i < new_nodes_.size(); ++i) {
        if (expand_[i] == 0) continue;
        frontier_.push_back(new_nodes_[i]);
        frontier_joint_.push_back(new_joint_[i]);
      }
    }
    if constexpr (deterministic) select(budget, out);
  }

  //! Forwards the target's states of committed tokens to the heads; present only when the heads take
  //! them (`h.observe(states)`), so the decoder requires a `hidden_state_source` target exactly then.
  void observe_states(const context_states& states)
    requires requires(Heads& h) { h.observe(states); }
  {
    heads_->observe(states);
  }
  void release(request_id request) { detail::heads_release(*heads_, request); }

  [[nodiscard]] const Policy& policy() const noexcept { return policy_; }
  [[nodiscard]] Heads& heads() const noexcept { return *heads_; }

private:
  [[nodiscard]] index_t rows() const noexcept { return static_cast<index_t>(frontier_.size()); }

  // One head call over the frontier, then q and its ranked top-k per row.
  void evaluate(const draft_context& context, const token_tree& grown, std::int32_t depth, index_t k) {
    const std::size_t f = frontier_.size();
    const auto head_vocab = static_cast<index_t>(heads_->vocab_size());
    const auto vocab = static_cast<std::size_t>(context.vocab_size);
    parents_.resize(f);
    tokens_.resize(f);
    for (std::size_t r = 0; r < f; ++r) {
      const std::int32_t node = frontier_[r];
      parents_[r] = node == 0 ? -1 : grown.parent(node);
      tokens_[r] = grown.token(node);
    }
    head_step step;
    step.request = context.request;
    step.depth = depth;
    step.parents = parents_;
    step.tokens = tokens_;
    step.slots = frontier_;
    head_logits_.resize(f * static_cast<std::size_t>(head_vocab));
    heads_->step(step, matrix_view<float>(head_logits_.data(), static_cast<index_t>(f), head_vocab));

    constexpr bool deterministic = Scheme == draft_scheme::deterministic;
    if constexpr (!deterministic) q_.resize(f * vocab);
    row_.resize(vocab);
    ranked_tokens_.resize(f * static_cast<std::size_t>(k));
    ranked_probs_.resize(f * static_cast<std::size_t>(k));
    for (std::size_t r = 0; r < f; ++r) {
      detail::map_to_target_vocab(std::span<const float>(head_logits_.data() + r * static_cast<std::size_t>(head_vocab),
                                                         static_cast<std::size_t>(head_vocab)),
                                  row_);
      const std::span<token_id> ids(ranked_tokens_.data() + r * static_cast<std::size_t>(k), static_cast<std::size_t>(k));
      const std::span<float> probs(ranked_probs_.data() + r * static_cast<std::size_t>(k), static_cast<std::size_t>(k));
      if constexpr (deterministic) {
        // Only the ranked tokens' probabilities are needed: rank the processed logits (max exactly 0),
        // then normalise those k by the row's sum of exponentials.
        processor_.process(row_, options_.params, row_);
        const std::size_t n = detail::top_k_descending(std::span<const float>(row_), ids, probs);
        const double sum = specdec::detail::sum_exp_shifted(row_, 0.0f);
        for (std::size_t c = 0; c < probs.size(); ++c) {
          probs[c] = c < n ? static_cast<float>(std::exp(static_cast<double>(probs[c])) / sum) : 0.0f;
        }
      } else {
        const std::span<float> q(q_.data() + r * vocab, vocab);
        processor_.probabilities(row_, options_.params, q);
        detail::top_k_descending(std::span<const float>(q), ids, probs);
      }
    }
  }

  // Creates the children the policy asked for, within the schemes' and the budgets' limits. Returns
  // false when none was created.
  bool create_children(const draft_context& context, draft_tree& out, token_tree& grown, index_t k, index_t budget) {
    constexpr bool deterministic = Scheme == draft_scheme::deterministic;
    const auto vocab = static_cast<std::size_t>(context.vocab_size);
    // Deterministic growth may overshoot the budget (the rerank cuts it), never the tree's hard limit.
    index_t left = (deterministic ? max_tree_nodes : budget) - grown.size();
    new_nodes_.clear();
    new_rows_.clear();
    new_ranks_.clear();
    new_joint_.clear();
    for (std::size_t r = 0; r < frontier_.size(); ++r) {
      std::int32_t n = std::clamp<std::int32_t>(children_[r], 0, static_cast<std::int32_t>(k));
      if constexpr (Scheme == draft_scheme::sampled_chain) n = std::min(n, 1);
      n = static_cast<std::int32_t>(std::min<index_t>(n, std::max<index_t>(left, 0)));
      if (n == 0) continue;
      const std::int32_t node = frontier_[r];
      const std::span<const float> q = deterministic ? std::span<const float>{} : std::span<const float>(q_.data() + r * vocab, vocab);
      if constexpr (!deterministic) {
        const std::span<float> q_row = out.q_row(node);
        std::copy(q.begin(), q.end(), q_row.begin());
      }
      first_child_ = grown.size();
      if constexpr (!deterministic) n = draw(context, q, n);
      for (std::int32_t j = 0; j < n; ++j) {
        token_id token = 0;
        float p = 0.0f;
        if constexpr (deterministic) {
          p = ranked_probs_[r * static_cast<std::size_t>(k) + static_cast<std::size_t>(j)];
          if (!(p > 0.0f)) break;
          token = ranked_tokens_[r * static_cast<std::size_t>(k) + static_cast<std::size_t>(j)];
        } else {
          token = draws_[static_cast<std::size_t>(j)];
          p = q[static_cast<std::size_t>(token)];
        }
        const std::int32_t child = grown.add_child(node, token);
        log_joint_.push_back(log_joint_[static_cast<std::size_t>(node)] + std::log(static_cast<double>(p)));
        new_nodes_.push_back(child);
        new_rows_.push_back(static_cast<std::int32_t>(r));
        new_ranks_.push_back(j);
        new_joint_.push_back(log_joint_.back());
        --left;
      }
    }
    return !new_nodes_.empty();
  }

  // Draws `n` children of `node` from q into `draws_` by inverse CDF, draw j with the double uniform at
  // (first child + j, draft_sample); returns how many were drawn. Without replacement (and for a
  // chain) each draw is from q restricted to the tokens not drawn yet: the uniform is scaled to the
  // mass left and stepped over the drawn tokens' intervals. One pass over q builds the CDF; each draw
  // is a binary search. Fewer than `n` when q has fewer tokens.
  std::int32_t draw(const draft_context& context, std::span<const float> q, std::int32_t n) {
    constexpr bool replace = Scheme == draft_scheme::sampled_with_replacement;
    draws_.clear();
    cdf_.resize(q.size());
    double total = 0.0;
    for (std::size_t t = 0; t < q.size(); ++t) {
      total += static_cast<double>(q[t]);
      cdf_[t] = total;
    }
    drawn_.clear();  // drawn tokens, increasing (without replacement)
    double drawn_mass = 0.0;
    for (std::int32_t j = 0; j < n; ++j) {
      const double left = replace ? total : total - drawn_mass;
      if (!(left > 0.0) || (!replace && drawn_.size() == q.size())) break;
      const auto child = static_cast<std::uint32_t>(first_child_) + static_cast<std::uint32_t>(j);
      double x = uniform_double(context.address.at(child, purpose::draft_sample)) * left;
      if constexpr (!replace) {
        for (const token_id d : drawn_) {  // step over the intervals of the tokens already drawn
          const auto t = static_cast<std::size_t>(d);
          if (x < cdf_[t] - static_cast<double>(q[t])) break;
          x += static_cast<double>(q[t]);
        }
      }
      auto t = static_cast<std::size_t>(std::upper_bound(cdf_.begin(), cdf_.end(), x) - cdf_.begin());
      // Rounding can land on a boundary: take the nearest token that may still be drawn.
      const auto usable = [&](std::size_t i) {
        return q[i] > 0.0f && (replace || !std::binary_search(drawn_.begin(), drawn_.end(), static_cast<token_id>(i)));
      };
      if (t >= q.size()) t = q.size() - 1;
      std::size_t up = t, down = t;
      while (!usable(up) && up + 1 < q.size()) ++up;
      if (usable(up)) {
        t = up;
      } else {
        while (!usable(down) && down > 0) --down;
        if (!usable(down)) break;
        t = down;
      }
      const auto token = static_cast<token_id>(t);
      draws_.push_back(token);
      if constexpr (!replace) {
        drawn_.insert(std::upper_bound(drawn_.begin(), drawn_.end(), token), token);
        drawn_mass += static_cast<double>(q[t]);
      }
    }
    return static_cast<std::int32_t>(draws_.size());
  }

  // Deterministic drafts: the policy's prune, then the best `budget` nodes by cumulative log q (ties
  // to the earlier node), closed under parents, in growth order.
  void select(index_t budget, draft_tree& out) {
    const auto n = static_cast<std::size_t>(candidates_.size());
    keep_.assign(n, 1);
    detail::growth_prune(policy_, candidates_.view(), std::span<const double>(log_joint_), std::span<std::uint8_t>(keep_));
    keep_[0] = 1;
    order_nodes_.clear();
    for (std::size_t i = 1; i < n; ++i) {
      if (keep_[i] && !keep_[static_cast<std::size_t>(candidates_.parent(static_cast<index_t>(i)))]) keep_[i] = 0;
      if (keep_[i]) order_nodes_.push_back(static_cast<std::int32_t>(i));
    }
    const auto room = static_cast<std::size_t>(budget - 1);
    if (order_nodes_.size() > room) {
      std::nth_element(order_nodes_.begin(), order_nodes_.begin() + static_cast<std::ptrdiff_t>(room), order_nodes_.end(),
                       [&](std::int32_t a, std::int32_t b) {
                         const double sa = log_joint_[static_cast<std::size_t>(a)];
                         const double sb = log_joint_[static_cast<std::size_t>(b)];
                         return sa != sb ? sa > sb : a < b;
                       });
      order_nodes_.resize(room);
      std::sort(order_nodes_.begin(), order_nodes_.end());
    }
    node_of_.assign(n, -1);
    node_of_[0] = 0;
    out.tree.clear(candidates_.token(0));
    for (const std::int32_t c : order_nodes_) {
      node_of_[static_cast<std::size_t>(c)] =
          out.tree.add_child(node_of_[static_cast<std::size_t>(candidates_.parent(c))], candidates_.token(c));
    }
  }

  Heads* heads_;
  Policy policy_;
  head_drafter_options options_;
  logits_processor processor_;
  token_tree candidates_{0};
  std::vector<double> log_joint_;
  std::vector<std::int32_t> frontier_;
  std::vector<double> frontier_joint_;
  std::vector<std::int32_t> parents_;
  std::vector<token_id> tokens_;
  std::vector<float> head_logits_;
  std::vector<float> q_;
  std::vector<float> row_;
  std::vector<token_id> ranked_tokens_;
  std::vector<float> ranked_probs_;
  std::vector<std::int32_t> children_;
  std::vector<token_id> draws_;
  std::vector<token_id> drawn_;
  std::vector<double> cdf_;
  index_t first_child_ = 0;  // the node id the next drawn child gets
  std::vector<std::int32_t> new_nodes_;
  std::vector<std::int32_t> new_rows_;
  std::vector<std::int32_t> new_ranks_;
  std::vector<double> new_joint_;
  std::vector<std::uint8_t> expand_;
  std::vector<std::uint8_t> keep_;
  std::vector<std::int32_t> order_nodes_;
  std::vector<std::int32_t> node_of_;
};

} // namespace v0
} // namespace specdec
