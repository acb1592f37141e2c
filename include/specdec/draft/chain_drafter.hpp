//! An independent draft model proposing a chain: greedy or sampled, fixed or adaptive length, with an
//! optional confidence stop (Leviathan et al., 2023; Chen et al., 2023; adaptive lengths as in
//! SpecDec++ and the engines' "num_speculative_tokens" heuristics).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "specdec/backend/draft_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/random.hpp"
#include "specdec/draft/detail/draft_model_sync.hpp"
#include "specdec/draft/draft_scheme.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/sampling/argmax.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sample.hpp"
#include "specdec/sampling/softmax.hpp"

namespace specdec {
inline namespace v0 {

//! Settings of `chain_drafter`.
struct chain_drafter_options {
  //! The longest chain (gamma), >= 1. The decoder's per-step `max_depth` may cut it shorter.
  index_t gamma = 4;
  //! Adaptive length per request: after a step that accepted the whole chain, draft one more (up to
  //! `gamma`); after a rejection one fewer (down to `min_gamma`).
  bool adaptive = false;
  index_t min_gamma = 1;
  //! Stop the chain when the draft's probability of its next token falls below this (0: never). For
  //! sampled chains the probability is q's top entry; for greedy chains the softmax of the argmax.
  float confidence_stop = 0.0f;
  //! The draft's own processing of its logits for sampled chains (temperature, top-k, top-p, min-p):
  //! q is exactly this processed distribution. Unused by greedy chains.
  sampling_params params;

  void validate() const {
    expects(gamma >= 1 && gamma <= max_tree_depth, "gamma", gamma, "in [1, max_tree_depth]");
    expects(min_gamma >= 1 && min_gamma <= gamma, "min_gamma", min_gamma, "in [1, gamma]");
    expects(confidence_stop >= 0.0f && confidence_stop <= 1.0f, "confidence_stop", confidence_stop, "in [0, 1]");
    params.validate();
  }
};

//! Drafts a chain with an independent draft model, one model call per token. `Scheme` is
//! `draft_scheme::deterministic` (argmax tokens, ties to the lowest id: pair with `one_hot_verifier` or
//! `greedy_verifier`) or `draft_scheme::sampled_chain` (each token sampled from q, the draft's processed
//! distribution, at (its node, `draft_sample`), and q handed to the verifier: pair with `chain_verifier`
//! or `block_verifier`). A draft model with a smaller vocabulary maps into the target's (ids it lacks
//! get q = 0); a larger one never drafts ids the target lacks.
//!
//! The model's KV is kept in step with the request (`detail::draft_model_sync`): drafts that were
//! accepted stay cached, the rest is rolled back, and each step extends the model by the tokens it
//! lacks. Cost per step: one model call for the catch-up plus one per drafted token but the last.
template <draft_model Model, draft_scheme Scheme = draft_scheme::sampled_chain>
class chain_drafter {
  static_assert(Scheme == draft_scheme::deterministic || Scheme == draft_scheme::sampled_chain,
                "a chain is drawn greedily (deterministic) or by sampling (sampled_chain)");

public:
  static constexpr draft_scheme scheme = Scheme;

  chain_drafter(Model& model, chain_drafter_options options = {}) : model_(&model), options_(options) {
    options_.validate();
  }

  void draft(const draft_context& context, draft_tree& out) {
    const auto draft_vocab = static_cast<std::size_t>(model_->vocab_size());
    const auto vocab = static_cast<std::size_t>(context.vocab_size);
    logits_.resize(draft_vocab);
    row_.resize(vocab);
    sync_.sync(*model_, context.request, context.tokens, logits_);
    const index_t length = std::min({current_gamma(context.request), context.max_depth, context.max_nodes - 1});
    for (std::int32_t node = 0; node < length; ++node) {
      detail::map_to_target_vocab(logits_, row_);
      token_id x = 0;
      if constexpr (Scheme == draft_scheme::sampled_chain) {
        const std::span<float> q = out.q_row(node);
        processor_.probabilities(row_, options_.params, q);
        if (options_.confidence_stop > 0.0f && *std::max_element(q.begin(), q.end()) < options_.confidence_stop) break;
        x = sample_exponential_race(std::span<const float>(q), context.address.at(static_cast<std::uint32_t>(node + 1), purpose::draft_sample));
      } else {
        x = checked_argmax(row_, "draft logits").index;
        if (options_.confidence_stop > 0.0f) {
          probs_.resize(vocab);
          softmax(row_, probs_);
          if (probs_[static_cast<std::size_t>(x)] < options_.confidence_stop) break;
        }
      }
      out.tree.add_child(node, x);
      if (node + 1 < length) sync_.extend(*model_, context.request, x, logits_);
    }
  }

  //! Adapts the request's chain length (with `adaptive`).
  void observe(const draft_feedback& feedback) {
    if (!options_.adaptive) return;
    const index_t drafted = feedback.tree.max_depth();
    if (drafted == 0) return;
    index_t& gamma = gamma_of(feedback.request);
    gamma = feedback.accepted >= drafted ? std::min(gamma + 1, options_.gamma) : std::max(gamma - 1, options_.min_gamma);
  }

  void release(request_id request) {
    sync_.release(*model_, request);
    gamma_of(request) = options_.gamma;
  }

  //! The chain length the next step of `request` may draft (before the decoder's budgets).
  [[nodiscard]] index_t current_gamma(request_id request) { return gamma_of(request); }

private:
  index_t& gamma_of(request_id request) {
    if (request >= gamma_.size()) gamma_.resize(static_cast<std::size_t>(request) + 1, options_.gamma);
    return gamma_[request];
  }

  Model* model_;
  chain_drafter_options options_;
  detail::draft_model_sync<Model> sync_;
  logits_processor processor_;
  std::vector<float> logits_;
  std::vector<float> row_;
  std::vector<float> probs_;
  std::vector<index_t> gamma_;
};

} // namespace v0
} // namespace specdec
