//! Typical acceptance (Medusa: Cai et al. 2024, "Medusa: Simple LLM Inference Acceleration Framework
//! with Multiple Decoding Heads", section 3.3.1). LOSSY: the output distribution differs from the
//! target's. Opt-in, and named so.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/verify/detail/verify_workspace.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

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

//! **Lossy.** Accepts a draft x at a node iff p(x) > min(epsilon, delta * exp(-H(p))), with p the
//! processed target distribution at the node's parent and H its entropy (nats): confident
//! distributions demand a likely token, flat ones accept more. Among the root paths whose every draft
//! is accepted it keeps the longest, ties broken by the larger sum of log p, then by the lower node
//! index; the bonus token is sampled from the processed p at the last accepted node (address: that
//! node, `purpose::bonus`). Temperature 0 selects the (lossless) greedy rule.
//!
//! Unlike the lossless rules it judges every node of the tree, so it processes the target row of every
//! node that has children. The conformance kit measures its bias (tests/verify).
class lossy_typical_acceptance_verifier {
public:
  explicit lossy_typical_acceptance_verifier(typical_acceptance_params params = {}) : params_(params) {
    params_.validate();
  }

  void verify(const verify_input& in, verify_result& out) {
    ws_.begin(in, duplicate_siblings::allowed, /*needs_q=*/false, out);
    if (in.params.greedy()) {
      detail::greedy_walk(in, ws_, out);
      return;
    }
    const auto n = static_cast<std::size_t>(in.tree.size());
    // score[i]: sum of log p along the path to i if every draft on it is accepted, else NaN.
    score_.assign(n, std::numeric_limits<double>::quiet_NaN());
    logprob_.assign(n, 0.0f);
    score_[0] = 0.0;
    std::int32_t best = 0;
    for (std::size_t node = 0; node < n; ++node) {
      const auto self = static_cast<std::int32_t>(node);
      if (std::isnan(score_[node]) || ws_.first_child(self) == -1) continue;
      const std::span<float> p = ws_.target_probs(in, static_cast<index_t>(node));
      double entropy = 0.0;
      for (const float x : p) {
        if (x > 0.0f) entropy -= static_cast<double>(x) * std::log(static_cast<double>(x));
      }
      const double threshold = std::min(static_cast<double>(params_.epsilon),
                                        static_cast<double>(params_.delta) * std::exp(-entropy));
      for (std::int32_t c = ws_.first_child(self); c != -1; c = ws_.next_sibling(c)) {
        const float px = p[static_cast<std::size_t>(in.tree.token(c))];
        if (static_cast<double>(px) > threshold) {
          const auto child = static_cast<std::size_t>(c);
          logprob_[child] = detail::log_probability(px);
          score_[child] = score_[node] + static_cast<double>(logprob_[child]);
          // Nodes come in topological order, so a deeper or better path is seen after its prefix.
          const bool deeper = in.tree.depth(c) > in.tree.depth(best);
          const bool same_depth_better = in.tree.depth(c) == in.tree.depth(best) && score_[child] > score_[static_cast<std::size_t>(best)];
          if (deeper || same_depth_better) best = c;
        }
      }
    }
    // Emit the path to `best`, root first.
    path_.clear();
    for (std::int32_t v = best; v != 0; v = in.tree.parent(v)) path_.push_back(v);
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      if (!detail::verify_workspace::accept(in, out, *it, logprob_[static_cast<std::size_t>(*it)])) return;
    }
    if (ws_.first_child(best) != -1) detail::verify_workspace::reject_all(out);
    const std::span<float> p = ws_.target_probs(in, best);
    const token_id bonus = sample_exponential_race(std::span<const float>(p), in.address.at(static_cast<std::uint32_t>(best), purpose::bonus));
    detail::verify_workspace::finish(in, out, bonus, detail::log_probability(p[bonus]));
  }

private:
  typical_acceptance_params params_;
  detail::verify_workspace ws_;
  std::vector<double> score_;
  std::vector<float> logprob_;
  std::vector<std::int32_t> path_;
};

static_assert(verifier<lossy_typical_acceptance_verifier>);

} // namespace v0
} // namespace specdec
