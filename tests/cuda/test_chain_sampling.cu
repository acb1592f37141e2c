// chain_speculative_sampling (from probabilities, FlashInfer's contract) against the chain rule written
// out on the host with the CPU samplers at the same addresses: identical tokens on at least 99.99% of
// requests, differences printed.
#include <specdec/cuda.cuh>

#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "cuda/verify_case.hpp"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::test::device_buffer;

// Random distributions: softmax of scaled normal logits with some exact zeros.
std::vector<float> random_probs(std::size_t rows, std::size_t vocab, std::mt19937_64& rng, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::bernoulli_distribution zero(0.05);
  std::vector<float> probs(rows * vocab);
  for (std::size_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (std::size_t i = 0; i < vocab; ++i) {
      const float w = zero(rng) && i > 0 ? 0.0f : std::exp(normal(rng));
      probs[r * vocab + i] = w;
      sum += w;
    }
    for (std::size_t i = 0; i < vocab; ++i) probs[r * vocab + i] = static_cast<float>(probs[r * vocab + i] / sum);
  }
  return probs;
}

// The chain rule on the host, with the CPU samplers: the specification of the kernel.
std::vector<specdec::token_id> host_chain(const float* q, const specdec::token_id* drafts, const float* p, std::int32_t k,
                                          std::size_t vocab, const specdec::random_address& address) {
  std::vector<specdec::token_id> out(static_cast<std::size_t>(k) + 1, specdec::no_token);
  std::int32_t i = 0;
  for (; i < k; ++i) {
    const specdec::token_id x = drafts[i];
    const float qx = q[static_cast<std::size_t>(i) * vocab + static_cast<std::size_t>(x)];
    const float px = p[static_cast<std::size_t>(i) * vocab + static_cast<std::size_t>(x)];
    const double u = specdec::uniform_double(address.at(static_cast<std::uint32_t>(i + 1), specdec::purpose::accept));
    if (!(qx > 0.0f && u * static_cast<double>(qx) <= static_cast<double>(px))) break;
    out[static_cast<std::size_t>(i)] = x;
  }
  const std::span<const float> p_row(p + static_cast<std::size_t>(i) * vocab, vocab);
  if (i == k) {
    out[static_cast<std::size_t>(k)] =
        specdec::sample_exponential_race(p_row, address.at(static_cast<std::uint32_t>(k), specdec::purpose::bonus));
    return out;
  }
  std::vector<float> residual(vocab);
  bool any = false;
  for (std::size_t t = 0; t < vocab; ++t) {
    residual[t] = std::max(0.0f, p_row[t] - q[static_cast<std::size_t>(i) * vocab + t]);
    any = any || residual[t] > 0.0f;
  }
  if (!any) {
    residual.assign(p_row.begin(), p_row.end());
    residual[static_cast<std::size_t>(drafts[i])] = 0.0f;
  }
  out[static_cast<std::size_t>(i)] =
      specdec::sample_exponential_race(residual, address.at(static_cast<std::uint32_t>(i), specdec::purpose::residual));
  return out;
}

}  // namespace

TEST_CASE("chain_speculative_sampling draws the chain rule's tokens from probabilities", "[cuda][verify]") {
  const std::size_t batch = specdec::test::test_cases(10000);
  const std::int32_t k = 5;
  const std::size_t vocab = 301;
  std::mt19937_64 rng(43);
  const auto q = random_probs(batch * static_cast<std::size_t>(k), vocab, rng, 1.5f);
  const auto p = random_probs(batch * static_cast<std::size_t>(k + 1), vocab, rng, 1.5f);
  std::vector<specdec::token_id> drafts(batch * static_cast<std::size_t>(k));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (std::size_t r = 0; r < drafts.size(); ++r) {  // draft r drawn from its q row by inversion
    double u = unit(rng);
    std::size_t t = 0;
    while (t + 1 < vocab && (u -= q[r * vocab + t]) > 0.0) ++t;
    drafts[r] = static_cast<specdec::token_id>(t);
  }
  std::vector<specdec::random_address> addresses(batch);
  for (std::size_t b = 0; b < batch; ++b) {
    addresses[b] = specdec::random_address{0xc0ffee + b, static_cast<std::uint32_t>(b), 9, 0, specdec::purpose::accept};
  }
  device_buffer<float> d_q(q), d_p(p);
  device_buffer<specdec::token_id> d_drafts(drafts), d_out(batch * static_cast<std::size_t>(k + 1));
  device_buffer<specdec::random_address> d_addresses(addresses);
  device_buffer<std::int32_t> d_accepted(batch), d_emitted(batch);
  SPECDEC_CHECK_CUDA(sc::chain_speculative_sampling(d_q.data(), d_drafts.data(), d_p.data(), static_cast<std::int64_t>(batch),
                                                    k, static_cast<std::int32_t>(vocab), d_addresses.data(), d_out.data(),
                                                    d_accepted.data(), d_emitted.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  const auto out = d_out.download();
  const auto accepted = d_accepted.download();
  const auto emitted = d_emitted.download();
  std::size_t mismatches = 0;
  std::size_t total_accepted = 0;
  for (std::size_t b = 0; b < batch; ++b) {
    const auto want = host_chain(q.data() + b * static_cast<std::size_t>(k) * vocab, drafts.data() + b * static_cast<std::size_t>(k),
                                 p.data() + b * static_cast<std::size_t>(k + 1) * vocab, k, vocab, addresses[b]);
    std::int32_t want_accepted = 0;
    while (want_accepted < k && want[static_cast<std::size_t>(want_accepted) + 1] != specdec::no_token) ++want_accepted;
    total_accepted += static_cast<std::size_t>(want_accepted);
    const std::vector<specdec::token_id> got(out.begin() + static_cast<std::ptrdiff_t>(b) * (k + 1),
                                             out.begin() + static_cast<std::ptrdiff_t>(b + 1) * (k + 1));
    if (got != want || accepted[b] != want_accepted || emitted[b] != want_accepted + 1) {
      ++mismatches;
      std::printf("chain request %zu: device accepted %d final %d; host accepted %d final %d\n", b, accepted[b],
                  got[static_cast<std::size_t>(std::max(accepted[b], 0))], want_accepted,
                  want[static_cast<std::size_t>(want_accepted)]);
    }
  }
  INFO("accepted drafts: " << total_accepted << "; mismatching requests: " << mismatches << " of " << batch);
  CHECK(total_accepted > batch / 4);
  REQUIRE(mismatches <= batch / 10000);
}

TEST_CASE("chain_speculative_sampling rejects invalid arguments", "[cuda][verify]") {
  device_buffer<float> p(std::vector<float>(8, 0.125f));
  device_buffer<specdec::token_id> out(2);
  device_buffer<std::int32_t> accepted(1);
  device_buffer<specdec::random_address> addresses(std::vector<specdec::random_address>(1));
  CHECK(sc::chain_speculative_sampling(nullptr, nullptr, p.data(), 1, 1, 4, addresses.data(), out.data(), accepted.data()) ==
        cudaErrorInvalidValue);
  CHECK(sc::chain_speculative_sampling(nullptr, nullptr, p.data(), 1, 0, 0, addresses.data(), out.data(), accepted.data()) ==
        cudaErrorInvalidValue);
  // k = 0: no drafts, only the bonus from row 0.
  SPECDEC_CHECK_CUDA(sc::chain_speculative_sampling(nullptr, nullptr, p.data(), 1, 0, 8, addresses.data(), out.data(),
                                                    accepted.data()));
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  CHECK(accepted.download()[0] == 0);
}
