//! The conformance kit's Monte Carlo driver: run a drafter and a verifier over a toy target for many
//! seeds, collect the joint distribution of the first m emitted tokens, and test it against the
//! target's exact joint distribution.
#pragma once

#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/testing/chi_square.hpp"
#include "specdec/testing/markov_model.hpp"
#include "specdec/testing/toy_drafters.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

//! One Monte Carlo experiment.
struct monte_carlo_config {
  index_t tokens = 2;                  //!< m: the joint distribution of the first m emitted tokens (<= 3)
  std::uint64_t trials = 200000;       //!< independent generations (request index = trial)
  std::uint64_t seed = 1;              //!< the Philox seed of every decision
  std::vector<token_id> prompt{0};     //!< the committed context; its last token is the first root
  sampling_params target_params;       //!< the request's processing of the target logits
};

//! The exact joint distribution of the first `m` tokens that plain autoregressive sampling from the
//! processed target produces after `prompt`: `vocab^m` cells, index = sum_j token_j * vocab^j.
[[nodiscard]] inline std::vector<double> exact_joint(const markov_model& target, std::span<const token_id> prompt,
                                                     const sampling_params& params, index_t m) {
  expects(m >= 1 && m <= 3, "m", m, "1 <= m <= 3");
  const auto vocab = static_cast<std::size_t>(target.vocab());
  std::vector<double> joint(1, 1.0);
  std::vector<token_id> context(prompt.begin(), prompt.end());
  logits_processor processor;
  std::vector<float> p(vocab);
  std::size_t stride = 1;
  for (index_t j = 0; j < m; ++j) {
    std::vector<double> next(joint.size() * vocab, 0.0);
    for (std::size_t prefix = 0; prefix < joint.size(); ++prefix) {
      if (joint[prefix] == 0.0) continue;
      context.resize(prompt.size());
      for (std::size_t k = 0, rest = prefix; k < static_cast<std::size_t>(j); ++k, rest /= vocab) {
        context.push_back(static_cast<token_id>(rest % vocab));
      }
      processor.probabilities(target.logits(context), params, p);
      for (std::size_t t = 0; t < vocab; ++t) next[prefix + t * stride] = joint[prefix] * static_cast<double>(p[t]);
    }
    joint = std::move(next);
    stride *= vocab;
  }
  return joint;
}

//! Runs `trials` generations: each step drafts a tree over `draft_model` with `drafter`, evaluates the
//! target at every node, verifies with `verifier` and commits the emitted tokens, until m tokens are
//! out; returns the histogram of the first m (indexed as in `exact_joint`). `Drafter` has
//! `draft(model, context, address, draft_output&)`; `Verifier` has `verify(verify_input, verify_result&)`.
template <class Drafter, class Verifier>
[[nodiscard]] std::vector<std::uint64_t> monte_carlo_joint(const markov_model& target, const markov_model& draft_model,
                                                           Drafter& drafter, Verifier& verifier,
                                                           const monte_carlo_config& config) {
  expects(config.tokens >= 1 && config.tokens <= 3, "config.tokens", config.tokens, "1 <= m <= 3");
  expects(!config.prompt.empty(), "config.prompt.size()", config.prompt.size(), ">= 1 (its last token is the root)");
  expects(draft_model.vocab() == target.vocab(), "draft_model.vocab()", draft_model.vocab(), "== target.vocab()");
  const auto vocab = static_cast<std::size_t>(target.vocab());
  std::size_t cells = 1;
  for (index_t j = 0; j < config.tokens; ++j) cells *= vocab;
  std::vector<std::uint64_t> histogram(cells, 0);

  std::vector<token_id> context;
  std::vector<token_id> node_context;
  std::vector<float> logits;
  draft_output drafted;
  verify_result result;
  for (std::uint64_t trial = 0; trial < config.trials; ++trial) {
    context.assign(config.prompt.begin(), config.prompt.end());
    random_address address{config.seed, static_cast<std::uint32_t>(trial), 0, 0, purpose::draft_sample};
    while (context.size() < config.prompt.size() + static_cast<std::size_t>(config.tokens)) {
      drafter.draft(draft_model, context, address, drafted);
      const auto nodes = static_cast<std::size_t>(drafted.tree.size());
      logits.resize(nodes * vocab);
      for (std::size_t i = 0; i < nodes; ++i) {
        detail::node_context(drafted.tree, static_cast<std::int32_t>(i), context, target.order(), node_context);
        const auto row = target.logits(node_context);
        std::copy(row.begin(), row.end(), logits.begin() + static_cast<std::ptrdiff_t>(i * vocab));
      }
      verify_input in;
      in.tree = drafted.tree.view();
      in.target_logits = const_matrix_view<float>(logits.data(), static_cast<index_t>(nodes), static_cast<index_t>(vocab));
      in.draft_probs = drafted.q_view(static_cast<index_t>(vocab));
      in.params = config.target_params;
      in.address = address;
      verifier.verify(in, result);
      context.insert(context.end(), result.tokens.begin(), result.tokens.end());
      ++address.step;
    }
    std::size_t cell = 0;
    std::size_t stride = 1;
    for (index_t j = 0; j < config.tokens; ++j, stride *= vocab) {
      cell += static_cast<std::size_t>(context[config.prompt.size() + static_cast<std::size_t>(j)]) * stride;
    }
    ++histogram[cell];
  }
  return histogram;
}

//! A conformance verdict: the chi-square test of the Monte Carlo histogram against the exact joint,
//! and the empirical total-variation distance.
struct conformance_report {
  chi_square_result chi_square;
  double total_variation = 0.0;
  double alpha = 1e-6;

  [[nodiscard]] bool passes() const noexcept { return chi_square.passes(alpha); }
  [[nodiscard]] std::string text() const {
    std::ostringstream out;
    out << chi_square.report(alpha) << "; TV = " << total_variation;
    return out.str();
  }
};

//! Runs `monte_carlo_joint` and tests it against `exact_joint` at significance `alpha`: the verdict
//! a backend author wants for "is my drafter + verifier integration lossless?".
template <class Drafter, class Verifier>
[[nodiscard]] conformance_report check_lossless(const markov_model& target, const markov_model& draft_model,
                                                Drafter& drafter, Verifier& verifier, const monte_carlo_config& config,
                                                double alpha = 1e-6) {
  const auto observed = monte_carlo_joint(target, draft_model, drafter, verifier, config);
  const auto expected = exact_joint(target, config.prompt, config.target_params, config.tokens);
  conformance_report report;
  report.alpha = alpha;
  report.chi_square = chi_square_goodness_of_fit(observed, expected);
  report.total_variation = total_variation(observed, expected);
  return report;
}

} // namespace testing
} // namespace v0
} // namespace specdec
