// verify_typical_acceptance (lossy, Medusa) against lossy_typical_acceptance_verifier on random ragged
// batches with the same keys, float and bfloat16 logits: identical paths and tokens on at least 99.99%
// of requests, differences printed (float near-ties of the thresholds, entropies and path scores).
#include <specdec/cuda.cuh>

#include <vector>

#include "cuda/device_case.cuh"
#include "support/catch.hpp"

namespace {

namespace sc = specdec::cuda;
using specdec::test::device_case;
using specdec::test::verify_case;

}  // namespace

TEMPLATE_TEST_CASE("verify_typical_acceptance keeps the CPU's path and bonus", "[cuda][verify]", float, __nv_bfloat16) {
  specdec::test::case_options o;
  o.requests = specdec::test::test_cases(10000);
  o.sampling = true;
  o.seed = 29;
  verify_case c = specdec::test::make_verify_case(o);
  c.logits = specdec::test::make_typed<TestType>(c.logits).exact;  // what the kernel reads
  device_case<TestType> d(c);
  specdec::typical_acceptance_params thresholds;
  thresholds.epsilon = 0.05f;
  thresholds.delta = 0.3f;
  SPECDEC_CHECK_CUDA(sc::verify_typical_acceptance(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab),
                                                   d.params.data(), d.addresses.data(), thresholds, d.outputs(), d.stops()));
  const auto got = specdec::test::download(d);
  specdec::lossy_typical_acceptance_verifier rule(thresholds);
  const auto want = c.reference(rule);
  std::size_t accepted = 0;
  for (const auto& r : want) accepted += static_cast<std::size_t>(r.accepted());
  INFO("accepted drafts in all: " << accepted);
  CHECK(accepted > c.batch() / 2);
  const std::size_t mismatches = specdec::test::count_mismatches("typical", c, got, want);
  INFO("mismatching requests: " << mismatches << " of " << c.batch());
  REQUIRE(mismatches <= c.batch() / 10000);

  thresholds.epsilon = 0.0f;  // invalid
  CHECK(sc::verify_typical_acceptance(d.trees(), d.logits.data(), static_cast<std::int32_t>(c.vocab), d.params.data(),
                                      d.addresses.data(), thresholds, d.outputs()) == cudaErrorInvalidValue);
}
