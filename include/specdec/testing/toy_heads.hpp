//! Toy heads derived from the kit's Markov target, so what a head drafter should achieve is known:
//! Medusa heads that are the k-step marginals (the best any independent head can do) and regressive
//! heads that apply the exact transition to the guessed parent.
#pragma once

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "specdec/backend/heads.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/sampling/softmax.hpp"
#include "specdec/testing/markov_model.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

namespace detail {

// The token a one-hot state row encodes (the toy target's hidden states); throws for anything else.
inline token_id one_hot_token(std::span<const float> row) {
  token_id found = -1;
  for (std::size_t t = 0; t < row.size(); ++t) {
    if (row[t] == 1.0f && found < 0) {
      found = static_cast<token_id>(t);
    } else if (row[t] != 0.0f) {
      found = -2;
      break;
    }
  }
  expects(found >= 0, "state row", "not one-hot", "a toy_target hidden state (the one-hot vector of a token)");
  return found;
}

} // namespace detail

//! Medusa heads for an order-1 toy target: head `k` on the state of token `x_j` (the token before the
//! root `x_{j+1}`) gives the distribution of `x_{j+k+2}` given `x_j` alone -- row `x_j` of the
//! transition matrix raised to the power `k + 2` (at temperature 1). They cannot see the root nor the
//! tokens guessed before them: the best an independent head can do. Satisfies `independent_heads`.
class toy_medusa_heads {
public:
  toy_medusa_heads(const markov_model& target, index_t heads) : vocab_(target.vocab()), heads_(heads) {
    expects(target.order() == 1, "target.order()", target.order(), "1 (Medusa's marginals are exact for order-1 chains)");
    expects(heads >= 1 && heads <= 16, "heads", heads, "in [1, 16]");
    const auto v = static_cast<std::size_t>(vocab_);
    std::vector<double> step(v * v), power(v * v), next(v * v);
    std::vector<float> row(v);
    for (std::size_t a = 0; a < v; ++a) {
      const token_id t = static_cast<token_id>(a);
      softmax(target.logits(std::span<const token_id>(&t, 1)), std::span<float>(row));
      for (std::size_t b = 0; b < v; ++b) step[a * v + b] = row[b];
    }
    power = step;
    log_marginals_.resize(static_cast<std::size_t>(heads) * v * v);
    for (index_t k = 0; k < heads; ++k) {
      // power <- power * step: the (k + 2)-step transition.
      for (std::size_t a = 0; a < v; ++a) {
        for (std::size_t b = 0; b < v; ++b) {
          double sum = 0.0;
          for (std::size_t c = 0; c < v; ++c) sum += power[a * v + c] * step[c * v + b];
          next[a * v + b] = sum;
        }
      }
      power.swap(next);
      for (std::size_t i = 0; i < v * v; ++i) {
        log_marginals_[static_cast<std::size_t>(k) * v * v + i] =
            power[i] > 0.0 ? static_cast<float>(std::log(power[i])) : -std::numeric_limits<float>::infinity();
      }
    }
  }

  [[nodiscard]] index_t num_heads() const noexcept { return heads_; }
  [[nodiscard]] index_t hidden_size() const noexcept { return vocab_; }
  [[nodiscard]] index_t vocab_size() const noexcept { return vocab_; }

  void apply_heads(const_matrix_view<float> states, matrix_view<float> logits) {
    expects(states.cols() == vocab_, "states.cols()", states.cols(), "== hidden_size()");
    expects(logits.rows() == states.rows() * heads_ && logits.cols() == vocab_, "logits.rows()", logits.rows(),
            "states.rows() * num_heads()");
    const auto v = static_cast<std::size_t>(vocab_);
    for (index_t r = 0; r < states.rows(); ++r) {
      const auto x = static_cast<std::size_t>(detail::one_hot_token(states.row(r)));
      for (index_t k = 0; k < heads_; ++k) {
        const float* src = log_marginals_.data() + (static_cast<std::size_t>(k) * v + x) * v;
        std::copy(src, src + v, logits.row(r * heads_ + k).begin());
      }
    }
    ++calls_;
  }

  [[nodiscard]] std::uint64_t calls() const noexcept { return calls_; }

private:
  index_t vocab_;
  index_t heads_;
  std::vector<float> log_marginals_;
  std::uint64_t calls_ = 0;
};

static_assert(independent_heads<toy_medusa_heads>);

//! Regressive heads for a toy target of order 1 or 2: a node's state is its token (and its parent's,
//! for order 2), and its logits are the target's transition from them -- exact, as a perfectly trained
//! Clover, Hydra or EAGLE head would be. The root's parent state is the context state the decoder hands
//! over (`observe`), checked against the request's tokens, so a wrong row or position is caught. Up to
//! `max_depth` deep. Satisfies `regressive_heads`; counts `step` calls and evaluated rows.
class toy_regressive_heads {
public:
  explicit toy_regressive_heads(markov_model target, index_t max_depth = 8) : model_(std::move(target)), max_depth_(max_depth) {
    expects(max_depth >= 1 && max_depth <= 255, "max_depth", max_depth, "in [1, 255]");
  }

  [[nodiscard]] index_t vocab_size() const noexcept { return model_.vocab(); }

  //! Takes the context state: the token of the last committed row; checks every row against `tokens`.
  void observe(const context_states& states) {
    expects(states.hidden.cols() == model_.vocab(), "states.hidden.cols()", states.hidden.cols(), "the toy target's hidden size");
    for (index_t i = 0; i < states.hidden.rows(); ++i) {
      const token_id t = detail::one_hot_token(states.hidden.row(i));
      const index_t position = states.first + i;
      if (position >= static_cast<index_t>(states.tokens.size()) || states.tokens[static_cast<std::size_t>(position)] != t) {
        throw specdec::runtime_error("toy_regressive_heads: the state of position " + std::to_string(position) +
                                     " encodes token " + std::to_string(t) + ", not the request's token there");
      }
    }
    if (states.hidden.rows() == 0) return;
    request_state& s = at(states.request);
    s.position = states.first + states.hidden.rows() - 1;
    s.token = detail::one_hot_token(states.hidden.row(states.hidden.rows() - 1));
  }

  index_t prepare(request_id request, std::span<const token_id> tokens) {
    request_state& s = at(request);
    const auto before_root = static_cast<index_t>(tokens.size()) - 2;
    if (before_root >= 0 && s.position != before_root) {
      throw specdec::runtime_error("toy_regressive_heads: request " + std::to_string(request) + " holds the state of position " +
                                   std::to_string(s.position) + ", its root follows position " + std::to_string(before_root));
    }
    // A one-token context has no state: the Markov chain reads the missing token as 0.
    context_token_ = before_root >= 0 ? s.token : 0;
    return max_depth_;
  }

  void step(const head_step& step, matrix_view<float> logits) {
    expects(step.parents.size() == step.tokens.size() && step.slots.size() == step.tokens.size(), "step rows",
            step.tokens.size(), "parents, tokens and slots of one size");
    for (std::size_t r = 0; r < step.tokens.size(); ++r) {
      const std::int32_t parent = step.parents[r];
      token_id before = context_token_;
      if (parent >= 0) {
        expects_element(static_cast<std::size_t>(parent) < slot_token_.size(), "step.parents", r, parent, "a slot written this step");
        before = slot_token_[static_cast<std::size_t>(parent)];
      }
      const token_id context[2] = {before, step.tokens[r]};
      const std::span<const float> row = model_.logits(std::span<const token_id>(context, 2));
      std::copy(row.begin(), row.end(), logits.row(static_cast<index_t>(r)).begin());
      const auto slot = static_cast<std::size_t>(step.slots[r]);
      if (slot_token_.size() <= slot) slot_token_.resize(slot + 1, 0);
      slot_token_[slot] = step.tokens[r];
    }
    ++calls_;
    rows_ += step.tokens.size();
  }

  void release(request_id request) { at(request) = request_state{}; }

  [[nodiscard]] std::uint64_t calls() const noexcept { return calls_; }
  [[nodiscard]] std::uint64_t rows() const noexcept { return rows_; }

private:
  struct request_state {
    index_t position = -1;
    token_id token = 0;
  };
  request_state& at(request_id request) {
    if (request >= states_.size()) states_.resize(static_cast<std::size_t>(request) + 1);
    return states_[request];
  }

  markov_model model_;
  index_t max_depth_;
  std::vector<request_state> states_;
  std::vector<token_id> slot_token_;
  token_id context_token_ = 0;
  std::uint64_t calls_ = 0;
  std::uint64_t rows_ = 0;
};

static_assert(regressive_heads<toy_regressive_heads>);

} // namespace testing
} // namespace v0
} // namespace specdec
