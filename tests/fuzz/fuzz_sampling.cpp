//! Sampling parameters and logits processing on arbitrary rows (NaN, +-inf, huge and tiny values):
//! either `specdec::invalid_argument` with the output untouched, or a processed row that keeps the
//! argmax at 0, is <= 0 elsewhere, applies top-p exactly as its sort definition, and probabilities that
//! sum to 1.
#include <fuzzer/FuzzedDataProvider.h>

#include <specdec/sampling/argmax.hpp>
#include <specdec/sampling/detail/nucleus.hpp>
#include <specdec/sampling/logits_processor.hpp>
#include <specdec/sampling/softmax.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();

float consume_float(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return std::bit_cast<float>(in.ConsumeIntegral<std::uint32_t>());  // any bits
    case 1: return static_cast<float>(in.ConsumeIntegralInRange<int>(-20, 20)) * 0.5f;  // ties
    case 2: return in.ConsumeBool() ? neg_inf : -1e7f;
    default: return in.ConsumeFloatingPointInRange<float>(-30.0f, 30.0f);
  }
}

// The sort definition of top-p on a processed row.
std::vector<float> top_p_by_sorting(std::vector<float> row, float top_p, std::size_t preferred = static_cast<std::size_t>(-1)) {
  std::vector<std::pair<float, std::size_t>> order;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (row[i] != neg_inf) order.emplace_back(row[i], i);
  }
  // Processed logit descending (-0 and +0 tie), then id ascending.
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    if ((a.second == preferred) != (b.second == preferred)) return a.second == preferred;  // the argmax first
    return a.second < b.second;
  });
  const double target = static_cast<double>(top_p) * specdec::detail::sum_exp(row, 0.0f, 1.0f);
  double cumulative = 0.0;
  std::size_t kept = 0;
  while (kept < order.size() && cumulative < target) {
    cumulative += static_cast<double>(specdec::detail::exp_nonpositive(order[kept++].first));
  }
  for (std::size_t j = kept; j < order.size(); ++j) row[order[j].second] = neg_inf;
  return row;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  specdec::sampling_params params;
  params.temperature = in.ConsumeBool() ? in.ConsumeFloatingPointInRange<float>(0.0f, 4.0f) : consume_float(in);
  params.top_k = in.ConsumeBool() ? specdec::sampling_params::top_k_off : in.ConsumeIntegralInRange<std::int32_t>(-3, 40);
  params.top_p = in.ConsumeBool() ? 1.0f : (in.ConsumeBool() ? in.ConsumeProbability<float>() : consume_float(in));
  params.min_p = in.ConsumeBool() ? 0.0f : (in.ConsumeBool() ? in.ConsumeProbability<float>() : consume_float(in));
  std::vector<float> logits(in.ConsumeIntegralInRange<std::size_t>(0, 5000));
  const bool structured = in.ConsumeBool();
  for (float& x : logits) x = structured && !in.remaining_bytes() ? 0.0f : consume_float(in);

  specdec::logits_processor processor;
  std::vector<float> out(logits.size(), 123.0f);
  if (!completes([&] { processor.process(logits, params, out); })) {
    FUZZ_REQUIRE(std::all_of(out.begin(), out.end(), [](float x) { return x == 123.0f; }), "rejected: out untouched");
    const bool params_ok = completes([&] { params.validate(); });
    const bool row_ok = completes([&] { specdec::validate_logits(logits); });
    FUZZ_REQUIRE(!params_ok || !row_ok, "only invalid parameters or rows are rejected");
    return 0;
  }
  const specdec::argmax_result max = specdec::checked_argmax(logits);
  FUZZ_REQUIRE(out[static_cast<std::size_t>(max.index)] == 0.0f, "the argmax is kept, at exactly 0");
  for (std::size_t i = 0; i < out.size(); ++i) {
    FUZZ_REQUIRE(out[i] == neg_inf || (out[i] <= 0.0f && !std::isnan(out[i])), "processed logits are <= 0 or -inf");
    if (logits[i] == neg_inf) FUZZ_REQUIRE(out[i] == neg_inf, "masked tokens stay masked");
  }
  if (params.greedy()) {
    FUZZ_REQUIRE(std::count(out.begin(), out.end(), 0.0f) == 1, "greedy keeps exactly the argmax");
  } else if (params.top_p < 1.0f) {
    // Top-p equals its definition on the row processed without top-p and min-p.
    specdec::sampling_params before = params;
    before.top_p = 1.0f;
    before.min_p = 0.0f;
    std::vector<float> processed(logits.size());
    processor.process(logits, before, processed);
    std::vector<float> expected = top_p_by_sorting(processed, params.top_p, static_cast<std::size_t>(max.index));
    if (params.min_p > 0.0f) {
      const double threshold = std::log(static_cast<double>(params.min_p));
      for (float& x : expected) x = static_cast<double>(x) < threshold ? neg_inf : x;
    }
    FUZZ_REQUIRE(expected == out, "top-p equals the sort definition");
  }
  std::vector<float> p(logits.size());
  processor.probabilities(logits, params, p);
  double total = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    FUZZ_REQUIRE(p[i] >= 0.0f && p[i] <= 1.0f, "probabilities in [0, 1]");
    FUZZ_REQUIRE((out[i] == neg_inf) == (p[i] == 0.0f) || (out[i] != neg_inf && out[i] < -87.0f), "zero exactly where filtered");
    total += static_cast<double>(p[i]);
  }
  FUZZ_REQUIRE(std::abs(total - 1.0) < 1e-4, "probabilities sum to 1");
  const double lse = specdec::logsumexp(logits);
  FUZZ_REQUIRE(!std::isnan(lse) && lse >= static_cast<double>(max.value), "logsumexp >= max");
  return 0;
}
