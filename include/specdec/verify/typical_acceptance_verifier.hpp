//! Typical acceptance (Medusa: Cai et al. 2024, "Medusa: Simple LLM Inference Acceleration Framework
//! with Multiple Decoding Heads", section 3.3.1). LOSSY: the output distribution differs from the
//! target's. Opt-in, and named so.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verify_state.hpp"

namespace specdec {
inline namespace v0 {

//! The thresholds of typical acceptance: accept x iff p(x) > min(epsilon, delta * exp(-H(p))).
struct typical_acceptance_params {
  float epsilon = 0.09f;  //!< the hard threshold (Medusa's default 0.09), in (0, 1]
  float delta = 0.3f;     //!< the entropy-scaled threshold's factor (Medusa's default 0.3, i.e. sqrt(0.09)), >= 0

  void validate() const {
    expects(epsilon > 0.0f && epsilon <= 1.0f, "epsilon", epsilon, "0 < epsilon <= 1");
    expects(delta >= 0.0f && std::isfinite(delta), "delta", delta, "finite delta >= 0");
  }
};

//! **Lossy.** The typical acceptance rule: accepts a draft x at a node iff
//! p(x) > min(epsilon, delta * exp(-H(p))), with p the processed target distribution at the node's
//! parent and H its entropy (nats): confident distributions demand a likely token, flat ones accept
//! more. Among the root paths whose every draft is accepted it keeps the longest, ties broken by the
//! larger sum of log p, then by the lower node index; the bonus token is sampled from the processed p at
//! the last accepted node (address: that node, `purpose::bonus`). It reads no q and reports itself
//! usable with every drafting scheme: it is lossy whatever drew the drafts, which its name says.
//!
//! Unlike the lossless rules it judges every node of the tree, so it processes the target row of every
//! node that has children. The conformance kit measures its bias (tests/verify).
class lossy_typical_acceptance_rule {
public:
  static constexpr bool needs_draft_probs = false;
  static constexpr duplicate_siblings siblings = duplicate_siblings::allowed;
  [[nodiscard]] static constexpr bool lossless_for(draft_scheme) noexcept { return true; }

  explicit lossy_typical_acceptance_rule(typical_acceptance_params params = {}) : params_(params) { params_.validate(); }

  void walk(verify_state& s) {
    const verify_input& in = s.input();
    const auto n = static_cast<std::size_t>(in.tree.size());
    // score[i]: sum of log p along the path to i if every draft on it is accepted, else NaN.
    score_.assign(n, std::numeric_limits<double>::quiet_NaN());
    logprob_.assign(n, 0.0f);
    score_[0] = 0.0;
    std::int32_t best = 0;
    for (std::size_t node = 0; node < n; ++node) {
      const auto self = static_cast<std::int32_t>(node);
      if (std::isnan(score_[node]) || s.first_child(self) == -1) continue;
      const std::span<float> p = s.target(self).full();
      double entropy = 0.0;
      for (const float x : p) {
        if (x > 0.0f) entropy -= static_cast<double>(x) * std::log(static_cast<double>(x));
      }
      const double threshold = std::min(static_cast<double>(params_.epsilon),
                                        static_cast<double>(params_.delta) * std::exp(-entropy));
      for (std::int32_t c = s.first_child(self); c != -1; c = s.next_sibling(c)) {
        const float px = p[static_cast<std::size_t>(in.tree.token(c))];
        if (static_cast<double>(px) > threshold) {
          const auto child = static_cast<std::size_t>(c);
          logprob_[child] = detail::log_probability(px);
          score_[child] = score_[node] + static_cast<double>(logprob_[child]);
          // Nodes come in increasing index, so with strict comparisons a tie keeps the lower index.
          const bool deeper = in.tree.depth(c) > in.tree.depth(best);
          const bool same_depth_better =
              in.tree.depth(c) == in.tree.depth(best) && score_[child] > score_[static_cast<std::size_t>(best)];
          if (deeper || same_depth_better) best = c;
        }
      }
    }
    // Emit the path to `best`, root first.
    path_.clear();
    for (std::int32_t v = best; v != 0; v = in.tree.parent(v)) path_.push_back(v);
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      if (!s.accept(*it, logprob_[static_cast<std::size_t>(*it)])) return;
    }
    if (s.first_child(best) != -1) s.reject_all();
    const std::span<float> p = s.target(best).full();
    const token_id bonus =
        sample_exponential_race(std::span<const float>(p), in.address.at(static_cast<std::uint32_t>(best), purpose::bonus));
    s.finish(bonus, detail::log_probability(p[static_cast<std::size_t>(bonus)]));
  }

  [[nodiscard]] const typical_acceptance_params& params() const noexcept { return params_; }

private:
  typical_acceptance_params params_;
  std::vector<double> score_;
  std::vector<float> logprob_;
  std::vector<std::int32_t> path_;
};

//! Typical acceptance (lossy, opt-in): the generic verifier over `lossy_typical_acceptance_rule`,
//! constructed from its thresholds.
class lossy_typical_acceptance_verifier : public tree_verifier<lossy_typical_acceptance_rule> {
public:
  explicit lossy_typical_acceptance_verifier(typical_acceptance_params params = {})
      : tree_verifier<lossy_typical_acceptance_rule>(params) {}
};

static_assert(verification_rule<lossy_typical_acceptance_rule>);
static_assert(verifier<lossy_typical_acceptance_verifier>);

} // namespace v0
} // namespace specdec
