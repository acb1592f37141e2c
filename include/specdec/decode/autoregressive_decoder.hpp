//! The baseline: plain autoregressive decoding with the same interface as `speculative_decoder`.
#pragma once

#include <span>
#include <utility>
#include <vector>

#include "specdec/backend/target_model.hpp"
#include "specdec/decode/speculative_decoder.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/verify/one_hot_verifier.hpp"

namespace specdec {
inline namespace v0 {

//! The drafter that proposes nothing: every tree is the root alone.
struct no_drafter {
  static constexpr draft_scheme scheme = draft_scheme::deterministic;
  void draft(const draft_context&, draft_tree&) const noexcept {}
};
static_assert(drafter<no_drafter>);

//! One target forward per token: the request's root alone is evaluated, and the token is sampled from
//! the processed target distribution at the address (seed, request, step, node 0, `bonus`) -- greedy at
//! temperature 0 -- exactly the sampling every verifier applies after its last accepted node. The
//! interface, statistics and limits are `speculative_decoder`'s, so the two compare like for like.
template <target_model Target>
class autoregressive_decoder {
public:
  explicit autoregressive_decoder(Target& target) : decoder_(target, drafter_, verifier_, no_speculation()) {}

  void add_request(request_id request, std::span<const token_id> prompt, request_options options) {
    decoder_.add_request(request, prompt, std::move(options));
  }
  index_t step() { return decoder_.step(); }
  void run() { decoder_.run(); }
  [[nodiscard]] std::span<const token_id> tokens(request_id request) const { return decoder_.tokens(request); }
  [[nodiscard]] finish_reason status(request_id request) const { return decoder_.status(request); }
  void release(request_id request) { decoder_.release(request); }
  std::vector<token_id> generate(std::span<const token_id> prompt, request_options options, request_id request = 0) {
    return decoder_.generate(prompt, std::move(options), request);
  }
  [[nodiscard]] const decode_stats& stats() const noexcept { return decoder_.stats(); }
  void reset_stats() { decoder_.reset_stats(); }

private:
  static speculation_options no_speculation() {
    speculation_options o;
    o.max_depth = 0;
    o.min_depth = 0;
    o.max_nodes = 1;
    return o;
  }

  no_drafter drafter_;
  one_hot_verifier verifier_;
  speculative_decoder<Target, no_drafter, one_hot_verifier> decoder_;
};

} // namespace v0
} // namespace specdec
