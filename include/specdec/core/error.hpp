//! The library's exception types and the checked-precondition helper every host API uses.
#pragma once

#include <concepts>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace specdec {
inline namespace v0 {

//! Thrown when a host API is called with an argument that violates its documented precondition.
//! The message names the argument, the offending value and the requirement, e.g.
//! `specdec: top_p = 1.5 violates 0 < top_p <= 1 (1 disables top-p)`.
class invalid_argument : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

//! Thrown when a well-formed call cannot complete (a numerical state that the inputs did not rule out).
class runtime_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class T>
void append_value(std::ostringstream& out, const T& value) {
  if constexpr (std::same_as<T, bool>) {
    out << (value ? "true" : "false");
  } else if constexpr (std::same_as<T, signed char> || std::same_as<T, unsigned char> ||
                       std::same_as<T, char>) {
    out << static_cast<int>(value);  // print bytes as numbers, not characters
  } else {
    out << value;
  }
}

// Kept out of line of the callers' fast paths: only a failed check pays for formatting.
template <class T>
[[noreturn, gnu::cold, gnu::noinline]] void throw_invalid_argument(std::string_view argument,
                                                                     const T& value,
                                                                     std::string_view requirement) {
  std::ostringstream out;
  out.precision(9);
  out << "specdec: " << argument << " = ";
  append_value(out, value);
  out << " violates " << requirement;
  throw specdec::invalid_argument(out.str());
}

template <class Index, class T>
[[noreturn, gnu::cold, gnu::noinline]] void throw_invalid_element(std::string_view argument,
                                                                    const Index& index, const T& value,
                                                                    std::string_view requirement) {
  std::ostringstream name;
  name << argument << '[' << index << ']';
  throw_invalid_argument(name.str(), value, requirement);
}

//! Runs `f()`; a `specdec::invalid_argument` it throws is rethrown with "in <what>[<index>]: " in
//! front, so that an error inside a batch names the request or tree it came from.
template <class Index, class F>
decltype(auto) in_element(std::string_view what, Index index, F&& f) {
  try {
    return f();
  } catch (const specdec::invalid_argument& e) {
    std::ostringstream message;
    message << "in " << what << '[' << index << "]: " << e.what();
    throw specdec::invalid_argument(message.str());
  }
}

} // namespace detail

//! Checks a precondition of a host API. When `condition` is false, throws `specdec::invalid_argument`
//! whose message names `argument`, prints `value` and states `requirement`:
//!
//!     expects(k != 0, "top_k", k, "top_k != 0 (use top_k_off to disable top-k)");
//!
//! Formatting happens only on failure, so a passing check costs one branch; `value` is any streamable
//! type.
template <class T>
constexpr void expects(bool condition, std::string_view argument, const T& value,
                       std::string_view requirement) {
  if (!condition) [[unlikely]] {
    detail::throw_invalid_argument(argument, value, requirement);
  }
}

//! `expects` for one element of an array argument: the message names it as `argument[index]`, e.g.
//! `specdec: logits[17] = nan violates finite or -inf logits`.
template <class Index, class T>
constexpr void expects_element(bool condition, std::string_view argument, const Index& index,
                               const T& value, std::string_view requirement) {
  if (!condition) [[unlikely]] {
    detail::throw_invalid_element(argument, index, value, requirement);
  }
}

} // namespace v0
} // namespace specdec
