//! The device side of a `verify_case` for the CUDA verification tests: inputs uploaded, outputs
//! allocated and downloaded, and the comparison with the CPU results (mismatches printed).
#pragma once

#include <specdec/cuda.cuh>

#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/device_buffer.cuh"
#include "cuda/verify_case.hpp"
#include "support/catch.hpp"

namespace specdec::test {

namespace sc = specdec::cuda;


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
inline device_results download(const device_case<T>& d) {
  SPECDEC_CHECK_CUDA(cudaDeviceSynchronize());
  return {d.path.download(), d.accepted.download(), d.emitted.download(), d.out_tokens.download(), d.logprobs.download(),
          d.stopped.download()};
}

// True when request b's device outcome equals the CPU result (logprobs to 1e-3).
inline bool same_outcome(const verify_case& c, const device_results& got, const std::vector<specdec::verify_result>& want,
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

inline void print_outcome(const char* rule, const verify_case& c, const device_results& got,
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
inline std::size_t count_mismatches(const char* rule, const verify_case& c, const device_results& got,
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


} // namespace specdec::test
