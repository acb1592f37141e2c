//! The conformance kit for a whole integration: a user's target backend, drafter and verifier, run
//! through `speculative_decoder`, compared with the same backend's own autoregressive decoding -- in
//! distribution (a two-sample chi-square test at a stated alpha) and, for greedy, token for token.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "specdec/backend/target_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/decode/autoregressive_decoder.hpp"
#include "specdec/decode/speculative_decoder.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/testing/chi_square.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

//! One distributional check of an integration.
struct integration_config {
  std::vector<token_id> prompt{0};   //!< the prompt of every trial
  index_t tokens = 2;                //!< m: the joint distribution of the first m generated tokens
  std::uint64_t trials = 20000;      //!< generations per decoder
  index_t batch = 8;                 //!< requests decoded together (ids 0 .. batch - 1)
  sampling_params params;            //!< the target's processing (temperature > 0 for a sampling test)
  std::uint64_t seed = 1;            //!< base of the per-trial seeds (the two decoders use disjoint seeds)
  speculation_options speculation;   //!< the speculative decoder's budgets
};

//! The verdict: a chi-square test of homogeneity between speculative and autoregressive samples.
struct integration_report {
  chi_square_result chi_square;
  double total_variation = 0.0;  //!< between the two empirical distributions (includes sampling noise)
  double alpha = 1e-6;
  decode_stats speculative;      //!< the speculative decoder's statistics over the run

  [[nodiscard]] bool passes() const noexcept { return chi_square.passes(alpha); }
  [[nodiscard]] std::string text() const {
    std::ostringstream out;
    out << chi_square.report(alpha) << "; TV = " << total_variation << "; tau = " << speculative.tokens_per_step();
    return out.str();
  }
};

namespace detail {

// A per-trial seed: the two decoders (stream 0 and 1) never share one.
[[nodiscard]] inline std::uint64_t trial_seed(std::uint64_t base, std::uint64_t stream, std::uint64_t trial) noexcept {
  const philox_words w = philox4x32_10({{static_cast<std::uint32_t>(trial), static_cast<std::uint32_t>(trial >> 32),
                                         static_cast<std::uint32_t>(stream), 0x5eedu}},
                                       {{static_cast<std::uint32_t>(base), static_cast<std::uint32_t>(base >> 32)}});
  return (static_cast<std::uint64_t>(w.w[1]) << 32) | w.w[0];
}

// Runs `trials` generations of `m` tokens, `batch` at a time, and counts each m-token outcome.
template <class Decoder>
void sample_outcomes(Decoder& decoder, const integration_config& c, std::uint64_t stream, index_t vocab,
                     std::map<std::uint64_t, std::uint64_t>& counts) {
  for (std::uint64_t first = 0; first < c.trials; first += static_cast<std::uint64_t>(c.batch)) {
    const auto size = static_cast<request_id>(std::min<std::uint64_t>(static_cast<std::uint64_t>(c.batch), c.trials - first));
    for (request_id r = 0; r < size; ++r) {
      request_options o;
      o.params = c.params;
      o.seed = trial_seed(c.seed, stream, first + r);
      o.max_new_tokens = c.tokens;
      decoder.add_request(r, c.prompt, std::move(o));
    }
    decoder.run();
    for (request_id r = 0; r < size; ++r) {
      std::uint64_t key = 0;
      for (const token_id t : decoder.tokens(r)) key = key * static_cast<std::uint64_t>(vocab) + static_cast<std::uint64_t>(t);
      ++counts[key];
      decoder.release(r);
    }
  }
}

} // namespace detail

//! Checks that `speculative_decoder<Target, Drafter, Verifier>` emits tokens distributed as the same
//! backend's autoregressive decoding: `config.trials` generations of the first `config.tokens` tokens
//! with each decoder, compared by a chi-square test of homogeneity at `alpha` (cells pooled to expected
//! counts >= 5). A bug in the user's forward (positions, mask, KV slots), commit or drafter shows up as
//! a rejection, as does a rule that is not lossless for the drafter's scheme. Trees are drafted to full
//! depth (`trim_to_remaining` off) and truncated to m tokens, so deep trees are verified too. The
//! backend and drafter must have no live requests with ids below `config.batch`.
template <class Composition = checked_composition, target_model Target, drafter Drafter, verifier Verifier>
[[nodiscard]] integration_report check_lossless(Target& target, Drafter& drafter, Verifier& verifier,
                                                const integration_config& config, double alpha = 1e-6) {
  expects(config.tokens >= 1 && config.tokens <= 4, "config.tokens", config.tokens, "in [1, 4]");
  expects(config.batch >= 1, "config.batch", config.batch, ">= 1");
  expects(config.trials >= 1, "config.trials", config.trials, ">= 1");
  const auto vocab = static_cast<index_t>(target.vocab_size());
  double cells = 1.0;
  for (index_t j = 0; j < config.tokens; ++j) cells *= static_cast<double>(vocab);
  expects(cells < 1.8e19, "vocab^tokens", cells, "< 2^64 (an outcome is keyed by its tokens)");

  std::map<std::uint64_t, std::uint64_t> speculative;
  std::map<std::uint64_t, std::uint64_t> autoregressive;
  speculation_options speculation = config.speculation;
  speculation.trim_to_remaining = false;  // verify deep trees even though only m tokens are kept
  speculative_decoder<Target, Drafter, Verifier, Composition> spec(target, drafter, verifier, speculation);
  detail::sample_outcomes(spec, config, 0, vocab, speculative);
  autoregressive_decoder<Target> ar(target);
  detail::sample_outcomes(ar, config, 1, vocab, autoregressive);

  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> joint;
  for (const auto& [key, n] : speculative) joint[key].first = n;
  for (const auto& [key, n] : autoregressive) joint[key].second = n;
  std::vector<std::uint64_t> a, b;
  for (const auto& [key, n] : joint) {
    a.push_back(n.first);
    b.push_back(n.second);
  }
  integration_report report;
  report.alpha = alpha;
  report.chi_square = chi_square_homogeneity(a, b);
  report.total_variation = total_variation(std::span<const std::uint64_t>(a), std::span<const std::uint64_t>(b));
  report.speculative = spec.stats();
  return report;
}

//! The verdict of a greedy check: whether every speculative generation equals the autoregressive one.
struct greedy_report {
  bool identical = true;
  index_t sequences = 0;
  index_t tokens = 0;              //!< generated tokens compared
  std::string first_difference;    //!< empty when identical
  decode_stats speculative;

  [[nodiscard]] std::string text() const {
    std::ostringstream out;
    out << sequences << " sequences, " << tokens << " tokens: " << (identical ? "identical" : first_difference)
        << "; tau = " << speculative.tokens_per_step();
    return out.str();
  }
};

//! Greedy equality: decodes every prompt of `prompts` (as one ragged batch, ids 0 .. prompts.size() - 1)
//! for `max_new_tokens` at temperature 0 with the speculative decoder and with the backend's own
//! autoregressive decoding, and compares the generations token by token.
template <class Composition = checked_composition, target_model Target, drafter Drafter, verifier Verifier>
[[nodiscard]] greedy_report check_greedy(Target& target, Drafter& drafter, Verifier& verifier,
                                         std::span<const std::vector<token_id>> prompts, index_t max_new_tokens,
                                         speculation_options speculation = {}) {
  expects(!prompts.empty(), "prompts.size()", prompts.size(), ">= 1");
  const auto run = [&](auto& decoder) {
    std::vector<std::vector<token_id>> out(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      request_options o;
      o.params = sampling_params::make_greedy();
      o.max_new_tokens = max_new_tokens;
      decoder.add_request(static_cast<request_id>(i), prompts[i], std::move(o));
    }
    decoder.run();
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const auto t = decoder.tokens(static_cast<request_id>(i));
      out[i].assign(t.begin(), t.end());
      decoder.release(static_cast<request_id>(i));
    }
    return out;
  };
  speculative_decoder<Target, Drafter, Verifier, Composition> spec(target, drafter, verifier, speculation);
  const auto speculative = run(spec);
  autoregressive_decoder<Target> ar(target);
  const auto reference = run(ar);
  greedy_report report;
  report.speculative = spec.stats();
  report.sequences = static_cast<index_t>(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    report.tokens += static_cast<index_t>(reference[i].size());
    if (!report.identical) continue;
    const std::size_t n = std::min(speculative[i].size(), reference[i].size());
    std::size_t j = 0;
    while (j < n && speculative[i][j] == reference[i][j]) ++j;
    if (j < n || speculative[i].size() != reference[i].size()) {
      report.identical = false;
      std::ostringstream out;
      out << "prompt " << i << " differs at generated token " << j << ": speculative "
          << (j < speculative[i].size() ? std::to_string(speculative[i][j]) : std::string("(end)")) << ", autoregressive "
          << (j < reference[i].size() ? std::to_string(reference[i][j]) : std::string("(end)"));
      report.first_difference = out.str();
    }
  }
  return report;
}

} // namespace testing
} // namespace v0
} // namespace specdec
