//! The deliberate errors of the conformance kit's meta-tests, named once: the exact enumerations of
//! `exact_step.hpp` and the faulty rule policies of the test suite apply them, to prove that the kit's
//! statistics catch each one. No production type takes a fault.
#pragma once

#include <cstdint>

namespace specdec {
inline namespace v0 {
namespace testing {

enum class injected_fault : std::uint8_t {
  none,
  resample_from_target,  //!< after a rejection, sample p instead of the residual
  child_row,             //!< judge a child against the child's own target row instead of its parent's
  skip_renormalisation,  //!< test later children against the unnormalised residual
  reuse_uniform,         //!< draw every accept/reject decision from one uniform
  keep_rejected_child,   //!< (one-hot rule) leave a rejected child's mass in the residual
  subtract_zeroed_q,     //!< (without replacement) subtract q after zeroing the rejected draft, not before
  token_wise_threshold,  //!< (block rule) accept prefixes by h_i = w_i, ignoring the residual mass Z_i
};

} // namespace testing
} // namespace v0
} // namespace specdec
