//! Medusa's independent heads seen as regressive heads, so they compose with every growth policy.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "specdec/backend/heads.hpp"
#include "specdec/core/error.hpp"

namespace specdec {
inline namespace v0 {

//! Adapts `independent_heads` (Medusa, Cai et al., 2024) to `regressive_heads`: it keeps each
//! request's last context state (the target's hidden state of the token before the root), runs all
//! heads on it once per step (`prepare`), and answers a depth-d frontier with head d's distribution
//! for every node -- Medusa's heads ignore the tokens guessed before them, which is exactly the
//! dependence Clover's and Hydra's regressive heads add. Compose with `static_growth` (Medusa's
//! choices or a Sequoia plan), `top_k_growth`, or any other policy. A request drafts nothing until its
//! first context state arrives (a one-token prompt's first step).
template <independent_heads H>
class medusa_heads {
public:
  explicit medusa_heads(H& heads) : heads_(&heads) {
    expects(heads.num_heads() >= 1, "heads.num_heads()", heads.num_heads(), ">= 1");
    expects(heads.hidden_size() >= 1, "heads.hidden_size()", heads.hidden_size(), ">= 1");
  }

  [[nodiscard]] index_t vocab_size() const { return static_cast<index_t>(heads_->vocab_size()); }

  //! Keeps the last row: the state of the latest committed token.
  void observe(const context_states& states) {
    if (states.hidden.rows() == 0) return;
    const auto hidden = static_cast<index_t>(heads_->hidden_size());
    expects(states.hidden.cols() == hidden, "states.hidden.cols()", states.hidden.cols(), "== heads.hidden_size()");
    slot& s = at(states.request);
    const auto last = states.hidden.row(states.hidden.rows() - 1);
    s.state.assign(last.begin(), last.end());
    s.position = states.first + states.hidden.rows() - 1;
  }

  //! Runs every head on the request's context state; returns `num_heads()`, or 0 without a state.
  index_t prepare(request_id request, std::span<const token_id> tokens) {
    slot& s = at(request);
    if (s.position < 0) return 0;
    const auto expected = static_cast<index_t>(tokens.size()) - 2;
    if (s.position != expected) {
      throw specdec::runtime_error("medusa_heads: request " + std::to_string(request) + " has the state of position " +
                                   std::to_string(s.position) + " but its root follows position " + std::to_string(expected) +
                                   " (observe() missed a step)");
    }
    const auto heads = static_cast<index_t>(heads_->num_heads());
    const auto vocab = vocab_size();
    logits_.resize(static_cast<std::size_t>(heads * vocab));
    heads_->apply_heads(const_matrix_view<float>(s.state.data(), 1, static_cast<index_t>(s.state.size())),
                        matrix_view<float>(logits_.data(), heads, vocab));
    return heads;
  }

  //! Every row of a depth-d frontier gets head d's logits (the token d + 1 places after the root).
  void step(const head_step& step, matrix_view<float> logits) const {
    const auto vocab = static_cast<std::size_t>(vocab_size());
    expects(step.depth >= 0 && static_cast<std::size_t>(step.depth) * vocab < logits_.size(), "step.depth", step.depth,
            "below num_heads() (call prepare first)");
    const auto head = logits_.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(step.depth) * vocab);
    for (index_t r = 0; r < static_cast<index_t>(step.tokens.size()); ++r) {
      std::copy(head, head + static_cast<std::ptrdiff_t>(vocab), logits.row(r).begin());
    }
  }

  void release(request_id request) {
    slot& s = at(request);
    s.position = -1;
    s.state.clear();
  }

private:
  struct slot {
    std::vector<float> state;
    index_t position = -1;
  };
  slot& at(request_id request) {
    if (request >= slots_.size()) slots_.resize(static_cast<std::size_t>(request) + 1);
    return slots_[request];
  }

  H* heads_;
  std::vector<slot> slots_;
  std::vector<float> logits_;
};

} // namespace v0
} // namespace specdec
