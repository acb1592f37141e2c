//! Shared helpers of the libFuzzer harnesses: a contract check that aborts with a message (so the
//! fuzzer records the input), and the one exception type an API may throw on bad input.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <specdec/core/error.hpp>

//! Aborts with `what` when a documented invariant fails: libFuzzer saves the input as a crash.
#define FUZZ_REQUIRE(condition, what)                                                   \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "contract violated: %s (%s:%d)\n", what, __FILE__, __LINE__); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

//! Runs `call`; returns true when it completed, false when it threw `specdec::invalid_argument`.
//! Any other exception escapes, and libFuzzer reports it as a crash.
template <class F>
bool completes(F&& call) {
  try {
    call();
    return true;
  } catch (const specdec::invalid_argument&) {
    return false;
  }
}
