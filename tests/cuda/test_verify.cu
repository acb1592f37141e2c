// Tree verification kernels against the CPU verifiers on random ragged batches with the same keys:
// greedy exactly (float, bfloat16 and half, whose rows are full of ties; one block per request and
// split over several); the one-hot, chain, multi-draft, rrs and block rules (float and bfloat16
// logits, one-hot also half) on at least 99.99% of requests, any difference printed (float
// near-ties). Also: CUDA graph capture of a verify step replayed with new seeds from device memory,
// and argument errors.
#include <specdec/cuda.cuh>

#include <cstdio>
#include <vector>

#include "cuda/device_case.cuh"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::test::count_mismatches;
using specdec::test::device_buffer;
using specdec::test::device_case;
using specdec::test::device_results;
using specdec::test::download;
using specdec::test::verify_case;

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

TEMPLATE_TEST_CASE("verify_greedy_split equals greedy_verifier with several blocks per request", "[cuda][verify]", float,
                   __nv_bfloat16, __half) {
  int device = 0;
  int clusters = 0;
  SPECDEC_CHECK_CUDA(cudaGetDevice(&device));
  SPECDEC_CHECK_CUDA(cudaDeviceGetAttribute(&clusters, cudaDevAttrClusterLaunch, device));
  // 20011 is not a multiple of the vector width (rows after the first are misaligned: scalar loads, and
  // slices that end mid-vector); 16384 gives aligned rows and slices.
  const std::size_t vocab = GENERATE(std::size_t{20011}, std::size_t{16384});
  const std::int32_t blocks = GENERATE(0, 1, 2, 3, 8);  // 0: chosen from the batch and the SM count
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(120);
  o.vocab = vocab;
  o.max_nodes = 12;
  o.seed = 41;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
  const cudaError_t status =
      sc::verify_greedy_split(d.trees(), d.logits.data(), static_cast<std::int32_t>(vocab), d.outputs(), d.stops(), blocks);
  if (clusters == 0 && blocks > 1) {
    REQUIRE(status == cudaErrorNotSupported);
    return;
  }
  SPECDEC_CHECK_CUDA(status);
  const device_results got = download(d);
  specdec::greedy_verifier rule;
  const auto want = c.reference(rule);
  INFO("vocab " << vocab << ", blocks per request " << blocks);
  REQUIRE(count_mismatches("greedy split", c, got, want) == 0);
  CHECK(sc::verify_greedy_split(d.trees(), d.logits.data(), static_cast<std::int32_t>(vocab), d.outputs(), d.stops(), 9) ==
        cudaErrorInvalidValue);
  STATIC_REQUIRE(sc::split_blocks_for(64, 128256, 132) == 4);
  STATIC_REQUIRE(sc::split_blocks_for(1, 128256, 132) == 8);
  STATIC_REQUIRE(sc::split_blocks_for(1, 8192, 132) == 2);
  STATIC_REQUIRE(sc::split_blocks_for(256, 128256, 132) == 1);
}

TEMPLATE_TEST_CASE("verify_one_hot draws the one_hot_verifier's path and tokens", "[cuda][verify]", float, __nv_bfloat16,
                   __half) {
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

TEMPLATE_TEST_CASE("verify_chain draws the chain_verifier's path and tokens from logits and q", "[cuda][verify]", float,
                   __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.chains = true;
  o.max_nodes = 8;
  o.seed = 7;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_chain(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                      d.params.data(), d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::chain_verifier rule;
  const auto want = c.reference(rule);
  const std::size_t mismatches = count_mismatches("chain", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEMPLATE_TEST_CASE("verify_block draws the block_verifier's path and tokens from logits and q", "[cuda][verify]", float,
                   __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.chains = true;
  o.max_nodes = 8;
  o.seed = 29;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_block(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                      d.params.data(), d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::block_verifier rule;
  const auto want = c.reference(rule);
  std::size_t accepted = 0;
  std::size_t full = 0;  // requests whose every draft was accepted (the bonus path)
  for (std::size_t b = 0; b < c.batch(); ++b) {
    accepted += static_cast<std::size_t>(want[b].accepted());
    const auto drafts = static_cast<std::int64_t>(c.offsets[b + 1] - c.offsets[b]) - 1;
    if (static_cast<std::int64_t>(want[b].accepted()) == drafts) ++full;
  }
  INFO("accepted drafts in all: " << accepted << ", fully accepted chains: " << full);
  CHECK(accepted > c.batch() / 2);  // the batch exercises acceptance, correction and bonus
  CHECK(full > c.batch() / 20);
  CHECK(full < c.batch());
  const std::size_t mismatches = count_mismatches("block", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEST_CASE("verify_block captured in a CUDA graph replays with new seeds from device memory", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = 64;
  o.sampling = true;
  o.chains = true;
  o.max_nodes = 8;
  o.seed = 31;
  verify_case c = specdec::test::make_verify_case(o);
  device_case<float> d(c);
  cudaStream_t stream = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const cudaError_t launched = sc::verify_block(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                                d.params.data(), d.addresses.data(), d.outputs(), d.stops(), stream);
  SPECDEC_CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  SPECDEC_CHECK_CUDA(launched);
  cudaGraphExec_t exec = nullptr;
  SPECDEC_CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  specdec::block_verifier rule;
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
    REQUIRE(count_mismatches("graph block", c, got, want) <= 1);  // a float near-tie at most
  }
  SPECDEC_CHECK_CUDA(cudaGraphExecDestroy(exec));
  SPECDEC_CHECK_CUDA(cudaGraphDestroy(graph));
  SPECDEC_CHECK_CUDA(cudaStreamDestroy(stream));
}

TEMPLATE_TEST_CASE("verify_multi_draft draws the multi_draft_verifier's path and tokens", "[cuda][verify]", float,
                   __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.with_q = true;
  o.seed = 19;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
  SPECDEC_CHECK_CUDA(sc::verify_multi_draft(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(),
                                            d.params.data(), d.addresses.data(), d.outputs(), d.stops()));
  const device_results got = download(d);
  specdec::multi_draft_verifier rule;
  const auto want = c.reference(rule);
  const std::size_t mismatches = count_mismatches("multi-draft", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);
}

TEMPLATE_TEST_CASE("verify_rrs draws the rrs_verifier's path and tokens", "[cuda][verify]", float, __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.with_q = true;
  o.distinct_siblings = true;
  o.seed = 23;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
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
  // The step: verify, then compact a contiguous KV cache [B][capacity][4] with the accepted paths, both
  // reading each other's device arrays only.
  const std::int64_t capacity = 64;
  const std::int64_t inner = 4;
  sc::kv_layout layout;
  layout.seq_stride = inner;
  layout.inner_size = inner;
  layout.outer_stride = capacity * inner;
  layout.batch_stride = capacity * inner;
  std::vector<float> initial_cache(c.batch() * static_cast<std::size_t>(layout.batch_stride));
  for (std::size_t i = 0; i < initial_cache.size(); ++i) initial_cache[i] = static_cast<float>(i);
  std::vector<std::int32_t> contexts(c.batch());
  for (std::size_t b = 0; b < c.batch(); ++b) contexts[b] = static_cast<std::int32_t>(b % 32);
  device_buffer<float> cache(initial_cache);
  device_buffer<std::int32_t> d_contexts(contexts);
  const sc::accepted_paths paths{d.offsets.data(), d.path.data(), d.accepted.data(), d_contexts.data()};
  cudaStream_t stream = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  SPECDEC_CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const cudaError_t launched = sc::verify_one_hot(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab),
                                                  d.params.data(), d.addresses.data(), d.outputs(), d.stops(), stream);
  const cudaError_t compacted = sc::compact_kv_cache(cache.data(), layout, paths, static_cast<std::int64_t>(c.batch()), stream);
  SPECDEC_CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
  SPECDEC_CHECK_CUDA(launched);
  SPECDEC_CHECK_CUDA(compacted);
  cudaGraphExec_t exec = nullptr;
  SPECDEC_CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  specdec::one_hot_verifier rule;
  for (std::uint32_t step = 0; step < 3; ++step) {
    for (auto& a : c.addresses) {
      a.step = step;
      a.seed += 1;
    }
    d.addresses.upload(c.addresses);  // new keys in device memory; the graph is unchanged
    cache.upload(initial_cache);
    SPECDEC_CHECK_CUDA(cudaGraphLaunch(exec, stream));
    SPECDEC_CHECK_CUDA(cudaStreamSynchronize(stream));
    const device_results got = download(d);
    const auto want = c.reference(rule);
    INFO("replay " << step);
    REQUIRE(count_mismatches("graph one-hot", c, got, want) == 0);
    // The CPU commit of the CPU's paths: keep_list + apply_keep_list per request.
    std::vector<float> want_cache = initial_cache;
    for (std::size_t b = 0; b < c.batch(); ++b) {
      const std::vector<std::int32_t> drafts(want[b].path.begin() + 1, want[b].path.end());
      std::vector<specdec::kv_move> moves(drafts.size());
      moves.resize(static_cast<std::size_t>(
          specdec::keep_list(c.trees().tree(static_cast<specdec::index_t>(b)), drafts, contexts[b], moves)));
      const specdec::strided_kv_cache<float> view(want_cache.data() + b * static_cast<std::size_t>(layout.batch_stride),
                                                  capacity, inner, {{inner, 1}});
      specdec::apply_keep_list<float>(moves, view);
    }
    REQUIRE(cache.download() == want_cache);
  }
  SPECDEC_CHECK_CUDA(cudaGraphExecDestroy(exec));
  SPECDEC_CHECK_CUDA(cudaGraphDestroy(graph));
  SPECDEC_CHECK_CUDA(cudaStreamDestroy(stream));
}

TEST_CASE("verification launchers reject missing arguments", "[cuda][verify]") {
  specdec::test::case_options o;
  o.requests = 4;
  o.sampling = true;
  o.seed = 13;
  const verify_case c = specdec::test::make_verify_case(o);
  device_case<float> d(c);
  sc::verify_outputs missing = d.outputs();
  missing.accepted = nullptr;
  CHECK(sc::verify_greedy(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), missing) == cudaErrorInvalidValue);
  CHECK(sc::verify_one_hot(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), nullptr, d.addresses.data(),
                           d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_chain(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), nullptr, d.params.data(),
                         d.addresses.data(), d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_greedy(d.trees(), d.logits.data(), 0, d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_block(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), nullptr, d.params.data(),
                         d.addresses.data(), d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_block(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.q.data(), d.params.data(),
                         nullptr, d.outputs()) == cudaErrorInvalidValue);
  CHECK(sc::verify_multi_draft(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), nullptr, d.params.data(),
                               d.addresses.data(), d.outputs()) == cudaErrorInvalidValue);
}
