//! Machinery every verifier shares: input validation, sibling links, processed target rows, emission
//! with stop tokens, and the greedy walk that temperature 0 selects in every rule.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/random.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sample.hpp"
#include "specdec/sampling/softmax.hpp"
#include "specdec/tree/sibling_links.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! Deliberate errors that the conformance kit's meta-tests switch on, to prove that its statistics
//! catch them. Production code always uses `none`; each rule documents which faults it supports.
enum class injected_fault : std::uint8_t {
  none,
  resample_from_target,  //!< after a rejection, sample p instead of the residual
  child_row,             //!< judge a child against the child's own target row instead of its parent's
  skip_renormalisation,  //!< test later children against the unnormalised residual
  reuse_uniform,         //!< draw every accept/reject decision from one uniform
  keep_rejected_child,   //!< (one-hot rule) leave a rejected child's mass in the residual
  subtract_zeroed_q,     //!< (without replacement) subtract q after zeroing the rejected draft, not before
};

//! The processed target distribution p at one tree row, computed no further than a decision needs.
//! Without top-k/top-p/min-p, an acceptance decision needs p(x) for a few tokens only, and
//! p(x) = exp((l_x - max) / T) / Z follows from one pass of row statistics (the max, Z); the full row
//! is written only when a residual or bonus is sampled. With a filter the row is processed at once.
//! `p(x)` and `full()[x]` are bit-identical: the same float operations in the same order.
class target_row {
public:
  //! Loads row `row` of `in.target_logits` (validating it) under `in.params` (not greedy).
  void load(const verify_input& in, index_t row, logits_processor& processor) {
    logits_ = in.target_logits.row(row);
    params_ = in.params;
    processor_ = &processor;
    const bool filtered = params_.top_k != sampling_params::top_k_off || params_.top_p < sampling_params::top_p_off ||
                          params_.min_p > sampling_params::min_p_off;
    materialised_ = false;
    if (filtered) {
      full();
      return;
    }
    max_ = checked_argmax(logits_, "target_logits row").value;
    inv_sum_ = 1.0 / detail::sum_exp(logits_, max_, params_.temperature);
  }

  //! p(x).
  [[nodiscard]] float p(token_id x) const {
    if (materialised_) return probs_[static_cast<std::size_t>(x)];
    const float processed = (logits_[static_cast<std::size_t>(x)] - max_) / params_.temperature;
    return static_cast<float>(static_cast<double>(exp_nonpositive(processed)) * inv_sum_);
  }

  //! The whole row of p (valid until the next `load`).
  std::span<float> full() {
    if (!materialised_) {
      probs_.resize(logits_.size());
      processor_->probabilities(logits_, params_, probs_);
      materialised_ = true;
    }
    return probs_;
  }

private:
  std::span<const float> logits_;
  sampling_params params_;
  logits_processor* processor_ = nullptr;
  std::vector<float> probs_;
  float max_ = 0.0f;
  double inv_sum_ = 0.0;
  bool materialised_ = false;
};

//! The per-verifier workspace. Buffers grow to the largest tree and vocabulary seen and are reused.
class verify_workspace {
public:
  //! Validates `in`, resets `out` to the root, and links each node's children in rank order.
  void begin(const verify_input& in, duplicate_siblings siblings, bool needs_q, verify_result& out) {
    const auto n = static_cast<std::size_t>(std::max<index_t>(in.tree.size(), 0));
    scratch_.resize(siblings == duplicate_siblings::forbidden ? n : 0);
    validate_verify_input(in, siblings, needs_q, scratch_);
    first_child_.resize(n);
    next_sibling_.resize(n);
    sibling_links(in.tree, first_child_, next_sibling_);
    out.clear();
  }

  [[nodiscard]] std::int32_t first_child(std::int32_t node) const noexcept {
    return first_child_[static_cast<std::size_t>(node)];
  }
  [[nodiscard]] std::int32_t next_sibling(std::int32_t node) const noexcept {
    return next_sibling_[static_cast<std::size_t>(node)];
  }

  //! The processed target distribution p at tree row `row`, fully written (valid until the next call).
  std::span<float> target_probs(const verify_input& in, index_t row) {
    row_.load(in, row, processor_);
    return row_.full();
  }

  //! The processed target distribution p at tree row `row`, lazily (valid until the next call).
  target_row& target(const verify_input& in, index_t row) {
    row_.load(in, row, processor_);
    return row_;
  }

  //! A vocabulary-sized float buffer for residuals.
  std::span<float> residual(std::size_t vocab) {
    residual_.resize(vocab);
    return residual_;
  }

  //! Two vocabulary-sized double buffers: the residual r and the current draft distribution q^(j) of
  //! the multi-draft rules, which renormalise repeatedly and want the headroom.
  std::span<double> residual_double(std::size_t vocab) {
    residual_double_.resize(vocab);
    return residual_double_;
  }
  std::span<double> draft_double(std::size_t vocab) {
    draft_double_.resize(vocab);
    return draft_double_;
  }

  //! Records that `child` was accepted. Returns false when its token is a stop token: emission ends.
  static bool accept(const verify_input& in, verify_result& out, std::int32_t child, float logprob) {
    const token_id token = in.tree.token(child);
    out.path.push_back(child);
    out.tokens.push_back(token);
    out.logprobs.push_back(logprob);
    out.depth_accepted.push_back(1);
    if (is_stop(in, token)) {
      out.stopped = true;
      return false;
    }
    return true;
  }

  //! Records that every child of the current node was rejected (call before `finish`).
  static void reject_all(verify_result& out) { out.depth_accepted.push_back(0); }

  //! Emits the final correction or bonus token.
  static void finish(const verify_input& in, verify_result& out, token_id token, float logprob) {
    out.tokens.push_back(token);
    out.logprobs.push_back(logprob);
    out.stopped = is_stop(in, token);
  }

private:
  static bool is_stop(const verify_input& in, token_id token) noexcept {
    return std::find(in.stop_tokens.begin(), in.stop_tokens.end(), token) != in.stop_tokens.end();
  }

  logits_processor processor_;
  target_row row_;
  std::vector<float> residual_;
  std::vector<double> residual_double_;
  std::vector<double> draft_double_;
  std::vector<std::int32_t> first_child_;
  std::vector<std::int32_t> next_sibling_;
  std::vector<std::uint64_t> scratch_;
};

//! log(p) as the float the result stores.
[[nodiscard]] inline float log_probability(float p) noexcept {
  return static_cast<float>(std::log(static_cast<double>(p)));
}

//! The greedy rule on any tree (input already validated, `out` at the root): from the root, descend
//! into the first child (in rank order) whose token is the target argmax at its parent (ties to the
//! lowest id); emit the argmax at the last accepted node. Reads one row per accepted draft, plus one.
inline void greedy_walk(const verify_input& in, verify_workspace& ws, verify_result& out) {
  std::int32_t node = 0;
  for (;;) {
    const auto row = in.target_logits.row(node);
    const argmax_result best = checked_argmax(row, "target_logits row");
    const float logprob = static_cast<float>(static_cast<double>(best.value) - logsumexp(row));
    std::int32_t child = ws.first_child(node);
    while (child != -1 && in.tree.token(child) != best.index) child = ws.next_sibling(child);
    if (child == -1) {
      if (ws.first_child(node) != -1) verify_workspace::reject_all(out);
      verify_workspace::finish(in, out, best.index, logprob);
      return;
    }
    if (!verify_workspace::accept(in, out, child, logprob)) return;
    node = child;
  }
}

//! What a sampling rule decides at one node with children: the accepted child, or -1 and the
//! correction token sampled after every child was rejected.
struct node_decision {
  std::int32_t accepted_child;
  token_id correction;
};

//! The walk every sampling rule shares (input already validated, `out` at the root): at each node,
//! a leaf emits a bonus sampled from p (exponential race at (leaf, `bonus`)); otherwise
//! `decide(target, node)` -- the rule proper -- accepts a child, and the walk descends, or returns the
//! correction, and the walk ends. `target` is the lazily processed target row at the node (at its
//! first child when `judge_by_child_row`: the meta-test fault `child_row`). Stop tokens end the walk.
template <class Decide>
void sampling_walk(const verify_input& in, verify_workspace& ws, verify_result& out, Decide&& decide,
                   bool judge_by_child_row = false) {
  std::int32_t node = 0;
  for (;;) {
    const std::int32_t first = ws.first_child(node);
    target_row& target = ws.target(in, judge_by_child_row && first != -1 ? first : node);
    if (first == -1) {
      const token_id bonus = sample_exponential_race(std::span<const float>(target.full()), in.address.at(static_cast<std::uint32_t>(node), purpose::bonus));
      verify_workspace::finish(in, out, bonus, log_probability(target.p(bonus)));
      return;
    }
    const node_decision decision = decide(target, node);
    if (decision.accepted_child == -1) {
      verify_workspace::reject_all(out);
      verify_workspace::finish(in, out, decision.correction, log_probability(target.p(decision.correction)));
      return;
    }
    const token_id token = in.tree.token(decision.accepted_child);
    if (!verify_workspace::accept(in, out, decision.accepted_child, log_probability(target.p(token)))) return;
    node = decision.accepted_child;
  }
}

//! The entry every sampling rule shares: validates `in` (q too when sampling and `needs_q`), runs
//! `check_shape()` for a rule's own constraints on the tree, then applies the greedy rule at
//! temperature 0 and `sampling_walk` with `decide` otherwise.
template <class Decide, class CheckShape>
void verify_with_rule(const verify_input& in, verify_workspace& ws, verify_result& out, duplicate_siblings siblings,
                      bool needs_q, Decide&& decide, CheckShape&& check_shape, bool judge_by_child_row = false) {
  const bool greedy = in.params.greedy();
  ws.begin(in, siblings, needs_q && !greedy, out);
  check_shape();
  if (greedy) {
    greedy_walk(in, ws, out);
    return;
  }
  sampling_walk(in, ws, out, decide, judge_by_child_row);
}

//! For rules that accept any tree shape.
inline constexpr auto any_shape = [] {};

//! Samples token i with probability w_i / sum(w) at `address` (the exponential race), falling back to
//! `fallback` when no weight is positive -- a residual whose mass rounded to zero.
inline token_id sample_weights_or(std::span<const float> weights, std::span<const float> fallback,
                                  const random_address& address) {
  const bool any = std::any_of(weights.begin(), weights.end(), [](float w) { return w > 0.0f; });
  return sample_exponential_race(any ? weights : fallback, address, "residual");
}

//! Scales `w` to sum 1 and returns its mass before scaling (0 leaves it untouched).
inline double normalise(std::span<double> w) noexcept {
  double mass = 0.0;
  for (const double x : w) mass += x;
  if (mass > 0.0) {
    const double inv = 1.0 / mass;
    for (double& x : w) x *= inv;
  }
  return mass;
}

//! Samples from the residual `r` after every child of a node was rejected. If no entry of `r` is
//! positive (a residual that rounded to nothing; in exact arithmetic the rules never get here), samples
//! p without the children's tokens, and p itself if the children cover its support. `scratch` holds
//! the vocabulary.
inline token_id sample_residual(std::span<const double> r, std::span<const float> p, std::span<float> scratch,
                                const token_tree_view& tree, const verify_workspace& ws, std::int32_t node,
                                const random_address& address) {
  if (std::any_of(r.begin(), r.end(), [](double w) { return w > 0.0; })) {
    return sample_exponential_race(r, address, "residual");
  }
  std::copy(p.begin(), p.end(), scratch.begin());
  for (std::int32_t c = ws.first_child(node); c != -1; c = ws.next_sibling(c)) {
    scratch[static_cast<std::size_t>(tree.token(c))] = 0.0f;
  }
  return sample_weights_or(scratch, p, address);
}

} // namespace detail
} // namespace v0
} // namespace specdec
