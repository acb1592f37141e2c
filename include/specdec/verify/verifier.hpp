//! The concept every verification rule satisfies.
#pragma once

#include <concepts>

#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! A verification policy: `v.verify(input, result)` decides one request's step. Rules hold their own
//! workspace, so one object serves one thread.
template <class V>
concept verifier = requires(V& v, const verify_input& in, verify_result& out) {
  { v.verify(in, out) } -> std::same_as<void>;
};

} // namespace v0
} // namespace specdec
