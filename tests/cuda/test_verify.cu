// Tree verification kernels against the CPU verifiers on random ragged batches with the same keys:
// greedy exactly (float and bfloat16, whose rows are full of ties); the one-hot and chain rules on at
// least 99.99% of requests, any difference printed (float near-ties). Also: CUDA graph capture of a
// verify step replayed with new seeds from device memory, and argument errors.
#include <specdec/cuda.cuh>

#include <cstdio>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "cuda/verify_case.hpp"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::test::device_buffer;
using specdec::test::verify_case;

// A verify_case in device memory, with room for the outputs.
template <class T>
struct device_case {
  explicit device_case(const verify_case& c)
      : batch(c.batch()), offsets(c.offsets), tokens(c.tokens), parents(c.parents), depths(c.depths),
        logits(specdec::test::make_typed<T>(c.logits).stored), q(c.q), params(c.params), addresses(c.addresses),
        stop_offsets(c.stop_offsets), stop_tokens(c.stop_tokens), path(c.total()), out_tokens(c.total()),
        logprobs(c.total()), accepted(c.batch()), emitted(c.batch()), stopped(c.batch()) {}

  [[nodiscard]] specdec::token_tree_batch_view trees() const {
    return {specdec::ragged_offsets(offsets.data(), static_cast<specdec::index_t>(batch + 1)), tokens.data(),
            parents.data(), depths.data()};
  }
  [[nodiscard]] sc::verify_outputs outputs() const {
    return {path.data(), out_tokens.data(), logprobs.data(), accepted.data(), emitted.data(), stopped.data()};
  }
  [[nodiscard]] sc::stop_token_lists stops() const { return {stop_offsets.data(), stop_tokens.data()}; }

  std::size_t batch;
  device_buffer<std::int32_t> offsets;
  device_buffer<specdec::token_id> tokens;
  device_buffer<std::int32_t> parents, depths;
  device_buffer<T> logits;
  device_buffer<float> q;
  device_buffer<specdec::sampling_params> params;
  device_buffer<specdec::random_address> addresses;
  device_buffer<std::int32_t> stop_offsets;
  device_buffer<specdec::token_id> stop_tokens;
  device_buffer<std::int32_t> path;
  device_buffer<specdec::token_id> out_tokens;
  device_buffer<float> logprobs;
  device_buffer<std::int32_t> accepted, emitted;
  device_buffer<std::uint8_t> stopped;
};

// The kernel's outcome for every request, downloaded.
struct device_results {
  std::vector<std::int32_t> path, accepted, emitted;
  std::vector<specdec::token_id> tokens;
  std::vector<float> logprobs;
  std::vector<std::uint8_t> stopped;
};

template <class T>
device_results download(const device_case<T>& d) {
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  return {d.path.download(), d.accepted.download(), d.emitted.download(), d.out_tokens.download(), d.logprobs.download(),
          d.stopped.download()};
}

// True when request b's device outcome equals the CPU result (logprobs to 1e-3).
bool same_outcome(const verify_case& c, const device_results& got, const std::vector<specdec::verify_result>& want,
                  std::size_t b) {
  const auto first = static_cast<std::size_t>(c.offsets[b]);
  const specdec::verify_result& r = want[b];
  if (got.accepted[b] != r.accepted() || got.emitted[b] != static_cast<std::int32_t>(r.tokens.size()) ||
      (got.stopped[b] != 0) != r.stopped) {
    return false;
  }
  for (std::size_t d = 0; d < r.path.size(); ++d) {
    if (got.path[first + d] != r.path[d]) return false;
  }
  for (std::size_t j = 0; j < r.tokens.size(); ++j) {
    if (got.tokens[first + j] != r.tokens[j]) return false;
    if (!(std::abs(got.logprobs[first + j] - r.logprobs[j]) <= 1e-3f + 1e-5f * std::abs(r.logprobs[j]))) return false;
  }
  return true;
}

void print_outcome(const char* rule, const verify_case& c, const device_results& got,
                   const std::vector<specdec::verify_result>& want, std::size_t b) {
  const auto first = static_cast<std::size_t>(c.offsets[b]);
  std::printf("%s request %zu (T=%g top_k=%d min_p=%g): device accepted %d emitted %d stopped %d tokens", rule, b,
              static_cast<double>(c.params[b].temperature), c.params[b].top_k, static_cast<double>(c.params[b].min_p),
              got.accepted[b], got.emitted[b], got.stopped[b]);
  for (std::int32_t j = 0; j < got.emitted[b]; ++j) std::printf(" %d", got.tokens[first + static_cast<std::size_t>(j)]);
  std::printf("; CPU accepted %lld emitted %zu stopped %d tokens", static_cast<long long>(want[b].accepted()),
              want[b].tokens.size(), want[b].stopped ? 1 : 0);
  for (const specdec::token_id t : want[b].tokens) std::printf(" %d", t);
  std::printf("\n");
}

// Counts (and prints) the requests whose outcome differs.
std::size_t count_mismatches(const char* rule, const verify_case& c, const device_results& got,
                             const std::vector<specdec::verify_result>& want) {
  std::size_t mismatches = 0;
  for (std::size_t b = 0; b < c.batch(); ++b) {
    if (!same_outcome(c, got, want, b)) {
      ++mismatches;
      print_outcome(rule, c, got, want, b);
    }
  }
  return mismatches;
}

}  // namespace

TEMPLATE_TEST_CASE("verify_greedy equals greedy_verifier on random trees", "[cuda][verify]", float, __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(400);
  o.vocab = 1031;
  o.max_nodes = 24;
  o.seed = 3;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_greedy(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::greedy_verifier rule;
  const auto want = c.reference(rule);
  REQUIRE(count_mismatches("greedy", c, got, want) == 0);
}

TEMPLATE_TEST_CASE("verify_one_hot draws the one_hot_verifier's path and tokens", "[cuda][verify]", float, __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(std::is_same_v<TestType, float> ? 10000 : 2000);
  o.sampling = true;
  o.seed = 5;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;
  device_case<TestType> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_one_hot(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.params.data(),
                                        d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::one_hot_verifier rule;
  const auto want = c.reference(rule);
  std::size_t accepted = 0;
  for (const auto& r : want) accepted += static_cast<std::size_t>(r.accepted());
  INFO("accepted drafts in all: " << accepted);
  CHECK(accepted > c.batch() / 2);  // the batch exercises acceptance, not only rejection
  const std::size_t mismatches = count_mismatches("one-hot", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEST_CASE("verify_chain draws the chain_verifier's path and tokens from logits and q", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.chains = true;
  o.max_nodes = 8;
  o.seed = 7;
  const verify_case c = specdec::test::make_verify_case(o);
  device_case<float> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_chain(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                      d.params.data(), d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::chain_verifier rule;
  const auto want = c.reference(rule);
  const std::size_t mismatches = count_mismatches("chain", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEST_CASE("verify_multi_draft draws the multi_draft_verifier's path and tokens", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.with_q = true;
  o.seed = 19;
  const verify_case c = specdec::test::make_verify_case(o);
  device_case<float> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_multi_draft(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                            d.params.data(), d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::multi_draft_verifier rule;
  const auto want = c.reference(rule);
  const std::size_t mismatches = count_mismatches("multi-draft", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEST_CASE("verify_rrs draws the rrs_verifier's path and tokens", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.with_q = true;
  o.distinct_siblings = true;
  o.seed = 23;
  const verify_case c = specdec::test::make_verify_case(o);
  device_case<float> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_rrs(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                    d.params.data(), d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::rrs_verifier rule;
  const auto want = c.reference(rule);
  const std::size_t mismatches = count_mismatches("rrs", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEST_CASE("a verify step captured in a CUDA graph replays with new seeds and steps from device memory", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = 48;
  o.sampling = true;
  o.seed = 11;
  verify_case c = specdec::test::make_verify_case(o);
  device_case<float> d(c);
  cudaStream_t stream = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const cudaError_t launched = sc::verify_one_hot(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab),
                                                  d.params.data(), d.addresses.data(), d.outputs(), d.stops(), stream);
  SPECDEC_CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  SPECDEC_CHECK_CUDA(launched);
  cudaGraphExec_t exec = nullptr;
  SPECDEC_CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  specdec::one_hot_verifier rule;
  for (std::uint32_t step = 0; step < 3; ++step) {
    for (auto& a : c.addresses) {
      a.step = step;
      a.seed += 1;
    }
    d.addresses.upload(c.addresses);  // new keys in device memory; the graph is unchanged
    SPECDEC_CHECK_CUDA(cudaGraphLaunch(exec, stream));
    SPECDEC_CHECK_CUDA(cudaStreamSynchronize(stream));
    const device_results got = download(d);
    const auto want = c.reference(rule);
    INFO("replay " << step);
    REQUIRE(count_mismatches("graph one-hot", c, got, want) == 0);
  }
  SPECDEC_CHECK_CUDA(cudaGraphExecDestroy(exec));
  SPECDEC_CHECK_CUDA(cudaGraphDestroy(graph));
  SPECDEC_CHECK_CUDA(cudaStreamDestroy(stream));
}

TEST_CASE("verification launchers reject missing arguments and flag top-p requests", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = 4;
  o.sampling = true;
  o.seed = 13;
  verify_case c = specdec::test::make_verify_case(o);
  c.params[2].temperature = 1.0f;
  c.params[2].top_p = 0.9f;
  device_case<float> d(c);
  sc::verify_outputs missing = d.outputs();
  missing.accepted = nullptr;
  CHECK(sc::verify_greedy(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), missing) == cudaErrorInvalidValue);
  CHECK(sc::verify_one_hot(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), nullptr, d.addresses.data(),
                           d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_chain(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), nullptr, d.params.data(),
                         d.addresses.data(), d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_greedy(d.trees(), d.logits.data(), 0, d.outputs()) == cudaErrorInvalidValue);
  SPECDEC_CHECK_CUDA(sc::verify_one_hot(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.params.data(),
                                        d.addresses.data(), d.outputs()));
  const device_results got = download(d);
  CHECK(got.accepted[2] == -1);
  CHECK(got.accepted[1] >= 0);
}
