//! What a decoder measures: steps, tokens per step, acceptance per depth, the histogram of accepted
//! lengths, and where the time went.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! Statistics of a decoder since construction or the last `reset`. A "request step" is one request's
//! part of one batched target forward; tokens per step (tau) counts emitted tokens per request step.
struct decode_stats {
  std::uint64_t steps = 0;          //!< batched target forwards
  std::uint64_t request_steps = 0;  //!< request steps (one per request per forward)
  std::uint64_t tokens = 0;         //!< tokens emitted (accepted drafts + corrections/bonuses, after truncation)
  std::uint64_t drafted = 0;        //!< draft nodes proposed (tree nodes minus roots)
  std::uint64_t accepted = 0;       //!< draft tokens accepted
  //! Per depth d (index d - 1): request steps whose tree had a draft at depth d below the accepted path
  //! (the verifier judged that depth), and how many of them accepted one.
  std::vector<std::uint64_t> depth_judged;
  std::vector<std::uint64_t> depth_accepted;
  //! `accepted_histogram[a]`: request steps that accepted exactly `a` drafts.
  std::vector<std::uint64_t> accepted_histogram;
  //! Wall time in seconds: drafting, the target forward (with flattening), verification, and the rest
  //! (commits, drafter feedback, bookkeeping).
  double draft_seconds = 0.0;
  double target_seconds = 0.0;
  double verify_seconds = 0.0;
  double bookkeeping_seconds = 0.0;

  //! Mean tokens emitted per request step (tau); 0 before any step.
  [[nodiscard]] double tokens_per_step() const noexcept {
    return request_steps == 0 ? 0.0 : static_cast<double>(tokens) / static_cast<double>(request_steps);
  }
  //! The fraction of judged request steps that accepted a draft at depth `d` (1-based); 0 if none.
  [[nodiscard]] double acceptance_at(index_t d) const noexcept {
    const auto i = static_cast<std::size_t>(d - 1);
    if (d < 1 || i >= depth_judged.size() || depth_judged[i] == 0) return 0.0;
    return static_cast<double>(depth_accepted[i]) / static_cast<double>(depth_judged[i]);
  }
  //! Accepted drafts over proposed drafts; 0 if none were proposed.
  [[nodiscard]] double draft_acceptance() const noexcept {
    return drafted == 0 ? 0.0 : static_cast<double>(accepted) / static_cast<double>(drafted);
  }

  //! Records one request step: the verifier's per-depth flags, the accepted count, the emitted count.
  void record(std::span<const std::uint8_t> judged_depths, index_t accepted_drafts, index_t emitted, index_t draft_nodes) {
    ++request_steps;
    tokens += static_cast<std::uint64_t>(emitted);
    drafted += static_cast<std::uint64_t>(draft_nodes);
    accepted += static_cast<std::uint64_t>(accepted_drafts);
    if (depth_judged.size() < judged_depths.size()) {
      depth_judged.resize(judged_depths.size(), 0);
      depth_accepted.resize(judged_depths.size(), 0);
    }
    for (std::size_t d = 0; d < judged_depths.size(); ++d) {
      ++depth_judged[d];
      depth_accepted[d] += judged_depths[d];
    }
    const auto a = static_cast<std::size_t>(accepted_drafts);
    if (accepted_histogram.size() <= a) accepted_histogram.resize(a + 1, 0);
    ++accepted_histogram[a];
  }

  //! Zeroes every statistic; keeps the vectors' capacity, so a warm decoder stays allocation-free.
  void reset() {
    steps = request_steps = tokens = drafted = accepted = 0;
    depth_judged.clear();
    depth_accepted.clear();
    accepted_histogram.clear();
    draft_seconds = target_seconds = verify_seconds = bookkeeping_seconds = 0.0;
  }
};

} // namespace v0
} // namespace specdec
