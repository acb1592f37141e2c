// Row primitives against their CPU references on random rows: argmax exactly (ties to the lowest id,
// bfloat16 rows are full of ties), logsumexp and softmax to float accuracy, and Gumbel-max / exponential
// race sampling at the same Philox addresses: identical tokens on at least 99.99% of rows, the others
// printed with their scores (float near-ties).
#include <specdec/cuda.cuh>

#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::test::device_buffer;

std::vector<float> random_logits(std::size_t rows, std::size_t vocab, std::uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::bernoulli_distribution masked(0.02);
  std::vector<float> logits(rows * vocab);
  for (float& x : logits) x = masked(rng) ? -INFINITY : normal(rng);
  for (std::size_t r = 0; r < rows; ++r) logits[r * vocab + r % vocab] = scale;  // one finite entry at least
  return logits;
}

std::vector<specdec::random_address> addresses_for(std::size_t rows, std::uint64_t seed) {
  std::vector<specdec::random_address> out(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    out[r] = specdec::random_address{seed + r * 7919, static_cast<std::uint32_t>(r), 3, static_cast<std::uint32_t>(r % 5),
                                     specdec::purpose::bonus};
  }
  return out;
}

// At most 1 in 10^4 rows may differ (float near-ties), and at least one is always allowed to fail only
// when there are 10^4 rows or more.
std::size_t allowed_mismatches(std::size_t cases) { return cases / 10000; }

}  // namespace

TEMPLATE_TEST_CASE("argmax_rows, logsumexp_rows and softmax_rows match the CPU row functions", "[cuda][sampling]", float,
                   __nv_bfloat16) {
  // 4099 is not a multiple of the vector width: every row after the first is misaligned (scalar path)
  // and the aligned first row has a tail.
  const std::size_t vocab = GENERATE(std::size_t{4099}, std::size_t{8192});
  const std::size_t rows = 96;
  const auto logits = specdec::test::make_typed<TestType>(random_logits(rows, vocab, 11, 3.0f));
  device_buffer<TestType> d_logits(logits.stored);
  device_buffer<std::int32_t> d_argmax(rows);
  device_buffer<float> d_max(rows), d_lse(rows), d_probs(rows * vocab);
  device_buffer<float> d_temperatures(std::vector<float>(rows, 0.8f));
  SPECDEC_CHECK_CUDA(sc::argmax_rows(d_logits.data(), static_cast<std::int64_t>(rows), static_cast<std::int32_t>(vocab),
                                     d_argmax.data(), d_max.data()));
  SPECDEC_CHECK_CUDA(sc::logsumexp_rows(d_logits.data(), static_cast<std::int64_t>(rows), static_cast<std::int32_t>(vocab),
                                        d_lse.data()));
  SPECDEC_CHECK_CUDA(sc::softmax_rows(d_logits.data(), static_cast<std::int64_t>(rows), static_cast<std::int32_t>(vocab),
                                      d_temperatures.data(), d_probs.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  const auto argmax = d_argmax.download();
  const auto max = d_max.download();
  const auto lse = d_lse.download();
  const auto probs = d_probs.download();
  specdec::logits_processor processor;
  std::vector<float> expected(vocab);
  specdec::sampling_params params;
  params.temperature = 0.8f;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::span<const float> row(logits.exact.data() + r * vocab, vocab);
    const specdec::argmax_result best = specdec::checked_argmax(row);
    INFO("row " << r);
    REQUIRE(argmax[r] == best.index);
    REQUIRE(max[r] == best.value);
    REQUIRE_THAT(lse[r], WithinAbs(static_cast<float>(specdec::logsumexp(row)), 1e-4));
    processor.probabilities(row, params, expected);
    for (std::size_t i = 0; i < vocab; ++i) {
      REQUIRE_THAT(probs[r * vocab + i], WithinAbs(expected[i], 1e-6) || WithinRel(expected[i], 1e-5f));
    }
  }
}

TEMPLATE_TEST_CASE("sample_rows draws the CPU's Gumbel-max token under temperature, top-k, top-p and min-p", "[cuda][sampling]",
                   float, __nv_bfloat16) {
  const std::size_t vocab = 1029;
  const std::size_t rows = 20000;
  const auto logits = specdec::test::make_typed<TestType>(random_logits(rows, vocab, 23, 2.0f));
  const auto addresses = addresses_for(rows, 0x5eed);
  std::vector<specdec::sampling_params> params(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const float temperatures[] = {0.0f, 0.5f, 1.0f, 1.7f};
    const std::int32_t top_ks[] = {specdec::sampling_params::top_k_off, 1, 7, 200};
    const float min_ps[] = {0.0f, 0.0f, 0.05f, 0.3f};
    const float top_ps[] = {1.0f, 0.9f, 0.5f, 0.99f};
    params[r].temperature = temperatures[r % 4];
    params[r].top_k = top_ks[(r / 4) % 4];
    params[r].min_p = min_ps[(r / 16) % 4];
    params[r].top_p = top_ps[(r / 64) % 4];
  }
  device_buffer<TestType> d_logits(logits.stored);
  device_buffer<specdec::sampling_params> d_params(params);
  device_buffer<specdec::random_address> d_addresses(addresses);
  device_buffer<specdec::token_id> d_tokens(rows);
  SPECDEC_CHECK_CUDA(sc::sample_rows(d_logits.data(), static_cast<std::int64_t>(rows), static_cast<std::int32_t>(vocab),
                                     d_params.data(), d_addresses.data(), d_tokens.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  const auto tokens = d_tokens.download();
  specdec::logits_processor processor;
  std::vector<float> processed(vocab);
  std::size_t mismatches = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::span<const float> row(logits.exact.data() + r * vocab, vocab);
    processor.process(row, params[r], processed);
    const specdec::token_id expected = specdec::sample_gumbel_max(processed, addresses[r]);
    if (tokens[r] != expected) {
      ++mismatches;
      const auto score = [&](specdec::token_id t) {
        if (t < 0) return -INFINITY;
        return processed[static_cast<std::size_t>(t)] +
               specdec::gumbel_from_uniform(specdec::uniform_float(addresses[r], static_cast<std::uint32_t>(t)));
      };
      std::printf("sample_rows row %zu: device %d (score %.9g), CPU %d (score %.9g)\n", r, tokens[r],
                  static_cast<double>(score(tokens[r])), expected, static_cast<double>(score(expected)));
    }
  }
  INFO("mismatching rows: " << mismatches << " of " << rows);
  REQUIRE(mismatches <= allowed_mismatches(rows));
}

TEST_CASE("sample_rows samples top-p rows with ties at the boundary and rejects invalid sizes", "[cuda][sampling]") {
  const std::size_t vocab = 64;
  auto logits = random_logits(2, vocab, 5, 1.0f);
  for (std::size_t i = vocab; i < 2 * vocab; ++i) logits[i] = static_cast<float>(i % 4);  // 16-way ties
  std::vector<specdec::sampling_params> params(2);
  params[1].top_p = 0.3f;  // the boundary falls inside the top tie group: kept by index
  device_buffer<float> d_logits(logits);
  device_buffer<specdec::sampling_params> d_params(params);
  device_buffer<specdec::random_address> d_addresses(addresses_for(2, 1));
  device_buffer<specdec::token_id> d_tokens(2);
  SPECDEC_CHECK_CUDA(sc::sample_rows(d_logits.data(), 2, static_cast<std::int32_t>(vocab), d_params.data(),
                                     d_addresses.data(), d_tokens.data()));
  const auto tokens = d_tokens.download();
  const auto addresses = addresses_for(2, 1);
  specdec::logits_processor processor;
  std::vector<float> processed(vocab);
  for (std::size_t r = 0; r < 2; ++r) {
    processor.process(std::span<const float>(logits.data() + r * vocab, vocab), params[r], processed);
    CHECK(tokens[r] == specdec::sample_gumbel_max(processed, addresses[r]));
  }
  CHECK(sc::sample_rows(d_logits.data(), 2, 0, d_params.data(), d_addresses.data(), d_tokens.data()) ==
        cudaErrorInvalidValue);
}

TEST_CASE("sample_weights_rows draws the CPU's exponential-race token", "[cuda][sampling]") {
  const std::size_t vocab = 2053;
  const std::size_t rows = 20000;
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::bernoulli_distribution zero(0.3);
  std::vector<float> weights(rows * vocab);
  for (float& w : weights) w = zero(rng) ? 0.0f : uniform(rng) * uniform(rng);
  for (std::size_t i = 0; i < vocab; ++i) weights[i] = 0.0f;  // row 0: nothing to sample
  const auto addresses = addresses_for(rows, 77);
  device_buffer<float> d_weights(weights);
  device_buffer<specdec::random_address> d_addresses(addresses);
  device_buffer<specdec::token_id> d_tokens(rows);
  SPECDEC_CHECK_CUDA(sc::sample_weights_rows(d_weights.data(), static_cast<std::int64_t>(rows),
                                             static_cast<std::int32_t>(vocab), d_addresses.data(), d_tokens.data()));
  const auto tokens = d_tokens.download();
  REQUIRE(tokens[0] == specdec::no_token);
  std::size_t mismatches = 0;
  for (std::size_t r = 1; r < rows; ++r) {
    const std::span<const float> row(weights.data() + r * vocab, vocab);
    const specdec::token_id expected = specdec::sample_exponential_race(row, addresses[r]);
    if (tokens[r] != expected) {
      ++mismatches;
      std::printf("sample_weights_rows row %zu: device %d, CPU %d\n", r, tokens[r], expected);
    }
  }
  INFO("mismatching rows: " << mismatches << " of " << rows);
  REQUIRE(mismatches <= allowed_mismatches(rows));
}
