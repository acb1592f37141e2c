//! Philox4x32-10, the counter-based generator behind every random decision, and the library's
//! address layout for those decisions. Host and device.
#pragma once

#include <cstdint>

#include "specdec/core/config.hpp"

namespace specdec {
inline namespace v0 {

//! Four 32-bit words: a Philox counter, or one block of its output.
struct philox_words {
  std::uint32_t w[4];

  friend SPECDEC_HD constexpr bool operator==(const philox_words& a, const philox_words& b) noexcept {
    return a.w[0] == b.w[0] && a.w[1] == b.w[1] && a.w[2] == b.w[2] && a.w[3] == b.w[3];
  }
};

//! A Philox key: two 32-bit words (the 64-bit seed, low word first).
struct philox_key {
  std::uint32_t k[2];
};

namespace detail {

inline constexpr std::uint32_t philox_m0 = 0xD2511F53u;  // round multipliers (Salmon et al. 2011)
inline constexpr std::uint32_t philox_m1 = 0xCD9E8D57u;
inline constexpr std::uint32_t philox_w0 = 0x9E3779B9u;  // Weyl key increments: golden ratio,
inline constexpr std::uint32_t philox_w1 = 0xBB67AE85u;  // sqrt(3) - 1

SPECDEC_HD constexpr void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) noexcept {
  const std::uint64_t product = static_cast<std::uint64_t>(a) * b;  // nvcc lowers this to mul.hi/mul.lo
  hi = static_cast<std::uint32_t>(product >> 32);
  lo = static_cast<std::uint32_t>(product);
}

} // namespace detail

//! Philox4x32 with 10 rounds (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011): a bijection of the 128-bit counter under a 64-bit key, bit-identical to Random123's
//! `philox4x32_R(10, ...)`. Pure function: no state, so any thread can draw any block.
[[nodiscard]] SPECDEC_HD constexpr philox_words philox4x32_10(philox_words counter, philox_key key) noexcept {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.k[0] += detail::philox_w0;
      key.k[1] += detail::philox_w1;
    }
    std::uint32_t hi0 = 0, lo0 = 0, hi1 = 0, lo1 = 0;
    detail::mulhilo(detail::philox_m0, counter.w[0], hi0, lo0);
    detail::mulhilo(detail::philox_m1, counter.w[2], hi1, lo1);
    counter = philox_words{{hi1 ^ counter.w[1] ^ key.k[0], lo1, hi0 ^ counter.w[3] ^ key.k[1], lo0}};
  }
  return counter;
}

//! What a random decision is for. It occupies the low 8 bits of the counter's third word, so that the
//! decisions made at one tree node draw independent numbers. Drafter purposes are below 0x80 and
//! verifier purposes at or above it: a draft and the verification of that draft never share a draw.
enum class purpose : std::uint8_t {
  // Drafting (0x00 - 0x7f).
  draft_sample = 0x00,  //!< sampling the children of a node from the draft distribution q
  // Verification (0x80 - 0xff).
  accept = 0x80,        //!< the uniform of an accept/reject test at this node
  residual = 0x81,      //!< the sample from the residual distribution after a rejection at this node
  bonus = 0x82,         //!< the bonus sample from p after every child of this node was accepted/absent
};

//! True for purposes reserved to drafters.
[[nodiscard]] SPECDEC_HD constexpr bool is_draft_purpose(purpose p) noexcept {
  return static_cast<std::uint8_t>(p) < 0x80u;
}

//! The largest node index an address can carry: the node shares a 32-bit word with the purpose byte.
inline constexpr std::uint32_t max_random_node = (1u << 24) - 1;

//! The fixed address of one random decision (docs/architecture.md, "Randomness"):
//! key = the 64-bit seed; counter = {request, step, (node << 8) | purpose, block}.
//! `block` walks 4-word groups along the vocabulary for full-row sampling: vocabulary entry `i` uses
//! word `i % 4` of block `i / 4`. The CPU references and the CUDA kernels compute the same addresses,
//! which is why the same seed gives the same tokens on both.
struct random_address {
  std::uint64_t seed = 0;     //!< the request's seed (the Philox key)
  std::uint32_t request = 0;  //!< the request's index in its batch, or any id unique among live requests
  std::uint32_t step = 0;     //!< the decoding step of this request
  std::uint32_t node = 0;     //!< the tree node the decision belongs to, < 2^24
  purpose what = purpose::draft_sample;

  //! The same address with another node and purpose.
  [[nodiscard]] SPECDEC_HD constexpr random_address at(std::uint32_t node_index, purpose p) const noexcept {
    random_address a = *this;
    a.node = node_index;
    a.what = p;
    return a;
  }

  [[nodiscard]] SPECDEC_HD constexpr philox_key key() const noexcept {
    return philox_key{{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  }

  [[nodiscard]] SPECDEC_HD constexpr philox_words counter(std::uint32_t block) const noexcept {
    return philox_words{{request, step, (node << 8) | static_cast<std::uint32_t>(what), block}};
  }

  //! The four random words of `block`.
  [[nodiscard]] SPECDEC_HD constexpr philox_words block(std::uint32_t block_index) const noexcept {
    return philox4x32_10(counter(block_index), key());
  }

  //! The random word for vocabulary entry (or draw) `i`: word `i % 4` of block `i / 4`.
  [[nodiscard]] SPECDEC_HD constexpr std::uint32_t word(std::uint32_t i) const noexcept {
    return block(i >> 2).w[i & 3u];
  }
};

} // namespace v0
} // namespace specdec
