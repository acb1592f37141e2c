//! How a drafter chose the children of a node: the fact that decides which verification rules stay
//! lossless for its trees.
#pragma once

#include <cstdint>

namespace specdec {
inline namespace v0 {

//! How a drafter drew the children of each tree node. A verification rule is lossless only for some
//! schemes (each rule's `lossless_for`), and `speculative_decoder` refuses to compile a pairing that is
//! not lossless unless the user opts in (`unchecked_composition`).
enum class draft_scheme : std::uint8_t {
  //! Children chosen deterministically (argmax chains, top-k, n-gram and suffix lookups, Medusa heads).
  //! There is no q: the one-hot rule, greedy and typical acceptance apply.
  deterministic,
  //! A chain whose every token was sampled from the draft distribution q of its parent (one child per
  //! node, so "with" and "without replacement" coincide). q is handed to the verifier.
  sampled_chain,
  //! The children of a node drawn i.i.d. from that node's q (SpecInfer); duplicates are legal.
  sampled_with_replacement,
  //! The children of a node drawn one after another from q with the earlier draws removed (Sequoia,
  //! EAGLE, Clover-2); siblings are distinct.
  sampled_without_replacement,
};

//! True for the schemes that hand the verifier a draft distribution q.
[[nodiscard]] constexpr bool has_draft_probs(draft_scheme s) noexcept { return s != draft_scheme::deterministic; }

//! The scheme's name, for messages and tables.
[[nodiscard]] constexpr const char* to_string(draft_scheme s) noexcept {
  switch (s) {
    case draft_scheme::deterministic: return "deterministic";
    case draft_scheme::sampled_chain: return "sampled chain";
    case draft_scheme::sampled_with_replacement: return "sampled with replacement";
    case draft_scheme::sampled_without_replacement: return "sampled without replacement";
  }
  return "unknown";
}

} // namespace v0
} // namespace specdec
