//! Toy model backends with real KV semantics for the conformance kit: a Markov target that satisfies
//! `target_model` and a Markov draft model that satisfies `tree_draft_model`. Both compute their logits
//! from the entries of their own caches, as a transformer does, so a wrong position, a wrong mask, a
//! missed or wrong commit changes what they predict and the kit sees it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "specdec/backend/capabilities.hpp"
#include "specdec/backend/draft_model.hpp"
#include "specdec/backend/target_model.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/testing/markov_model.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

namespace detail {

//! One cache entry: the token whose K/V it holds and the position it was computed at.
struct toy_kv_entry {
  token_id token = 0;
  std::int64_t position = 0;
};

//! Per-request state of the toy backends, in slots indexed by request id.
template <class State>
class request_slots {
public:
  State& at(request_id request) {
    if (request >= slots_.size()) slots_.resize(static_cast<std::size_t>(request) + 1);
    return slots_[request];
  }
  [[nodiscard]] const State* find(request_id request) const {
    return request < slots_.size() ? &slots_[request] : nullptr;
  }

private:
  std::vector<State> slots_;
};

} // namespace detail

//! A Markov target behind a KV cache. The logits at a row come from the `order` most recent tokens of
//! what the row attends to -- its request's cached entries and the tree nodes its mask row selects --
//! ordered by the positions they were computed at; with `position_period > 0` they also depend on the
//! row's own position (`bias[(position + 1) % position_period]` added to every logit, a stand-in for
//! RoPE), so a wrong position id changes the distribution. It checks the decoders' bookkeeping: a
//! forward whose committed length disagrees with its cache, or a commit whose `committed_before` does,
//! throws `specdec::runtime_error`. Satisfies `target_model` and `bounded_context`; and, for head
//! drafters, `hidden_state_source` (a row's hidden state is the one-hot vector of its token, hidden size
//! = vocab: what an order-1 chain's next token depends on) and `partial_forward` (its "first layers"
//! are a second Markov model, `shallow`, read over the same cache: a stand-in for layer skip).
class toy_target {
public:
  //! A target over `model`'s vocabulary; `max_context` bounds each request's cache.
  explicit toy_target(markov_model model, index_t position_period = 0, index_t max_context = 1 << 20)
      : model_(std::move(model)), period_(position_period), max_context_(max_context) {
    expects(position_period >= 0 && position_period <= 64, "position_period", position_period, "in [0, 64]");
    expects(max_context >= 2, "max_context", max_context, ">= 2");
    if (period_ > 0) {
      const markov_model noise = markov_model::random(model_.vocab(), 1, 0x9e3779b97f4a7c15ull);
      bias_.resize(static_cast<std::size_t>(period_ * model_.vocab()));
      for (index_t r = 0; r < period_; ++r) {
        const token_id row_token = static_cast<token_id>(r % model_.vocab());
        const std::span<const float> row = noise.logits(std::span<const token_id>(&row_token, 1));
        std::copy(row.begin(), row.end(), bias_.begin() + static_cast<std::ptrdiff_t>(r * model_.vocab()));
      }
    }
  }

  [[nodiscard]] index_t vocab_size() const noexcept { return model_.vocab(); }
  [[nodiscard]] index_t max_context_length() const noexcept { return max_context_; }
  [[nodiscard]] const markov_model& model() const noexcept { return model_; }

  //! Sets the model `forward_partial` reads for fewer than `num_layers()` layers (default: the target's
  //! own model, a perfect shallow draft).
  void set_shallow_model(markov_model shallow) {
    expects(shallow.vocab() == model_.vocab(), "shallow.vocab()", shallow.vocab(), "the target's vocab");
    shallow_ = std::move(shallow);
  }

  [[nodiscard]] index_t hidden_size() const noexcept { return model_.vocab(); }
  [[nodiscard]] const_matrix_view<float> last_hidden_states() const noexcept {
    return const_matrix_view<float>(hidden_.data(), hidden_rows_, model_.vocab());
  }
  //! Two "layers": `forward_partial` with 1 reads the shallow model, with 2 the target's.
  [[nodiscard]] index_t num_layers() const noexcept { return 2; }

  //! `forward`'s contract over the first `layers` layers: the logits come from the shallow model (or
  //! the target's for `layers == num_layers()`); the cache is read, never written.
  void forward_partial(const tree_forward_batch& batch, index_t layers, matrix_view<float> logits) {
    expects(layers >= 1 && layers <= num_layers(), "layers", layers, "in [1, num_layers()]");
    const markov_model& m = layers == num_layers() || !shallow_ ? model_ : *shallow_;
    expects(logits.rows() >= batch.total_nodes() && logits.cols() == vocab_size(), "logits", logits.rows(),
            "[total nodes, vocab_size()]");
    for (index_t b = 0; b < batch.batch_size(); ++b) {
      const auto& cache = slots_.at(batch.requests[static_cast<std::size_t>(b)]).cache;
      const index_t committed = batch.committed[static_cast<std::size_t>(b)];
      if (committed != static_cast<index_t>(cache.size())) {
        throw specdec::runtime_error("toy_target: forward_partial with committed = " + std::to_string(committed) +
                                     " but the cache holds " + std::to_string(cache.size()) + " entries");
      }
      const token_tree_view tree = batch.trees.tree(b);
      const index_t first = batch.trees.offsets().begin(b);
      for (index_t i = 0; i < tree.size(); ++i) {
        const index_t row = first + i;
        visible_.assign(cache.begin(), cache.end());
        for (index_t j = 0; j < tree.size(); ++j) {
          if ((batch.mask(row, j / 32) >> (j % 32)) & 1u) {
            visible_.push_back({tree.token(j), batch.positions[static_cast<std::size_t>(first + j)]});
          }
        }
        std::stable_sort(visible_.begin(), visible_.end(),
                         [](const detail::toy_kv_entry& a, const detail::toy_kv_entry& c) { return a.position < c.position; });
        write_logits(m, visible_, batch.positions[static_cast<std::size_t>(row)], logits.row(row));
      }
    }
    ++calls_.partial_forwards;
  }

  void prefill(request_id request, std::span<const token_id> prompt) {
    expects(!prompt.empty(), "prompt.size()", prompt.size(), ">= 1 (its last token is the first root)");
    expects(static_cast<index_t>(prompt.size()) <= max_context_, "prompt.size()", prompt.size(), "<= max_context_length()");
    auto& cache = slots_.at(request).cache;
    cache.clear();
    for (std::size_t i = 0; i + 1 < prompt.size(); ++i) {
      expects_element(prompt[i] >= 0 && prompt[i] < vocab_size(), "prompt", i, prompt[i], "a token id in [0, vocab_size)");
      cache.push_back({prompt[i], static_cast<std::int64_t>(i)});
    }
    set_hidden(prompt.first(prompt.size() - 1));
    ++calls_.prefills;
  }

  void forward(const tree_forward_batch& batch, matrix_view<float> logits) {
    expects(logits.rows() >= batch.total_nodes() && logits.cols() == vocab_size(), "logits", logits.rows(),
            "[total nodes, vocab_size()]");
    for (index_t b = 0; b < batch.batch_size(); ++b) {
      auto& cache = slots_.at(batch.requests[static_cast<std::size_t>(b)]).cache;
      const index_t committed = batch.committed[static_cast<std::size_t>(b)];
      if (committed != static_cast<index_t>(cache.size())) {
        throw specdec::runtime_error("toy_target: forward with committed = " + std::to_string(committed) +
                                     " but the cache holds " + std::to_string(cache.size()) + " entries");
      }
      const token_tree_view tree = batch.trees.tree(b);
      const index_t first = batch.trees.offsets().begin(b);
      expects(committed + tree.size() <= max_context_, "committed + tree size", committed + tree.size(), "<= max_context_length()");
      for (index_t i = 0; i < tree.size(); ++i) {  // the forward writes every node's KV at slot committed + i
        cache.push_back({tree.token(i), batch.positions[static_cast<std::size_t>(first + i)]});
      }
      for (index_t i = 0; i < tree.size(); ++i) {
        const index_t row = first + i;
        visible_.assign(cache.begin(), cache.begin() + committed);
        for (index_t j = 0; j < tree.size(); ++j) {
          if ((batch.mask(row, j / 32) >> (j % 32)) & 1u) visible_.push_back(cache[static_cast<std::size_t>(committed + j)]);
        }
        std::stable_sort(visible_.begin(), visible_.end(),
                         [](const detail::toy_kv_entry& a, const detail::toy_kv_entry& c) { return a.position < c.position; });
        write_logits(visible_, batch.positions[static_cast<std::size_t>(row)], logits.row(row));
      }
      calls_.nodes += tree.size();
    }
    context_.clear();  // the hidden states: one-hot rows of every node's token, in flat order
    for (index_t b = 0; b < batch.batch_size(); ++b) {
      const token_tree_view tree = batch.trees.tree(b);
      for (index_t i = 0; i < tree.size(); ++i) context_.push_back(tree.token(i));
    }
    set_hidden(context_);
    ++calls_.forwards;
  }

  void commit(const kv_commit& c) {
    auto& cache = slots_.at(c.request).cache;
    if (c.committed_before + static_cast<index_t>(c.path.size()) > static_cast<index_t>(cache.size()) ||
        c.committed_after > static_cast<index_t>(cache.size())) {
      throw specdec::runtime_error("toy_target: commit beyond the entries the forward wrote");
    }
    for (const kv_move& m : c.moves) cache[static_cast<std::size_t>(m.dst)] = cache[static_cast<std::size_t>(m.src)];
    cache.resize(static_cast<std::size_t>(c.committed_after));
  }

  void release(request_id request) { slots_.at(request).cache.clear(); }

  //! The cached entries of `request` (tests inspect them).
  [[nodiscard]] std::span<const detail::toy_kv_entry> cache(request_id request) const {
    const auto* s = slots_.find(request);
    return s ? std::span<const detail::toy_kv_entry>(s->cache) : std::span<const detail::toy_kv_entry>{};
  }

  //! Work done so far, for toy cost models: forwards, nodes evaluated, prefills, partial forwards.
  struct call_counts {
    std::uint64_t forwards = 0;
    std::uint64_t nodes = 0;
    std::uint64_t prefills = 0;
    std::uint64_t partial_forwards = 0;  //!< `forward_partial` calls
  };
  [[nodiscard]] const call_counts& calls() const noexcept { return calls_; }

private:
  struct request_state {
    std::vector<detail::toy_kv_entry> cache;
  };

  // One-hot rows of `tokens`.
  void set_hidden(std::span<const token_id> tokens) {
    hidden_rows_ = static_cast<index_t>(tokens.size());
    hidden_.assign(tokens.size() * static_cast<std::size_t>(model_.vocab()), 0.0f);
    for (std::size_t i = 0; i < tokens.size(); ++i) hidden_[i * static_cast<std::size_t>(model_.vocab()) + static_cast<std::size_t>(tokens[i])] = 1.0f;
  }

  void write_logits(std::span<const detail::toy_kv_entry> visible, std::int64_t position, std::span<float> out) {
    write_logits(model_, visible, position, out);
  }
  void write_logits(const markov_model& m, std::span<const detail::toy_kv_entry> visible, std::int64_t position, std::span<float> out) {
    context_.clear();
    for (const auto& e : visible) context_.push_back(e.token);
    const std::span<const float> base = m.logits(context_);
    std::copy(base.begin(), base.end(), out.begin());
    if (period_ > 0) {
      const auto r = static_cast<std::size_t>((position + 1) % period_);
      for (std::size_t t = 0; t < out.size(); ++t) out[t] += bias_[r * out.size() + t];
    }
  }

  markov_model model_;
  std::optional<markov_model> shallow_;
  index_t period_;
  index_t max_context_;
  std::vector<float> bias_;
  std::vector<float> hidden_;
  index_t hidden_rows_ = 0;
  detail::request_slots<request_state> slots_;
  std::vector<detail::toy_kv_entry> visible_;
  std::vector<token_id> context_;
  call_counts calls_;
};

static_assert(target_model<toy_target>);
static_assert(bounded_context<toy_target>);
static_assert(hidden_state_source<toy_target>);
static_assert(partial_forward<toy_target>);

//! A Markov draft model behind its own token cache: `extend`, `extend_tree`, `rollback` with the
//! `draft_model` and `tree_draft_model` contracts; logits come from the cached tokens (the path of a
//! tree node). Counts its calls and evaluated tokens for toy cost models.
class toy_draft_model {
public:
  explicit toy_draft_model(markov_model model) : model_(std::move(model)) {}

  [[nodiscard]] index_t vocab_size() const noexcept { return model_.vocab(); }

  void extend(request_id request, std::span<const token_id> tokens, std::span<float> next_logits) {
    expects(!tokens.empty(), "tokens.size()", tokens.size(), ">= 1");
    expects(static_cast<index_t>(next_logits.size()) == vocab_size(), "next_logits.size()", next_logits.size(), "== vocab_size()");
    auto& s = slots_.at(request);
    s.tree_base = -1;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      expects_element(tokens[i] >= 0 && tokens[i] < vocab_size(), "tokens", i, tokens[i], "a token id in [0, vocab_size)");
      s.cache.push_back(tokens[i]);
    }
    const std::span<const float> row = model_.logits(s.cache);
    std::copy(row.begin(), row.end(), next_logits.begin());
    ++calls_.forwards;
    calls_.tokens += tokens.size();
  }

  void extend_tree(request_id request, const token_tree_view& tree, index_t first, matrix_view<float> logits) {
    auto& s = slots_.at(request);
    expects(first >= 1 && first <= tree.size(), "first", first, "in [1, tree.size()]");
    expects(!s.cache.empty(), "request", request, "a request whose cache holds the tree's root");
    if (first == 1) s.tree_base = static_cast<index_t>(s.cache.size());
    expects(s.tree_base >= 0 && static_cast<index_t>(s.cache.size()) == s.tree_base + first - 1, "first", first,
            "the next unevaluated node (nodes [1, first) evaluated since the tree began)");
    expects(logits.rows() >= tree.size() - first && logits.cols() == vocab_size(), "logits", logits.rows(),
            "[tree.size() - first, vocab_size()]");
    for (index_t i = first; i < tree.size(); ++i) {
      s.cache.push_back(tree.token(i));
      path_.assign(s.cache.begin(), s.cache.begin() + s.tree_base);  // the context, root last
      for (std::int32_t v = static_cast<std::int32_t>(i); v != 0; v = tree.parent(v)) {
        path_.insert(path_.begin() + s.tree_base, tree.token(v));
      }
      const std::span<const float> row = model_.logits(path_);
      const std::span<float> out = logits.row(i - first);
      std::copy(row.begin(), row.end(), out.begin());
    }
    ++calls_.forwards;
    calls_.tokens += static_cast<std::uint64_t>(tree.size() - first);
  }

  [[nodiscard]] index_t length(request_id request) const {
    const auto* s = slots_.find(request);
    return s ? static_cast<index_t>(s->cache.size()) : 0;
  }

  void rollback(request_id request, index_t length) {
    auto& s = slots_.at(request);
    expects(length >= 0 && length <= static_cast<index_t>(s.cache.size()), "length", length, "<= length(request)");
    s.cache.resize(static_cast<std::size_t>(length));
    if (s.tree_base > length) s.tree_base = -1;
  }

  void release(request_id request) {
    auto& s = slots_.at(request);
    s.cache.clear();
    s.tree_base = -1;
  }

  struct call_counts {
    std::uint64_t forwards = 0;
    std::uint64_t tokens = 0;
  };
  [[nodiscard]] const call_counts& calls() const noexcept { return calls_; }
  [[nodiscard]] const markov_model& model() const noexcept { return model_; }

private:
  struct request_state {
    std::vector<token_id> cache;
    index_t tree_base = -1;
  };
  markov_model model_;
  detail::request_slots<request_state> slots_;
  std::vector<token_id> path_;
  call_counts calls_;
};

static_assert(draft_model<toy_draft_model>);
static_assert(tree_draft_model<toy_draft_model>);

} // namespace testing
} // namespace v0
} // namespace specdec
