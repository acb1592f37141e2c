//! The walk state a verification rule works in: the validated input, the tree's sibling links, lazily
//! processed target rows, scratch rows, and the emission of accepted, correction and bonus tokens.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

#include "specdec/core/random.hpp"
#include "specdec/sampling/argmax.hpp"
#include "specdec/sampling/detail/row_math.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sample.hpp"
#include "specdec/tree/sibling_links.hpp"
#include "specdec/verify/target_row.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! What a rule decides at one node with children: the accepted child, or -1 and the correction token
//! sampled after every child was rejected.
struct node_decision {
  std::int32_t accepted_child = -1;
  token_id correction = no_token;
};

//! The state of one verification step, owned by `tree_verifier` and lent to its rule. Buffers grow to
//! the largest tree and vocabulary seen and are reused, so a warm verifier allocates nothing.
class verify_state {
public:
  //! Validates `in` (q's shape too when `needs_q`), resets `out` to the root and links each node's
  //! children in rank order.
  void begin(const verify_input& in, verify_result& out, duplicate_siblings siblings, bool needs_q) {
    const auto n = static_cast<std::size_t>(std::max<index_t>(in.tree.size(), 0));
    scratch_keys_.resize(siblings == duplicate_siblings::forbidden ? n : 0);
    detail::validate_verify_input(in, siblings, needs_q, scratch_keys_);
    first_child_.resize(n);
    next_sibling_.resize(n);
    sibling_links(in.tree, first_child_, next_sibling_);
    in_ = &in;
    out_ = &out;
    out.clear();
  }

  //! The step's input.
  [[nodiscard]] const verify_input& input() const noexcept { return *in_; }
  //! The first child of `node` in rank order, -1 for a leaf.
  [[nodiscard]] std::int32_t first_child(std::int32_t node) const noexcept { return first_child_[static_cast<std::size_t>(node)]; }
  //! The next sibling of `node` in rank order, -1 after the last.
  [[nodiscard]] std::int32_t next_sibling(std::int32_t node) const noexcept { return next_sibling_[static_cast<std::size_t>(node)]; }

  //! p at tree row `node`, lazily processed (valid until the next call); errors name the node.
  target_row& target(std::int32_t node) {
    row_.load(input().target_logits.row(node), input().params, processor_, row_name(node));
    return row_;
  }

  //! Validates the raw target logits of tree row `node` and returns their maximum entry (greedy rules).
  [[nodiscard]] argmax_result target_argmax(std::int32_t node) {
    return checked_argmax(input().target_logits.row(node), row_name(node));
  }

  //! Scratch rows of the vocabulary's size: one float row and two double rows (residuals and the
  //! running draft distribution of the multi-draft rules, which renormalise repeatedly).
  std::span<float> scratch_float() { return sized(scratch_float_); }
  std::span<double> scratch_double(int which) { return sized(which == 0 ? scratch_double0_ : scratch_double1_); }

  //! q's row `node`, whose entries a rule checks as it reads them (`q_entry`, `checked_q_row`).
  [[nodiscard]] std::span<const float> q_row(std::int32_t node) const { return input().draft_probs.row(node); }
  //! q(token) at row `node`, checked to be a probability.
  [[nodiscard]] float q_entry(std::int32_t node, token_id token) const {
    const float q = input().draft_probs(node, token);
    if (!(q >= 0.0f && q <= 1.0f)) [[unlikely]] bad_q(node, token, q);
    return q;
  }
  //! q's row `node`, every entry checked to be a probability and the row a distribution (its sum within
  //! 1e-3 of 1: float rounding over a large vocabulary, far below any real mistake).
  std::span<const float> checked_q_row(std::int32_t node) const {
    const std::span<const float> q = q_row(node);
    double sum = 0.0;
    for (std::size_t t = 0; t < q.size(); ++t) {
      if (!(q[t] >= 0.0f && q[t] <= 1.0f)) [[unlikely]] bad_q(node, static_cast<token_id>(t), q[t]);
      sum += static_cast<double>(q[t]);
    }
    if (!(std::abs(sum - 1.0) <= 1e-3)) [[unlikely]] {
      char name[96];
      std::snprintf(name, sizeof name, "sum of draft_probs row %d (q of tree node %d's children)", node, node);
      expects(false, name, sum, "1 within 1e-3: row i is the distribution node i's children were drawn from");
    }
    return q;
  }

  //! Records that `child` was accepted with log-probability `logprob`. Returns false when its token is a
  //! stop token: emission ends there.
  bool accept(std::int32_t child, float logprob) {
    const token_id token = input().tree.token(child);
    out_->path.push_back(child);
    out_->tokens.push_back(token);
    out_->logprobs.push_back(logprob);
    out_->depth_accepted.push_back(1);
    if (is_stop(token)) {
      out_->stopped = true;
      return false;
    }
    return true;
  }

  //! Records that every child of the current node was rejected (before `finish`).
  void reject_all() { out_->depth_accepted.push_back(0); }

  //! Emits the final correction or bonus token.
  void finish(token_id token, float logprob) {
    out_->tokens.push_back(token);
    out_->logprobs.push_back(logprob);
    out_->stopped = is_stop(token);
  }

private:
  template <class T>
  std::span<T> sized(std::vector<T>& v) {
    v.resize(static_cast<std::size_t>(input().target_logits.cols()));
    return v;
  }

  [[nodiscard]] bool is_stop(token_id token) const noexcept {
    return std::find(input().stop_tokens.begin(), input().stop_tokens.end(), token) != input().stop_tokens.end();
  }

  // "target_logits row 3 (tree node 3), token": the row's errors read "... token[5] = nan violates ...".
  std::string_view row_name(std::int32_t node) {
    const int n = std::snprintf(row_name_, sizeof row_name_, "target_logits row %d (tree node %d), token", node, node);
    return {row_name_, static_cast<std::size_t>(n)};
  }

  [[noreturn, gnu::cold]] static void bad_q(std::int32_t node, token_id token, float q) {
    char name[128];
    std::snprintf(name, sizeof name, "draft_probs row %d (q of tree node %d's children), token", node, node);
    detail::throw_invalid_element(name, token, q, "a probability in [0, 1]");
  }

  const verify_input* in_ = nullptr;
  verify_result* out_ = nullptr;
  logits_processor processor_;
  target_row row_;
  std::vector<float> scratch_float_;
  std::vector<double> scratch_double0_;
  std::vector<double> scratch_double1_;
  std::vector<std::int32_t> first_child_;
  std::vector<std::int32_t> next_sibling_;
  std::vector<std::uint64_t> scratch_keys_;
  char row_name_[80] = {};
};

namespace detail {

//! log(p) as the float the result stores.
[[nodiscard]] inline float log_probability(float p) noexcept { return static_cast<float>(std::log(static_cast<double>(p))); }

//! The greedy rule on any tree (state begun): from the root, descend into the first child (in rank
//! order) whose token is the target argmax at its parent (ties to the lowest id); emit the argmax at the
//! last accepted node. Log-probabilities are the unprocessed log-softmax at the argmax,
//! -log(sum_i exp(l_i - max)), exact at any logit magnitude. Reads one row per accepted draft, plus one.
inline void greedy_walk(verify_state& s) {
  const verify_input& in = s.input();
  std::int32_t node = 0;
  for (;;) {
    const argmax_result best = s.target_argmax(node);
    const auto logprob = static_cast<float>(-std::log(sum_exp(in.target_logits.row(node), best.value, 1.0f)));
    std::int32_t child = s.first_child(node);
    while (child != -1 && in.tree.token(child) != best.index) child = s.next_sibling(child);
    if (child == -1) {
      if (s.first_child(node) != -1) s.reject_all();
      s.finish(best.index, logprob);
      return;
    }
    if (!s.accept(child, logprob)) return;
    node = child;
  }
}

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

//! Samples from the residual `r` after every child of `node` was rejected. If no entry of `r` is
//! positive (a residual that rounded to nothing; in exact arithmetic the rules never get here), samples
//! p without the children's tokens, and p itself if the children cover its support.
inline token_id sample_residual(verify_state& s, std::span<const double> r, std::span<const float> p, std::int32_t node) {
  const random_address address = s.input().address.at(static_cast<std::uint32_t>(node), purpose::residual);
  if (std::any_of(r.begin(), r.end(), [](double w) { return w > 0.0; })) {
    return sample_exponential_race(r, address, "residual");
  }
  const std::span<float> scratch = s.scratch_float();
  std::copy(p.begin(), p.end(), scratch.begin());
  for (std::int32_t c = s.first_child(node); c != -1; c = s.next_sibling(c)) {
    scratch[static_cast<std::size_t>(s.input().tree.token(c))] = 0.0f;
  }
  return sample_weights_or(scratch, p, address);
}

} // namespace detail
} // namespace v0
} // namespace specdec
