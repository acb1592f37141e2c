//! Toy language models for the conformance kit: Markov chains of order 1 or 2 over a small vocabulary,
//! and draft models at a controlled distance from a target.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "specdec/core/error.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

//! A Markov chain language model: the next-token logits depend on the last `order` tokens of the
//! context (missing positions read as token 0). Small and exact, so the kit can compute the true joint
//! distribution of the next few tokens and compare a speculative decoder's output against it.
class markov_model {
public:
  //! A model from its table: `vocab^order` rows of `vocab` logits, row index = the last `order` tokens
  //! read as base-`vocab` digits, most recent last. Logits may be -inf (a masked token), not NaN/+inf.
  markov_model(index_t vocab, int order, std::vector<float> table) : vocab_(vocab), order_(order), table_(std::move(table)) {
    expects(vocab >= 2 && vocab <= 64, "vocab", vocab, "2 <= vocab <= 64 (a toy model)");
    expects(order == 1 || order == 2, "order", order, "1 or 2");
    expects(table_.size() == static_cast<std::size_t>(rows() * vocab), "table.size()", table_.size(), "vocab^order * vocab");
  }

  //! A random model: logits i.i.d. normal(0, scale), drawn from Philox at `seed` (reproducible).
  [[nodiscard]] static markov_model random(index_t vocab, int order, std::uint64_t seed, float scale = 1.5f) {
    const index_t rows = order == 1 ? vocab : vocab * vocab;
    std::vector<float> table(static_cast<std::size_t>(rows * vocab));
    const random_address address{seed, 0, 0, 0, purpose::draft_sample};
    for (std::size_t i = 0; i < table.size(); i += 2) {
      // Box-Muller from two uniforms.
      const double u1 = uniform_float(address, static_cast<std::uint32_t>(i));
      const double u2 = uniform_float(address, static_cast<std::uint32_t>(i + 1));
      const double radius = std::sqrt(-2.0 * std::log(u1));
      table[i] = static_cast<float>(scale * radius * std::cos(6.283185307179586 * u2));
      if (i + 1 < table.size()) table[i + 1] = static_cast<float>(scale * radius * std::sin(6.283185307179586 * u2));
    }
    return markov_model(vocab, order, std::move(table));
  }

  //! A model whose logits interpolate between this one's and `other`'s: `(1 - weight) * this + weight *
  //! other` (weight 0: identical; small: close; 1: `other`). -inf in either stays -inf. Same shape.
  [[nodiscard]] markov_model mixed_with(const markov_model& other, float weight) const {
    expects(other.vocab_ == vocab_ && other.order_ == order_, "other", "a different shape", "the same vocab and order");
    std::vector<float> table(table_.size());
    for (std::size_t i = 0; i < table.size(); ++i) {
      const bool masked = table_[i] == -inf || other.table_[i] == -inf;
      table[i] = masked ? -inf : (1.0f - weight) * table_[i] + weight * other.table_[i];
    }
    return markov_model(vocab_, order_, std::move(table));
  }

  //! This model with the tokens in `masked` (a bitmask over the vocabulary) set to -inf everywhere.
  //! Two models masked by complementary sets have disjoint support.
  [[nodiscard]] markov_model masked(std::uint64_t masked_tokens) const {
    std::vector<float> table = table_;
    for (std::size_t i = 0; i < table.size(); ++i) {
      if ((masked_tokens >> (i % static_cast<std::size_t>(vocab_))) & 1u) table[i] = -inf;
    }
    return markov_model(vocab_, order_, std::move(table));
  }

  [[nodiscard]] index_t vocab() const noexcept { return vocab_; }
  [[nodiscard]] int order() const noexcept { return order_; }
  [[nodiscard]] index_t rows() const noexcept { return order_ == 1 ? vocab_ : vocab_ * vocab_; }

  //! The next-token logits after `context` (only its last `order` tokens matter; they must lie in
  //! `[0, vocab)`).
  [[nodiscard]] std::span<const float> logits(std::span<const token_id> context) const {
    index_t row = 0;
    for (int k = order_; k >= 1; --k) {
      const token_id t = static_cast<index_t>(context.size()) >= k ? context[context.size() - static_cast<std::size_t>(k)] : 0;
      expects(t >= 0 && t < vocab_, "context token", t, "a token id in [0, vocab) of the toy model");
      row = row * vocab_ + t;
    }
    return {table_.data() + row * vocab_, static_cast<std::size_t>(vocab_)};
  }

private:
  static constexpr float inf = std::numeric_limits<float>::infinity();
  index_t vocab_;
  int order_;
  std::vector<float> table_;
};

} // namespace testing
} // namespace v0
} // namespace specdec
