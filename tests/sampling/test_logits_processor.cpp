#include <specdec/sampling/logits_processor.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "support/catch.hpp"

using specdec::logits_processor;
using specdec::sampling_params;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

// The token ids that survive processing (finite processed logits).
std::vector<int> kept(const std::vector<float>& logits, const sampling_params& params) {
  logits_processor processor;
  std::vector<float> out(logits.size());
  processor.process(logits, params, out);
  std::vector<int> ids;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] != -inf) ids.push_back(static_cast<int>(i));
  }
  return ids;
}

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (const double p : probs) logits.push_back(p > 0 ? static_cast<float>(std::log(p)) : -inf);
  return logits;
}

sampling_params with(float temperature, std::int32_t top_k, float top_p, float min_p) {
  sampling_params params;
  params.temperature = temperature;
  params.top_k = top_k;
  params.top_p = top_p;
  params.min_p = min_p;
  return params;
}

}  // namespace

TEST_CASE("defaults are all off: processing at temperature 1 only shifts the logits") {
  const std::vector<float> logits{1.0f, -2.0f, 3.0f, -inf};
  logits_processor processor;
  std::vector<float> out(4);
  processor.process(logits, sampling_params{}, out);
  REQUIRE(out[0] == -2.0f);
  REQUIRE(out[1] == -5.0f);
  REQUIRE(out[2] == 0.0f);  // the maximum becomes exactly 0
  REQUIRE(out[3] == -inf);
}

TEST_CASE("temperature divides the logits; temperature 0 is greedy with ties to the lowest id") {
  const std::vector<float> logits{1.0f, 5.0f, 5.0f, 2.0f};
  logits_processor processor;
  std::vector<float> probs(4);
  processor.probabilities(logits, with(2.0f, -1, 1.0f, 0.0f), probs);
  const double z = std::exp(0.5) + 2 * std::exp(2.5) + std::exp(1.0);
  REQUIRE_THAT(probs[0], WithinRel(static_cast<float>(std::exp(0.5) / z), 1e-6f));
  REQUIRE_THAT(probs[1], WithinRel(static_cast<float>(std::exp(2.5) / z), 1e-6f));

  processor.probabilities(logits, sampling_params::make_greedy(), probs);
  REQUIRE(probs == std::vector<float>{0.0f, 1.0f, 0.0f, 0.0f});
  REQUIRE(kept(logits, sampling_params::make_greedy()) == std::vector<int>{1});
}

TEST_CASE("top-k keeps every token tied with the k-th largest") {
  const std::vector<float> logits{1.0f, 3.0f, 3.0f, 2.0f, 3.0f, -inf};
  REQUIRE(kept(logits, with(1.0f, 1, 1.0f, 0.0f)) == std::vector<int>{1, 2, 4});
  REQUIRE(kept(logits, with(1.0f, 2, 1.0f, 0.0f)) == std::vector<int>{1, 2, 4});
  REQUIRE(kept(logits, with(1.0f, 4, 1.0f, 0.0f)) == std::vector<int>{1, 2, 3, 4});
  REQUIRE(kept(logits, with(1.0f, 5, 1.0f, 0.0f)) == std::vector<int>{0, 1, 2, 3, 4});
  REQUIRE(kept(logits, with(1.0f, 1000, 1.0f, 0.0f)) == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("top-p keeps the shortest prefix by probability then id whose mass reaches p") {
  const auto logits = log_of({0.1, 0.4, 0.2, 0.3});
  REQUIRE(kept(logits, with(1.0f, -1, 0.5f, 0.0f)) == std::vector<int>{1, 3});
  REQUIRE(kept(logits, with(1.0f, -1, 0.75f, 0.0f)) == std::vector<int>{1, 2, 3});
  REQUIRE(kept(logits, with(1.0f, -1, 0.05f, 0.0f)) == std::vector<int>{1});
  REQUIRE(kept(logits, with(1.0f, -1, 1.0f, 0.0f)) == std::vector<int>{0, 1, 2, 3});
  // Equal probabilities: ties are taken in id order, and a cumulative 0.5 reaches p = 0.5 exactly.
  const std::vector<float> uniform(4, 0.0f);
  REQUIRE(kept(uniform, with(1.0f, -1, 0.5f, 0.0f)) == std::vector<int>{0, 1});
  REQUIRE(kept(uniform, with(1.0f, -1, 0.51f, 0.0f)) == std::vector<int>{0, 1, 2});
}

TEST_CASE("min-p keeps tokens with probability >= min_p times the largest") {
  const auto logits = log_of({0.5, 0.25, 0.125, 0.125});
  REQUIRE(kept(logits, with(1.0f, -1, 1.0f, 0.4f)) == std::vector<int>{0, 1});
  REQUIRE(kept(logits, with(1.0f, -1, 1.0f, 0.2f)) == std::vector<int>{0, 1, 2, 3});
  REQUIRE(kept(logits, with(1.0f, -1, 1.0f, 1.0f)) == std::vector<int>{0});
}

TEST_CASE("processors run in the order temperature -> top-k -> top-p -> min-p") {
  // top-k first renormalises {0.5, 0.3} to {0.625, 0.375}, so top-p 0.6 keeps one token; top-p over
  // the unfiltered {0.5, 0.3, 0.2} would have kept two.
  const auto logits = log_of({0.5, 0.3, 0.2});
  REQUIRE(kept(logits, with(1.0f, 2, 0.6f, 0.0f)) == std::vector<int>{0});
  REQUIRE(kept(logits, with(1.0f, -1, 0.6f, 0.0f)) == std::vector<int>{0, 1});
  // Temperature before top-p: at T = 4 the distribution flattens and top-p 0.6 needs two tokens
  // (probabilities ~0.38, 0.33, 0.29); at T = 0.25 one token holds ~0.9 of the mass.
  REQUIRE(kept(logits, with(4.0f, -1, 0.6f, 0.0f)) == std::vector<int>{0, 1});
  REQUIRE(kept(logits, with(0.25f, -1, 0.6f, 0.0f)) == std::vector<int>{0});
  // Top-p before min-p: on {0.4, 0.3, 0.2, 0.1}, top-p 0.75 keeps {0, 1, 2} and min-p 0.3 (p >= 0.12)
  // keeps them all. Min-p first would drop token 3 and renormalise to {.44, .33, .22}, after which
  // top-p 0.75 keeps only {0, 1}.
  const auto four = log_of({0.4, 0.3, 0.2, 0.1});
  REQUIRE(kept(four, with(1.0f, -1, 0.75f, 0.3f)) == std::vector<int>{0, 1, 2});
  REQUIRE(kept(four, with(1.0f, -1, 1.0f, 0.3f)) == std::vector<int>{0, 1, 2});
}

TEST_CASE("processed probabilities are the renormalised survivors") {
  const auto logits = log_of({0.1, 0.4, 0.2, 0.3});
  logits_processor processor;
  std::vector<float> probs(4);
  processor.probabilities(logits, with(1.0f, 3, 0.6f, 0.0f), probs);  // top-3 {.4,.3,.2} -> top-p keeps 1, 3
  REQUIRE(probs[0] == 0.0f);
  REQUIRE(probs[2] == 0.0f);
  REQUIRE_THAT(probs[1], WithinRel(4.0f / 7.0f, 1e-6f));
  REQUIRE_THAT(probs[3], WithinRel(3.0f / 7.0f, 1e-6f));
}

TEST_CASE("invalid parameters and rows are rejected with the argument named") {
  const std::vector<float> logits{0.0f, 1.0f};
  std::vector<float> out(2);
  logits_processor processor;
  REQUIRE_INVALID_ARGUMENT("top_k = 0", processor.process(logits, with(1.0f, 0, 1.0f, 0.0f), out));
  REQUIRE_INVALID_ARGUMENT("top_k = -2", processor.process(logits, with(1.0f, -2, 1.0f, 0.0f), out));
  REQUIRE_INVALID_ARGUMENT("temperature = -1", processor.process(logits, with(-1.0f, -1, 1.0f, 0.0f), out));
  REQUIRE_INVALID_ARGUMENT("temperature = nan", processor.process(logits, with(std::nanf(""), -1, 1.0f, 0.0f), out));
  REQUIRE_INVALID_ARGUMENT("top_p = 0 violates", processor.process(logits, with(1.0f, -1, 0.0f, 0.0f), out));
  REQUIRE_INVALID_ARGUMENT("top_p = 1.5", processor.process(logits, with(1.0f, -1, 1.5f, 0.0f), out));
  REQUIRE_INVALID_ARGUMENT("min_p = 1.5", processor.process(logits, with(1.0f, -1, 1.0f, 1.5f), out));
  REQUIRE_INVALID_ARGUMENT("min_p = -0.1", processor.process(logits, with(1.0f, -1, 1.0f, -0.1f), out));
  REQUIRE_INVALID_ARGUMENT("logits[1] = inf", processor.process(std::vector<float>{0.0f, inf}, sampling_params{}, out));
  REQUIRE_INVALID_ARGUMENT("all -inf", processor.process(std::vector<float>{-inf, -inf}, sampling_params{}, out));
  std::vector<float> short_out(1);
  REQUIRE_INVALID_ARGUMENT("out.size() = 1", processor.process(logits, sampling_params{}, short_out));
}
