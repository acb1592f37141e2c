#include <specdec/sampling/softmax.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "support/catch.hpp"

namespace {
constexpr float inf = std::numeric_limits<float>::infinity();
}  // namespace

TEST_CASE("softmax is normalised, masks -inf to exactly 0 and survives huge logits") {
  const std::vector<float> logits{1.0f, 2.0f, -inf, 3.0f};
  std::vector<float> probs(logits.size());
  specdec::softmax(logits, probs);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  REQUIRE_THAT(probs[0], WithinRel(static_cast<float>(std::exp(1.0) / z), 1e-6f));
  REQUIRE_THAT(probs[3], WithinRel(static_cast<float>(std::exp(3.0) / z), 1e-6f));
  REQUIRE(probs[2] == 0.0f);

  const std::vector<float> huge{1e30f, 1e30f, -1e30f};  // exp without the shift overflows
  std::vector<float> out(3);
  specdec::softmax(huge, out);
  REQUIRE(out[0] == 0.5f);
  REQUIRE(out[1] == 0.5f);
  REQUIRE(out[2] == 0.0f);
}

TEST_CASE("softmax works in place, and over a large vocabulary sums to 1 in double") {
  std::vector<float> row(128256);
  for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(std::sin(0.001 * static_cast<double>(i)));
  specdec::softmax(row, row);
  const double total = std::accumulate(row.begin(), row.end(), 0.0);
  REQUIRE_THAT(total, WithinAbs(1.0, 1e-5));
}

TEST_CASE("logsumexp and log_softmax agree with the definitions") {
  const std::vector<float> logits{0.0f, static_cast<float>(std::log(3.0)), -inf};
  REQUIRE_THAT(specdec::logsumexp(logits), WithinAbs(std::log(4.0), 1e-7));
  std::vector<float> out(3);
  specdec::log_softmax(logits, out);
  REQUIRE_THAT(out[0], WithinAbs(static_cast<float>(std::log(0.25)), 1e-6f));
  REQUIRE_THAT(out[1], WithinAbs(static_cast<float>(std::log(0.75)), 1e-6f));
  REQUIRE(out[2] == -inf);
  REQUIRE_THAT(specdec::logsumexp(std::vector<float>{1000.0f, 1000.0f}), WithinRel(1000.0 + std::log(2.0), 1e-12));
}

TEST_CASE("softmax family rejects invalid rows and mismatched outputs") {
  std::vector<float> out(2);
  REQUIRE_INVALID_ARGUMENT("logits[1] = nan", specdec::softmax(std::vector<float>{0.0f, std::nanf("")}, out));
  REQUIRE_INVALID_ARGUMENT("all -inf", specdec::softmax(std::vector<float>{-inf, -inf}, out));
  REQUIRE_INVALID_ARGUMENT("probs.size() = 2", specdec::softmax(std::vector<float>{0.0f, 1.0f, 2.0f}, out));
  REQUIRE_INVALID_ARGUMENT("logits[0] = inf", specdec::logsumexp(std::vector<float>{inf}));
  REQUIRE_INVALID_ARGUMENT("empty", specdec::log_softmax(std::vector<float>{}, std::span<float>{}));
}
