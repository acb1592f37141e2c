// Chi-square tests of the samplers against the exact distribution. Every test uses fixed seeds and
// alpha = 1e-6; with the ~20 statistical tests of the suite, Bonferroni bounds the chance that a
// correct implementation fails anywhere by 2e-5.
#include <specdec/sampling/sample.hpp>
#include <specdec/sampling/softmax.hpp>
#include <specdec/testing/chi_square.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"

namespace {

constexpr double alpha = 1e-6;
constexpr float inf = std::numeric_limits<float>::infinity();

#if SPECDEC_SANITIZE_BUILD
constexpr std::uint32_t sample_scale = 20;  // the sanitizer tier checks memory safety, not statistics
#else
constexpr std::uint32_t sample_scale = 1;
#endif

struct sampler_case {
  std::string name;
  std::vector<float> logits;
  std::uint32_t samples;
};

std::vector<double> exact_softmax(const std::vector<float>& logits) {
  double max = -std::numeric_limits<double>::infinity();
  for (const float x : logits) max = std::max(max, static_cast<double>(x));
  std::vector<double> p(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i) sum += (p[i] = std::exp(static_cast<double>(logits[i]) - max));
  for (double& x : p) x /= sum;
  return p;
}

std::vector<sampler_case> cases() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<sampler_case> out;
  out.push_back({"V=2 peaked", {0.0f, 3.0f}, 200000});
  out.push_back({"V=5 near-uniform", {0.0f, 0.01f, -0.01f, 0.02f, 0.0f}, 200000});
  out.push_back({"V=6 masked", {1.0f, -inf, 0.5f, -inf, -inf, 2.0f}, 200000});
  std::vector<float> thousand(1000);
  for (float& x : thousand) x = 2.0f * normal(rng);
  out.push_back({"V=1000 normal", thousand, 50000});
  std::vector<float> large(50000);
  for (float& x : large) x = normal(rng);
  for (std::size_t i = 0; i < large.size(); i += 3) large[i] = -inf;  // a third masked
  large[12345] = 12.0f;                                               // one token holds ~1/3 of the mass
  out.push_back({"V=50000 peaked, masked", large, 3000});
  return out;
}

using sampler = std::function<specdec::token_id(const std::vector<float>&, const specdec::random_address&)>;

specdec::testing::chi_square_result run(const sampler_case& c, const sampler& sample, std::uint64_t seed) {
  std::vector<std::uint64_t> counts(c.logits.size());
  specdec::random_address address{seed, 3, 0, 5, specdec::purpose::residual};
  for (std::uint32_t s = 0; s < c.samples / sample_scale; ++s) {
    address.step = s;
    counts[static_cast<std::size_t>(sample(c.logits, address))] += 1;
  }
  return specdec::testing::chi_square_goodness_of_fit(counts, exact_softmax(c.logits));
}

specdec::token_id gumbel(const std::vector<float>& logits, const specdec::random_address& a) {
  return specdec::sample_gumbel_max(logits, a);
}

specdec::token_id race(const std::vector<float>& logits, const specdec::random_address& a) {
  // Unnormalised weights: the race needs no normalisation.
  std::vector<float> probs(logits.size());
  specdec::softmax(logits, probs);
  for (float& w : probs) w *= 3.7f;
  return specdec::sample_exponential_race(probs, a);
}

}  // namespace

TEST_CASE("Gumbel-max sampling matches softmax(logits)") {
  for (const auto& c : cases()) {
    const auto result = run(c, gumbel, 11);
    INFO(c.name << ": " << result.report(alpha));
    CHECK(result.passes(alpha));
  }
}

TEST_CASE("the exponential race matches w / sum(w)") {
  for (const auto& c : cases()) {
    const auto result = run(c, race, 12);
    INFO(c.name << ": " << result.report(alpha));
    CHECK(result.passes(alpha));
  }
}

TEST_CASE("a wrong sampler fails the same test (the test has power)") {
  // Uniform instead of Gumbel noise: argmax(logit + U) over-favours the largest logit.
  const sampler wrong = [](const std::vector<float>& logits, const specdec::random_address& a) {
    specdec::token_id best = 0;
    float best_score = -inf;
    for (std::size_t i = 0; i < logits.size(); ++i) {
      const float score = logits[i] + specdec::uniform_float(a, static_cast<std::uint32_t>(i));
      if (score > best_score) best_score = score, best = static_cast<specdec::token_id>(i);
    }
    return best;
  };
  const sampler_case c{"V=5 near-uniform", {0.0f, 0.3f, -0.2f, 0.5f, 0.1f}, 200000};
  const auto result = run(c, wrong, 13);
  INFO(result.report(alpha));
  REQUIRE_FALSE(result.passes(alpha));
}

TEST_CASE("samplers are deterministic per address, and the race agrees with Gumbel-max") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(257);
  for (float& x : logits) x = normal(rng);
  std::vector<float> weights(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) weights[i] = std::exp(logits[i]);

  specdec::random_address address{99, 0, 0, 0, specdec::purpose::bonus};
  int agree = 0;
  constexpr int draws = 2000;
  for (std::uint32_t s = 0; s < draws; ++s) {
    address.step = s;
    const auto a = specdec::sample_gumbel_max(logits, address);
    REQUIRE(a == specdec::sample_gumbel_max(logits, address));
    agree += a == specdec::sample_exponential_race(weights, address) ? 1 : 0;
  }
  // Same uniforms: argmax(l + G) == argmax(e^l / E) up to float rounding of near-ties.
  REQUIRE(agree >= draws - 2);
}

TEST_CASE("samplers reject invalid rows") {
  const specdec::random_address address{};
  REQUIRE_INVALID_ARGUMENT("logits[1] = nan", specdec::sample_gumbel_max(std::vector<float>{0.0f, std::nanf("")}, address));
  REQUIRE_INVALID_ARGUMENT("all -inf", specdec::sample_gumbel_max(std::vector<float>{-inf}, address));
  REQUIRE_INVALID_ARGUMENT("weights[1] = -0.1", specdec::sample_exponential_race(std::vector<double>{0.5, -0.1}, address));
  REQUIRE_INVALID_ARGUMENT("weights[1] = inf", specdec::sample_exponential_race(std::vector<float>{0.0f, inf}, address));
  REQUIRE_INVALID_ARGUMENT("all zero", specdec::sample_exponential_race(std::vector<float>{0.0f, 0.0f}, address));
  REQUIRE_INVALID_ARGUMENT("empty", specdec::sample_exponential_race(std::vector<float>{}, address));
}
