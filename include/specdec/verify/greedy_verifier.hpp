//! Greedy verification (temperature 0) of any token tree.
#pragma once

#include "specdec/verify/detail/verify_workspace.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! Accepts the longest path whose every token equals the target argmax at its parent (ties to the
//! lowest token id), trying children in rank order, and emits the argmax at the last accepted node as
//! the bonus or correction. The output is token-for-token identical to greedy autoregressive
//! decoding of the target. Works on any tree, duplicate siblings included; reads no q and draws no
//! random numbers; ignores every sampling parameter but the stop tokens (top-k/top-p/min-p never
//! change the argmax). Cost: one argmax and one logsumexp per accepted draft plus one.
class greedy_verifier {
public:
  void verify(const verify_input& in, verify_result& out) {
    ws_.begin(in, duplicate_siblings::allowed, /*needs_q=*/false, out);
    detail::greedy_walk(in, ws_, out);
  }

private:
  detail::verify_workspace ws_;
};

static_assert(verifier<greedy_verifier>);

} // namespace v0
} // namespace specdec
