//! Exact (enumerated, not sampled) single-node behaviour of the verification rules: the acceptance
//! probability and the distribution of the first emitted token, for given p and q.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/testing/faults.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

//! The exact outcome of one verification decision at one node.
struct exact_step {
  double acceptance = 0.0;       //!< the probability that a draft at this node is accepted
  std::vector<double> emitted;   //!< the distribution of the token emitted at depth 1
};

namespace detail {

// Checks a distribution (summing to 1 within float rounding, 1e-5) and returns it renormalised in
// double, so that the exact computation is exact for the distribution as given.
inline std::vector<double> checked_distribution(std::span<const double> d, std::string_view name) {
  double sum = 0.0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    expects_element(d[i] >= 0.0 && std::isfinite(d[i]), name, i, d[i], "probabilities >= 0");
    sum += d[i];
  }
  expects(std::abs(sum - 1.0) <= 1e-5, "sum(" + std::string(name) + ")", sum, "a distribution summing to 1");
  std::vector<double> out(d.begin(), d.end());
  for (double& x : out) x /= sum;
  return out;
}

inline void normalise(std::vector<double>& w) {
  const double mass = std::accumulate(w.begin(), w.end(), 0.0);
  if (mass > 0.0) {
    for (double& x : w) x /= mass;
  }
}

inline std::vector<double> normalised(std::vector<double> w) {
  normalise(w);
  return w;
}

} // namespace detail

//! Speculative sampling at one node (the rule of `chain_verifier`): a draft x ~ q is accepted with
//! probability min(1, p(x) / q(x)); otherwise the emitted token comes from norm(max(0, p - q)). For a
//! correct rule, `acceptance == sum_x min(p(x), q(x)) == 1 - TV(p, q)` and `emitted == p`.
//! `Fault` mirrors the verifier's injectable faults that act at one node (resample_from_target).
template <specdec::testing::injected_fault Fault = specdec::testing::injected_fault::none>
[[nodiscard]] exact_step exact_speculative_step(std::span<const double> p_in, std::span<const double> q_in) {
  expects(p_in.size() == q_in.size(), "q.size()", q_in.size(), "== p.size()");
  const std::vector<double> p = detail::checked_distribution(p_in, "p");
  const std::vector<double> q = detail::checked_distribution(q_in, "q");
  const std::size_t vocab = p.size();
  exact_step out;
  out.emitted.assign(vocab, 0.0);
  std::vector<double> residual(vocab);
  for (std::size_t y = 0; y < vocab; ++y) {
    residual[y] = Fault == specdec::testing::injected_fault::resample_from_target ? p[y] : std::max(0.0, p[y] - q[y]);
  }
  const double residual_mass = std::accumulate(residual.begin(), residual.end(), 0.0);
  for (std::size_t x = 0; x < vocab; ++x) {
    if (q[x] == 0.0) continue;
    const double accept = std::min(1.0, p[x] / q[x]);
    out.acceptance += q[x] * accept;
    out.emitted[x] += q[x] * accept;
    const double reject = q[x] * (1.0 - accept);
    if (reject == 0.0) continue;
    for (std::size_t y = 0; y < vocab; ++y) out.emitted[y] += reject * residual[y] / residual_mass;
  }
  return out;
}

//! The one-hot tree rule at one node (the rule of `one_hot_verifier`) with deterministic children
//! `children` in rank order: child j is accepted with probability r_j(x_j) / sum(r_j), r_1 = p and
//! r_{j+1} = r_j with x_j zeroed; if all are rejected the emitted token comes from norm(r_{k+1}).
//! `acceptance` is the probability that some child is accepted; for a correct rule it equals
//! p(set of children), and `emitted == p`. `Fault` mirrors the verifier's single-node faults
//! (skip_renormalisation, keep_rejected_child, reuse_uniform).
template <specdec::testing::injected_fault Fault = specdec::testing::injected_fault::none>
[[nodiscard]] exact_step exact_one_hot_step(std::span<const double> p_in, std::span<const token_id> children) {
  using specdec::testing::injected_fault;
  const std::vector<double> p = detail::checked_distribution(p_in, "p");
  const std::size_t vocab = p.size();
  for (std::size_t j = 0; j < children.size(); ++j) {
    expects_element(children[j] >= 0 && static_cast<std::size_t>(children[j]) < vocab, "children", j, children[j],
                    "a token id in [0, vocab)");
  }
  exact_step out;
  out.emitted.assign(vocab, 0.0);
  std::vector<double> r(p.begin(), p.end());
  double mass = 1.0;
  double reach = 1.0;          // P(every earlier child was rejected)
  double highest_threshold = 0.0;  // reuse_uniform: one u for all; rejected so far means u > this
  for (const token_id child : children) {
    const auto x = static_cast<std::size_t>(child);
    const double scale = Fault == injected_fault::skip_renormalisation ? 1.0 : mass;
    const double threshold = r[x] > 0.0 ? std::min(1.0, r[x] / scale) : 0.0;
    double accept = 0.0;  // P(accept this child | reached it)
    if constexpr (Fault == injected_fault::reuse_uniform) {
      // Shared u, known to exceed every earlier threshold: P(u <= t | u > h) = max(0, t - h) / (1 - h).
      accept = highest_threshold < 1.0 ? std::max(0.0, threshold - highest_threshold) / (1.0 - highest_threshold) : 0.0;
      highest_threshold = std::max(highest_threshold, threshold);
    } else {
      accept = threshold;
    }
    out.emitted[x] += reach * accept;
    out.acceptance += reach * accept;
    reach *= 1.0 - accept;
    if constexpr (Fault != injected_fault::keep_rejected_child) {
      mass = std::max(0.0, mass - r[x]);
      r[x] = 0.0;
    }
  }
  if (reach > 0.0) {
    const bool any = std::any_of(r.begin(), r.end(), [](double w) { return w > 0.0; });
    const std::vector<double> residual = detail::normalised(any ? r : std::vector<double>(p.begin(), p.end()));
    for (std::size_t y = 0; y < vocab; ++y) out.emitted[y] += reach * residual[y];
  }
  return out;
}

namespace detail {

// One node of a multi-draft rule, enumerated exactly: `draw(j, q_j)` is the draft distribution of the
// j-th child; the rule accepts x with min(1, r(x) / q_j(x)) and on rejection updates r (and q_j).
struct multi_draft_state {
  std::vector<double> r;  // current residual (normalised unless a fault skips it)
  std::vector<double> q;  // the distribution the next draft is drawn from
};

template <class OnReject>
void enumerate_drafts(const std::vector<double>& p, multi_draft_state state, std::size_t remaining, double weight,
                      bool without_replacement, bool resample_from_target, const OnReject& on_reject, exact_step& out) {
  const std::size_t vocab = p.size();
  if (remaining == 0) {
    const std::vector<double>& from = resample_from_target ? p : state.r;
    const bool any = std::any_of(from.begin(), from.end(), [](double w) { return w > 0.0; });
    const std::vector<double> residual = normalised(any ? from : p);
    for (std::size_t y = 0; y < vocab; ++y) out.emitted[y] += weight * residual[y];
    return;
  }
  const double q_mass = std::accumulate(state.q.begin(), state.q.end(), 0.0);
  for (std::size_t x = 0; x < vocab; ++x) {
    if (state.q[x] == 0.0) continue;
    const double draw = state.q[x] / q_mass;  // P(this draft is x | the earlier drafts)
    const double accept = std::min(1.0, state.r[x] / draw);
    out.emitted[x] += weight * draw * accept;
    out.acceptance += weight * draw * accept;
    if (accept >= 1.0) continue;
    multi_draft_state next = state;
    on_reject(next, x);
    if (without_replacement) {
      if (std::accumulate(next.q.begin(), next.q.end(), 0.0) == 0.0) {  // nothing left to draw
        enumerate_drafts(p, next, 0, weight * draw * (1.0 - accept), without_replacement, resample_from_target, on_reject, out);
        continue;
      }
    }
    enumerate_drafts(p, next, remaining - 1, weight * draw * (1.0 - accept), without_replacement, resample_from_target,
                     on_reject, out);
  }
}

// Validates a multi-draft enumeration's inputs and returns p and q renormalised in double.
inline std::pair<std::vector<double>, std::vector<double>> checked_pair(std::span<const double> p, std::span<const double> q,
                                                                       int k) {
  expects(p.size() == q.size(), "q.size()", q.size(), "== p.size()");
  expects(k >= 1 && k <= 6, "k", k, "1 <= k <= 6 (the enumeration is V^k)");
  return {checked_distribution(p, "p"), checked_distribution(q, "q")};
}

} // namespace detail

//! Multi-draft speculative sampling with replacement at one node (the rule of `multi_draft_verifier`):
//! k drafts drawn i.i.d. from q; with r^(1) = p, accept x^(j) with min(1, r^(j)(x) / q(x)), else
//! r^(j+1) = norm(max(0, r^(j) - q)); all rejected: a sample of r^(k+1). Enumerates all V^k draft
//! tuples. For a correct rule `emitted == p`. `Fault`: skip_renormalisation, resample_from_target.
template <specdec::testing::injected_fault Fault = specdec::testing::injected_fault::none>
[[nodiscard]] exact_step exact_multi_draft_step(std::span<const double> p_in, std::span<const double> q_in, int k) {
  using specdec::testing::injected_fault;
  const auto checked = detail::checked_pair(p_in, q_in, k);  // no structured binding: clang 14 cannot capture one
  const std::vector<double>& p = checked.first;
  const std::vector<double>& q = checked.second;
  exact_step out;
  out.emitted.assign(p.size(), 0.0);
  const auto on_reject = [&q](detail::multi_draft_state& s, std::size_t) {
    for (std::size_t t = 0; t < s.r.size(); ++t) s.r[t] = std::max(0.0, s.r[t] - q[t]);
    if (Fault != injected_fault::skip_renormalisation) detail::normalise(s.r);
  };
  detail::enumerate_drafts(p, {p, q}, static_cast<std::size_t>(k), 1.0, false, Fault == injected_fault::resample_from_target,
                           on_reject, out);
  return out;
}

//! Recursive rejection sampling without replacement at one node (the rule of `rrs_verifier`): draft
//! j is drawn from q^(j) (q with the earlier drafts zeroed, renormalised); with r^(1) = p, accept x^(j)
//! with min(1, r^(j)(x) / q^(j)(x)), else r^(j+1) = norm(max(0, r^(j) - q^(j))), subtracting q^(j)
//! before x^(j) is zeroed. Enumerates all ordered draws. For a correct rule `emitted == p`.
//! `Fault`: subtract_zeroed_q (zero x^(j) first: p = (.5, .3, .2), q = (.1, .2, .7), k = 2 then gives
//! (.27, .20, .53)), resample_from_target.
template <specdec::testing::injected_fault Fault = specdec::testing::injected_fault::none>
[[nodiscard]] exact_step exact_without_replacement_step(std::span<const double> p_in, std::span<const double> q_in, int k) {
  using specdec::testing::injected_fault;
  const auto checked = detail::checked_pair(p_in, q_in, k);  // no structured binding: clang 14 cannot capture one
  const std::vector<double>& p = checked.first;
  const std::vector<double>& q = checked.second;
  exact_step out;
  out.emitted.assign(p.size(), 0.0);
  const auto on_reject = [](detail::multi_draft_state& s, std::size_t x) {
    detail::normalise(s.q);
    if (Fault == injected_fault::subtract_zeroed_q) {
      s.q[x] = 0.0;
      detail::normalise(s.q);
    }
    for (std::size_t t = 0; t < s.r.size(); ++t) s.r[t] = std::max(0.0, s.r[t] - s.q[t]);
    detail::normalise(s.r);
    s.q[x] = 0.0;
  };
  detail::enumerate_drafts(p, {p, q}, static_cast<std::size_t>(k), 1.0, true, Fault == injected_fault::resample_from_target,
                           on_reject, out);
  return out;
}

//! Next-token distributions that may depend on the whole prefix (the tokens emitted so far this step),
//! for exact chain enumerations: `d(prefix)` returns a distribution over the vocabulary.
using prefix_distribution = std::function<std::vector<double>(std::span<const token_id>)>;

//! The exact outcome of one chain verification step of `gamma` drafts sampled from q, followed by plain
//! sampling from p until `gamma + 1` tokens are out.
struct exact_chain {
  //! The joint distribution of the first `gamma + 1` tokens, index = sum_j token_j * vocab^j. A lossless
  //! rule gives exactly the target's joint (`exact_target_joint`).
  std::vector<double> joint;
  //! The expected number of accepted drafts.
  double expected_accepted = 0.0;
};

//! Which chain rule `exact_chain_step` enumerates.
enum class chain_rule_kind : std::uint8_t {
  token_wise,  //!< speculative sampling (`chain_rule`)
  block,       //!< block verification (`block_rule`)
};

//! The joint distribution of `length` tokens sampled autoregressively from `p`.
[[nodiscard]] inline std::vector<double> exact_target_joint(const prefix_distribution& p, index_t vocab, index_t length) {
  std::vector<double> joint;
  std::vector<token_id> prefix;
  const auto recurse = [&](const auto& self, double prob, std::size_t index, std::size_t stride) -> void {
    if (static_cast<index_t>(prefix.size()) == length) {
      joint[index] += prob;
      return;
    }
    const std::vector<double> next = p(prefix);
    for (token_id t = 0; t < vocab; ++t) {
      if (next[static_cast<std::size_t>(t)] == 0.0) continue;
      prefix.push_back(t);
      self(self, prob * next[static_cast<std::size_t>(t)], index + static_cast<std::size_t>(t) * stride, stride * static_cast<std::size_t>(vocab));
      prefix.pop_back();
    }
  };
  std::size_t cells = 1;
  for (index_t j = 0; j < length; ++j) cells *= static_cast<std::size_t>(vocab);
  joint.assign(cells, 0.0);
  recurse(recurse, 1.0, 0, 1);
  return joint;
}

//! Enumerates every draft chain x_1..x_gamma (x_i ~ q(x_<i)), the rule's accept decisions and its
//! correction or bonus, then completes to `gamma + 1` tokens from p. Exact in double; `vocab^gamma`
//! drafts. `Fault`: token_wise_threshold (block rule with h_i = w_i).
template <specdec::testing::injected_fault Fault = specdec::testing::injected_fault::none>
[[nodiscard]] exact_chain exact_chain_step(const prefix_distribution& p, const prefix_distribution& q, index_t vocab,
                                           int gamma, chain_rule_kind rule) {
  expects(vocab >= 2 && vocab <= 8, "vocab", vocab, "2 <= vocab <= 8 (an exact enumeration)");
  expects(gamma >= 1 && gamma <= 4, "gamma", gamma, "1 <= gamma <= 4");
  const auto v = static_cast<std::size_t>(vocab);
  const auto g = static_cast<std::size_t>(gamma);
  std::size_t cells = 1;
  for (std::size_t j = 0; j <= g; ++j) cells *= v;
  exact_chain out;
  out.joint.assign(cells, 0.0);
  std::vector<token_id> draft(g);
  std::vector<std::vector<double>> ps(g + 1), qs(g);
  std::size_t drafts = 1;
  for (std::size_t j = 0; j < g; ++j) drafts *= v;
  for (std::size_t code = 0; code < drafts; ++code) {
    for (std::size_t j = 0, rest = code; j < g; ++j, rest /= v) draft[j] = static_cast<token_id>(rest % v);
    double q_draft = 1.0;
    for (std::size_t i = 0; i <= g; ++i) {
      const std::span<const token_id> prefix(draft.data(), i);
      ps[i] = detail::checked_distribution(p(prefix), "p");
      if (i < g) {
        qs[i] = detail::checked_distribution(q(prefix), "q");
        q_draft *= qs[i][static_cast<std::size_t>(draft[i])];
      }
    }
    if (q_draft == 0.0) continue;
    // P(tau = i) and the weight w_tau of the correction at i.
    std::vector<double> accept_at(g + 1, 0.0), w(g + 1, 0.0), h(g + 1, 0.0);
    w[0] = 1.0;
    for (std::size_t i = 1; i <= g; ++i) {
      const double qx = qs[i - 1][static_cast<std::size_t>(draft[i - 1])];
      const double px = ps[i - 1][static_cast<std::size_t>(draft[i - 1])];
      if (rule == chain_rule_kind::token_wise) {
        h[i] = std::min(1.0, px / qx);  // the acceptance probability of x_i given x_<i accepted
      } else {
        w[i] = std::min(w[i - 1] * px / qx, 1.0);
      }
    }
    if (rule == chain_rule_kind::token_wise) {
      double reach = 1.0;
      for (std::size_t i = 0; i <= g; ++i) {
        accept_at[i] = reach * (i < g ? 1.0 - h[i + 1] : 1.0);
        if (i < g) reach *= h[i + 1];
      }
    } else {
      for (std::size_t i = 1; i <= g; ++i) {
        if (i == g || Fault == specdec::testing::injected_fault::token_wise_threshold) {
          h[i] = w[i];
          continue;
        }
        double z = 0.0;
        for (std::size_t x = 0; x < v; ++x) z += std::max(0.0, w[i] * ps[i][x] - qs[i][x]);
        const double denominator = z + 1.0 - w[i];
        h[i] = denominator > 0.0 ? z / denominator : 1.0;
      }
      for (std::size_t i = 0; i <= g; ++i) {  // tau = the largest i with u_i <= h_i
        double none_later = 1.0;
        for (std::size_t j = i + 1; j <= g; ++j) none_later *= 1.0 - h[j];
        accept_at[i] = (i == 0 ? 1.0 : h[i]) * none_later;
      }
    }
    for (std::size_t tau = 0; tau <= g; ++tau) {
      const double prob = q_draft * accept_at[tau];
      if (prob == 0.0) continue;
      out.expected_accepted += prob * static_cast<double>(tau);
      std::vector<double> next;
      if (tau == g) {
        next = ps[g];
      } else {
        const double weight = rule == chain_rule_kind::block ? w[tau] : 1.0;
        next.assign(v, 0.0);
        for (std::size_t x = 0; x < v; ++x) next[x] = std::max(0.0, weight * ps[tau][x] - qs[tau][x]);
        detail::normalise(next);
      }
      // Emit x_1..x_tau, then y ~ next, then complete from p.
      std::vector<token_id> prefix(draft.begin(), draft.begin() + static_cast<std::ptrdiff_t>(tau));
      const auto complete = [&](const auto& self, double mass, std::vector<double> dist) -> void {
        for (std::size_t y = 0; y < v; ++y) {
          if (dist[y] == 0.0) continue;
          prefix.push_back(static_cast<token_id>(y));
          if (prefix.size() == g + 1) {
            std::size_t index = 0;
            for (std::size_t j = 0, stride = 1; j <= g; ++j, stride *= v) index += static_cast<std::size_t>(prefix[j]) * stride;
            out.joint[index] += mass * dist[y];
          } else {
            self(self, mass * dist[y], p(prefix));
          }
          prefix.pop_back();
        }
      };
      complete(complete, prob, next);
    }
  }
  return out;
}

} // namespace testing
} // namespace v0
} // namespace specdec
