// Deliberately wrong verification rules for the meta-tests: each is the production rule with one
// injected error, written here as a rule policy of its own (production rules take no fault switch).
// `verifier_with<Rule, Fault>` is the production verifier itself for `injected_fault::none`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include <specdec/specdec.hpp>
#include <specdec/testing/faults.hpp>

namespace specdec_test {

using specdec::testing::injected_fault;

// The target row a faulty rule judges by: the node's own, or (child_row) its first child's, loaded into
// a row of the rule's own.
class judged_row {
public:
  specdec::target_row& get(specdec::verify_state& s, specdec::target_row& own, std::int32_t node, bool child_row) {
    if (!child_row) return own;
    const auto& in = s.input();
    row_.load(in.target_logits.row(s.first_child(node)), in.params, processor_, "child row");
    return row_;
  }

private:
  specdec::logits_processor processor_;
  specdec::target_row row_;
};

inline std::uint32_t decision_node(std::int32_t child, bool reuse_uniform) {
  return reuse_uniform ? 0u : static_cast<std::uint32_t>(child);
}

template <injected_fault Fault>
struct faulty_chain_rule : specdec::chain_rule {
  specdec::node_decision decide(specdec::verify_state& s, specdec::target_row& own, std::int32_t node) {
    const auto& in = s.input();
    specdec::target_row& target = judged_.get(s, own, node, Fault == injected_fault::child_row);
    const std::int32_t child = node + 1;
    const specdec::token_id x = in.tree.token(child);
    const float qx = s.q_entry(node, x);
    const double u = specdec::uniform_double(
        in.address.at(decision_node(child, Fault == injected_fault::reuse_uniform), specdec::purpose::accept));
    if (qx > 0.0f && u * static_cast<double>(qx) <= static_cast<double>(target.p(x))) return {child, specdec::no_token};
    const std::span<float> p = target.full();
    const std::span<const float> q = s.checked_q_row(node);
    const std::span<float> residual = s.scratch_float();
    for (std::size_t t = 0; t < p.size(); ++t) {
      residual[t] = Fault == injected_fault::resample_from_target ? p[t] : std::max(0.0f, p[t] - q[t]);
    }
    return {-1, specdec::detail::sample_weights_or(residual, p, in.address.at(static_cast<std::uint32_t>(node),
                                                                               specdec::purpose::residual))};
  }
  judged_row judged_;
};

template <injected_fault Fault>
struct faulty_one_hot_rule : specdec::one_hot_rule {
  specdec::node_decision decide(specdec::verify_state& s, specdec::target_row& own, std::int32_t node) {
    const auto& in = s.input();
    specdec::target_row& target = judged_.get(s, own, node, Fault == injected_fault::child_row);
    tried_.clear();
    double mass = 1.0;
    for (std::int32_t child = s.first_child(node); child != -1; child = s.next_sibling(child)) {
      const specdec::token_id x = in.tree.token(child);
      const bool zeroed = std::find(tried_.begin(), tried_.end(), x) != tried_.end();
      const double rx = zeroed ? 0.0 : static_cast<double>(target.p(x));
      const double u = specdec::uniform_double(
          in.address.at(decision_node(child, Fault == injected_fault::reuse_uniform), specdec::purpose::accept));
      const double scale = Fault == injected_fault::skip_renormalisation ? 1.0 : mass;
      if (rx > 0.0 && u * scale <= rx) return {child, specdec::no_token};
      if (Fault != injected_fault::keep_rejected_child && !zeroed) {
        mass = std::max(0.0, mass - rx);
        tried_.push_back(x);
      }
    }
    const std::span<float> p = target.full();
    const std::span<float> r = s.scratch_float();
    std::copy(p.begin(), p.end(), r.begin());
    for (const specdec::token_id x : tried_) r[static_cast<std::size_t>(x)] = 0.0f;
    return {-1, specdec::detail::sample_weights_or(r, p, in.address.at(static_cast<std::uint32_t>(node), specdec::purpose::residual))};
  }
  judged_row judged_;
  std::vector<specdec::token_id> tried_;
};

// Multi-draft with (rrs: without) replacement, with the faults skip_renormalisation, resample_from_target
// and subtract_zeroed_q.
template <injected_fault Fault, bool WithoutReplacement>
struct faulty_multi_draft_rule
    : std::conditional_t<WithoutReplacement, specdec::rrs_rule, specdec::multi_draft_rule> {
  specdec::node_decision decide(specdec::verify_state& s, specdec::target_row& target, std::int32_t node) const {
    const auto& in = s.input();
    const std::span<double> r = s.scratch_double(0);
    const std::span<double> q = s.scratch_double(1);
    const std::span<const float> p = target.full();
    std::copy(p.begin(), p.end(), r.begin());
    specdec::detail::normalise(r);
    const std::span<const float> q_row = s.checked_q_row(node);
    std::copy(q_row.begin(), q_row.end(), q.begin());
    for (std::int32_t child = s.first_child(node); child != -1; child = s.next_sibling(child)) {
      const auto x = static_cast<std::size_t>(in.tree.token(child));
      const double u = specdec::uniform_double(in.address.at(static_cast<std::uint32_t>(child), specdec::purpose::accept));
      if (q[x] > 0.0 && u * q[x] <= r[x]) return {child, specdec::no_token};
      if (WithoutReplacement && Fault == injected_fault::subtract_zeroed_q) {
        q[x] = 0.0;
        specdec::detail::normalise(q);
      }
      for (std::size_t t = 0; t < q.size(); ++t) r[t] = std::max(0.0, r[t] - q[t]);
      if (Fault != injected_fault::skip_renormalisation) specdec::detail::normalise(r);
      if (WithoutReplacement && Fault != injected_fault::subtract_zeroed_q) {
        q[x] = 0.0;
        specdec::detail::normalise(q);
      }
    }
    if (Fault == injected_fault::resample_from_target) std::copy(p.begin(), p.end(), r.begin());
    return {-1, specdec::detail::sample_residual(s, r, target.full(), node)};
  }
};

// The block rule with prefixes accepted by h_i = w_i (the cumulative ratio alone), ignoring Z_i.
template <injected_fault Fault>
struct faulty_block_rule : specdec::block_rule {
  static_assert(Fault == injected_fault::token_wise_threshold);
  void walk(specdec::verify_state& s) {
    const auto& in = s.input();
    const auto n = static_cast<std::int32_t>(in.tree.size() - 1);
    std::vector<double> w(static_cast<std::size_t>(n) + 1, 0.0);
    w[0] = 1.0;
    for (std::int32_t i = 0; i < n; ++i) {
      const specdec::token_id x = in.tree.token(i + 1);
      const double qx = static_cast<double>(s.q_entry(i, x));
      const double ratio = qx > 0.0 ? static_cast<double>(s.target(i).p(x)) / qx : 0.0;
      w[static_cast<std::size_t>(i) + 1] = std::min(w[static_cast<std::size_t>(i)] * ratio, 1.0);
    }
    std::int32_t tau = 0;
    for (std::int32_t i = 1; i <= n; ++i) {
      const double u = specdec::uniform_double(in.address.at(static_cast<std::uint32_t>(i), specdec::purpose::accept));
      if (u <= w[static_cast<std::size_t>(i)]) tau = i;
    }
    for (std::int32_t i = 1; i <= tau; ++i) {
      if (!s.accept(i, 0.0f)) return;
    }
    specdec::target_row& p = s.target(tau);
    const std::span<float> full = p.full();
    if (tau == n) {
      s.finish(specdec::sample_exponential_race(std::span<const float>(full), in.address.at(static_cast<std::uint32_t>(n), specdec::purpose::bonus)), 0.0f);
      return;
    }
    s.reject_all();
    const std::span<const float> q = s.checked_q_row(tau);
    const std::span<double> residual = s.scratch_double(0);
    for (std::size_t t = 0; t < full.size(); ++t) {
      residual[t] = std::max(0.0, w[static_cast<std::size_t>(tau)] * static_cast<double>(full[t]) - static_cast<double>(q[t]));
    }
    s.finish(specdec::detail::sample_residual(s, residual, full, tau), 0.0f);
  }
};

// The production verifier for `none`, the faulty rule's verifier otherwise.
template <class Production, class Faulty, injected_fault Fault>
using verifier_with = std::conditional_t<Fault == injected_fault::none, Production, specdec::tree_verifier<Faulty>>;

template <injected_fault Fault>
using chain_verifier_with = verifier_with<specdec::chain_verifier, faulty_chain_rule<Fault>, Fault>;
template <injected_fault Fault>
using one_hot_verifier_with = verifier_with<specdec::one_hot_verifier, faulty_one_hot_rule<Fault>, Fault>;
template <injected_fault Fault>
using multi_draft_verifier_with = verifier_with<specdec::multi_draft_verifier, faulty_multi_draft_rule<Fault, false>, Fault>;
template <injected_fault Fault>
using rrs_verifier_with = verifier_with<specdec::rrs_verifier, faulty_multi_draft_rule<Fault, true>, Fault>;

}  // namespace specdec_test
