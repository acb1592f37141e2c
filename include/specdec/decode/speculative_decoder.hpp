//! The decoding loop: a drafter, a target backend and a verifier composed at compile time; per step
//! draft -> flatten -> one target forward -> verify -> commit, over a ragged batch of requests.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "specdec/backend/capabilities.hpp"
#include "specdec/backend/heads.hpp"
#include "specdec/backend/target_model.hpp"
#include "specdec/backend/tree_forward.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/decode/decode_stats.hpp"
#include "specdec/draft/drafter.hpp"
#include "specdec/kv/keep_list.hpp"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/tree/ancestor_mask.hpp"
#include "specdec/tree/position_ids.hpp"
#include "specdec/tree/token_tree_batch.hpp"
#include "specdec/verify/tree_verifier.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"

namespace specdec {
inline namespace v0 {

//! One request's generation settings.
struct request_options {
  sampling_params params;             //!< the target's processing; temperature 0 is greedy
  std::uint64_t seed = 0;             //!< the Philox key of every random decision of the request
  index_t max_new_tokens = 128;       //!< generation stops after this many tokens
  std::vector<token_id> stop_tokens;  //!< generation stops after emitting one of these (it is emitted)
};

//! Why a request stopped generating.
enum class finish_reason : std::uint8_t {
  running,       //!< still generating
  stop_token,    //!< it emitted a stop token
  length,        //!< it reached `max_new_tokens`
  context_full,  //!< the target's context cannot hold another step
};

//! How much the decoder speculates, per request.
struct speculation_options {
  //! The most nodes of a step's tree, the root included (>= 1).
  index_t max_nodes = 64;
  //! The deepest draft of a step (>= 0).
  index_t max_depth = 8;
  //! Per-request adaptive draft length: start at `max_depth`; after a step that accepted every drafted
  //! depth allow one more (up to `max_depth`), after a rejection one fewer (down to `min_depth`). Off:
  //! every step may draft `max_depth` deep.
  bool adaptive_depth = false;
  index_t min_depth = 1;
  //! Switch speculation off for a request whose mean accepted drafts per step, over its last `window`
  //! speculative steps, falls below this (0: never). Its later steps then draft nothing (one token per
  //! forward, as autoregressive decoding), until `retry_after` steps have passed (0: never retry).
  double disable_below = 0.0;
  index_t window = 16;
  index_t retry_after = 0;
  //! Draft no deeper than the tokens a request may still emit, minus one (deeper drafts could only be
  //! truncated). The conformance kit turns it off, so that its short generations still verify deep trees.
  bool trim_to_remaining = true;

  void validate() const {
    expects(max_nodes >= 1 && max_nodes <= max_tree_nodes, "max_nodes", max_nodes, "in [1, max_tree_nodes]");
    expects(max_depth >= 0 && max_depth <= max_tree_depth, "max_depth", max_depth, "in [0, max_tree_depth]");
    expects(min_depth >= 0 && min_depth <= max_depth, "min_depth", min_depth, "in [0, max_depth]");
    expects(disable_below >= 0.0, "disable_below", disable_below, ">= 0");
    expects(window >= 1, "window", window, ">= 1");
    expects(retry_after >= 0, "retry_after", retry_after, ">= 0");
  }
};

//! The composition check's tags: `checked_composition` (the default) refuses at compile time to pair a
//! drafter with a verifier that is not lossless for its drafting scheme; `unchecked_composition` opts
//! out, for users who knowingly accept the bias (or verify by their own argument).
struct checked_composition {};
struct unchecked_composition {};

//! True when `Verifier` is lossless for the trees `Drafter` draws.
template <class Drafter, class Verifier>
concept lossless_composition = drafter<Drafter> && scheme_aware_verifier<Verifier> &&
                               (Verifier::lossless_for(Drafter::scheme));

namespace detail {
template <class Drafter, class Verifier, class Composition>
constexpr bool composition_allowed() {
  if constexpr (std::is_same_v<Composition, unchecked_composition>) {
    return true;
  } else {
    static_assert(std::is_same_v<Composition, checked_composition>,
                  "the composition tag is checked_composition or unchecked_composition");
    return lossless_composition<Drafter, Verifier>;
  }
}
} // namespace detail

//! Speculative decoding of a ragged batch of requests: each step drafts a tree per running request,
//! flattens the batch (positions and the packed ancestor mask), runs one target forward over every node,
//! verifies each request, truncates at stop tokens and `max_new_tokens`, and commits the accepted path
//! to the target's KV cache (through the keep-list) and to the drafter (`observe`).
//!
//! The decoder owns the random addresses: request r's step s draws at (seed, r, s, node, purpose), and
//! s advances every step, so no two decisions ever share a draw. Models, drafter and verifier are held
//! by reference; once warm (buffers sized to the largest batch, tree and vocabulary seen) a step
//! allocates nothing in the library. Not thread-safe.
//!
//! Use it step-wise (`add_request`, `step`, `tokens`, `release`: the engine owns the loop) or
//! `generate` for one prompt. `Composition` = `unchecked_composition` lifts the compile-time check that
//! `Verifier` is lossless for `Drafter::scheme`.
template <target_model Target, drafter Drafter, verifier Verifier, class Composition = checked_composition>
class speculative_decoder {
  static_assert(detail::composition_allowed<Drafter, Verifier, Composition>(),
                "this verifier is not lossless for the drafter's scheme (Drafter::scheme): pair sampled "
                "chains with chain_verifier or block_verifier, trees drawn with replacement with "
                "multi_draft_verifier, without replacement with rrs_verifier, deterministic drafts with "
                "one_hot_verifier or greedy_verifier; or pass unchecked_composition to accept the bias");

public:
  speculative_decoder(Target& target, Drafter& drafter, Verifier& verifier, speculation_options options = {})
      : target_(&target), drafter_(&drafter), verifier_(&verifier), options_(options) {
    options_.validate();
    vocab_ = static_cast<index_t>(target.vocab_size());
    expects(vocab_ >= 1, "target.vocab_size()", vocab_, ">= 1");
    if constexpr (bounded_context<Target>) max_context_ = static_cast<index_t>(target.max_context_length());
  }

  //! Starts request `request` (an id unique among live requests) with `prompt` (>= 1 token; its last
  //! token is the first root): prefills the target and tells the drafter. Throws for a live id, an
  //! empty prompt, a token outside the vocabulary or a bad option.
  void add_request(request_id request, std::span<const token_id> prompt, request_options options) {
    expects(find(request) == nullptr, "request", request, "an id not in use (release it first)");
    expects(!prompt.empty(), "prompt.size()", prompt.size(), ">= 1 (its last token is the first root)");
    expects(static_cast<index_t>(prompt.size()) <= max_context_, "prompt.size()", prompt.size(),
            "<= the target's max_context_length()");
    for (std::size_t i = 0; i < prompt.size(); ++i) {
      expects_element(prompt[i] >= 0 && prompt[i] < vocab_, "prompt", i, prompt[i], "a token id in [0, vocab_size)");
    }
    options.params.validate();
    expects(options.max_new_tokens >= 1, "max_new_tokens", options.max_new_tokens, ">= 1");
    for (std::size_t i = 0; i < options.stop_tokens.size(); ++i) {
      expects_element(options.stop_tokens[i] >= 0 && options.stop_tokens[i] < vocab_, "stop_tokens", i,
                      options.stop_tokens[i], "a token id in [0, vocab_size)");
    }
    request_state state;
    state.id = request;
    // Room for the whole generation up front (capped at 64k tokens), so warm steps never reallocate.
    state.tokens.reserve(prompt.size() + static_cast<std::size_t>(std::min<index_t>(options.max_new_tokens, index_t{1} << 16)) + 1);
    state.tokens.assign(prompt.begin(), prompt.end());
    state.prompt_length = static_cast<index_t>(prompt.size());
    state.options = std::move(options);
    state.depth_limit = options_.max_depth;
    target_->prefill(request, prompt);
    detail::drafter_start(*drafter_, request, prompt);
    if constexpr (passes_states) {
      const const_matrix_view<float> hidden = target_->last_hidden_states();
      const auto rows = static_cast<index_t>(prompt.size()) - 1;
      expects(hidden.rows() >= rows, "target.last_hidden_states().rows() after prefill", hidden.rows(),
              ">= prompt.size() - 1 (the prompt's cached tokens)");
      context_states states;
      states.request = request;
      states.tokens = prompt;
      states.first = 0;
      states.hidden = hidden.middle_rows(0, rows);
      drafter_->observe_states(states);
    }
    requests_.push_back(std::move(state));
  }

  //! Runs one decoding step for every running request. Returns the number of requests still running.
  index_t step() {
    using clock = std::chrono::steady_clock;
    active_.clear();
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      if (requests_[i].finish == finish_reason::running) active_.push_back(i);
    }
    if (active_.empty()) return 0;
    const auto t0 = clock::now();

    // Draft a tree per running request, within its budgets.
    if (drafts_.size() < active_.size()) drafts_.resize(active_.size());
    batch_.clear();
    requests_ids_.clear();
    committed_.clear();
    for (std::size_t k = 0; k < active_.size(); ++k) {
      request_state& r = requests_[active_[k]];
      draft_tree& d = drafts_[k];
      const index_t committed = static_cast<index_t>(r.tokens.size()) - 1;
      const index_t remaining = r.options.max_new_tokens - r.generated();
      draft_context context;
      context.request = r.id;
      context.tokens = r.tokens;
      context.vocab_size = vocab_;
      context.address = random_address{r.options.seed, r.id, r.step, 0, purpose::draft_sample};
      context.max_nodes = std::min(options_.max_nodes, max_context_ - committed);
      const index_t useful = options_.trim_to_remaining ? remaining - 1 : r.depth_limit;
      context.max_depth = r.speculating ? std::min({r.depth_limit, useful, context.max_nodes - 1}) : 0;
      d.reset(r.tokens.back(), vocab_);
      if (context.max_depth > 0) {
        drafter_->draft(context, d);
        check_draft(d, context, r.tokens.back());
      }
      d.pad_q_rows();
      batch_.push_back(d.tree);
      requests_ids_.push_back(r.id);
      committed_.push_back(static_cast<std::int32_t>(committed));
    }
    const auto t1 = clock::now();

    // Flatten and run one target forward over every node.
    const token_tree_batch_view trees = batch_.view();
    const index_t total = trees.total_nodes();
    index_t largest = 1;
    for (index_t b = 0; b < trees.batch_size(); ++b) largest = std::max(largest, trees.offsets().size(b));
    const index_t words = (largest + 31) / 32;
    positions_.resize(static_cast<std::size_t>(total));
    mask_.resize(static_cast<std::size_t>(total * words));
    position_ids(trees, std::span<const std::int32_t>(committed_), std::span<std::int32_t>(positions_));
    ancestor_mask_packed(trees, matrix_view<std::uint32_t>(mask_.data(), total, words));
    logits_.resize(static_cast<std::size_t>(total * vocab_));
    tree_forward_batch forward;
    forward.requests = requests_ids_;
    forward.trees = trees;
    forward.committed = committed_;
    forward.positions = positions_;
    forward.mask = const_matrix_view<std::uint32_t>(mask_.data(), total, words);
    target_->forward(forward, matrix_view<float>(logits_.data(), total, vocab_));
    const auto t2 = clock::now();

    // Verify each request.
    if (results_.size() < active_.size()) results_.resize(active_.size());
    for (std::size_t k = 0; k < active_.size(); ++k) {
      request_state& r = requests_[active_[k]];
      const index_t first = trees.offsets().begin(static_cast<index_t>(k));
      const index_t nodes = trees.offsets().size(static_cast<index_t>(k));
      verify_input in;
      in.tree = trees.tree(static_cast<index_t>(k));
      in.target_logits = const_matrix_view<float>(logits_.data() + first * vocab_, nodes, vocab_);
      in.draft_probs = drafts_[k].draft_probs();
      in.params = r.options.params;
      in.address = random_address{r.options.seed, r.id, r.step, 0, purpose::accept};
      in.stop_tokens = r.options.stop_tokens;
      detail::in_element("requests", r.id, [&] { verifier_->verify(in, results_[k]); });
    }
    const auto t3 = clock::now();

    // Commit: truncate, keep the accepted path's KV, append the tokens, feed the drafter back.
    for (std::size_t k = 0; k < active_.size(); ++k) {
      commit(requests_[active_[k]], drafts_[k], results_[k], trees.offsets().begin(static_cast<index_t>(k)));
    }
    ++stats_.steps;
    const auto t4 = clock::now();
    stats_.draft_seconds += std::chrono::duration<double>(t1 - t0).count();
    stats_.target_seconds += std::chrono::duration<double>(t2 - t1).count();
    stats_.verify_seconds += std::chrono::duration<double>(t3 - t2).count();
    stats_.bookkeeping_seconds += std::chrono::duration<double>(t4 - t3).count();
    index_t running = 0;
    for (const std::size_t i : active_) running += requests_[i].finish == finish_reason::running ? 1 : 0;
    return running;
  }

  //! Steps until every request has finished.
  void run() {
    while (step() > 0) {
    }
  }

  //! The generated tokens of `request` so far (prompt excluded); valid until the next step or release.
  [[nodiscard]] std::span<const token_id> tokens(request_id request) const {
    const request_state& r = live(request);
    return std::span<const token_id>(r.tokens).subspan(static_cast<std::size_t>(r.prompt_length));
  }
  //! Why `request` stopped, or `running`.
  [[nodiscard]] finish_reason status(request_id request) const { return live(request).finish; }
  //! Whether speculation is currently on for `request` (see `speculation_options::disable_below`).
  [[nodiscard]] bool speculating(request_id request) const { return live(request).speculating; }

  //! Ends `request` (finished or not): releases it in the target and the drafter.
  void release(request_id request) {
    const auto it = std::find_if(requests_.begin(), requests_.end(), [&](const request_state& r) { return r.id == request; });
    expects(it != requests_.end(), "request", request, "a live request");
    target_->release(request);
    detail::drafter_release(*drafter_, request);
    requests_.erase(it);
  }

  //! Generates from one prompt as request `request`, then releases it; returns the generated tokens.
  std::vector<token_id> generate(std::span<const token_id> prompt, request_options options, request_id request = 0) {
    add_request(request, prompt, std::move(options));
    while (status(request) == finish_reason::running) step();
    const std::span<const token_id> out = tokens(request);
    std::vector<token_id> result(out.begin(), out.end());
    release(request);
    return result;
  }

  [[nodiscard]] const decode_stats& stats() const noexcept { return stats_; }
  void reset_stats() { stats_.reset(); }
  [[nodiscard]] const speculation_options& options() const noexcept { return options_; }

private:
  struct request_state {
    request_id id = 0;
    std::vector<token_id> tokens;  // prompt, then generated tokens
    index_t prompt_length = 0;
    request_options options;
    std::uint32_t step = 0;
    finish_reason finish = finish_reason::running;
    index_t depth_limit = 0;
    bool speculating = true;
    index_t spec_steps = 0;        // speculative steps since (re-)enabling
    double window_accepted = 0.0;  // accepted drafts over the current window
    index_t off_steps = 0;         // steps since speculation was switched off
    [[nodiscard]] index_t generated() const noexcept { return static_cast<index_t>(tokens.size()) - prompt_length; }
  };

  [[nodiscard]] const request_state* find(request_id request) const {
    for (const auto& r : requests_) {
      if (r.id == request) return &r;
    }
    return nullptr;
  }
  [[nodiscard]] const request_state& live(request_id request) const {
    const request_state* r = find(request);
    expects(r != nullptr, "request", request, "a live request");
    return *r;
  }

  // A drafter that breaks its contract is a programming error in the drafter, not bad user input.
  void check_draft(const draft_tree& d, const draft_context& context, token_id root) const {
    const token_tree_view t = d.tree.view();
    const auto fail = [&](const std::string& what) {
      throw specdec::runtime_error("specdec: the drafter broke its contract for request " + std::to_string(context.request) +
                                   ": " + what);
    };
    if (t.token(0) != root) fail("the tree's root token is not the context's last token");
    if (t.size() > context.max_nodes) fail("the tree has " + std::to_string(t.size()) + " nodes, above max_nodes " + std::to_string(context.max_nodes));
    if (t.max_depth() > context.max_depth) fail("a draft at depth " + std::to_string(t.max_depth()) + ", above max_depth " + std::to_string(context.max_depth));
    if (d.draft_probs().rows() > 0 && d.vocab() != vocab_) fail("q rows span " + std::to_string(d.vocab()) + " tokens, not the target's vocabulary");
  }

  void commit(request_state& r, draft_tree& d, verify_result& result, index_t first_row) {
    const token_tree_view tree = d.tree.view();
    const index_t committed = static_cast<index_t>(r.tokens.size()) - 1;
    const index_t remaining = r.options.max_new_tokens - r.generated();
    index_t emit = static_cast<index_t>(result.tokens.size());
    finish_reason finish = result.stopped ? finish_reason::stop_token : finish_reason::running;
    if (emit >= remaining) {
      if (emit > remaining || finish == finish_reason::running) finish = finish_reason::length;
      emit = remaining;
    }
    // The last emitted token is always the next root, whose KV is not cached: the cache keeps the root
    // and the emitted drafts before it. Usually that token is the correction or bonus and every accepted
    // draft is kept; when emission ends on a draft (a stop token, or truncation at max_new_tokens), that
    // draft is the next root and the path is kept up to its parent.
    const index_t emitted_drafts = std::min(result.accepted(), emit);
    const index_t accepted = emit - 1;
    const std::span<const std::int32_t> kept_path = std::span<const std::int32_t>(result.path).first(static_cast<std::size_t>(accepted + 1));
    const std::size_t judged = emit == static_cast<index_t>(result.tokens.size())
                                   ? result.depth_accepted.size()
                                   : std::min(result.depth_accepted.size(), static_cast<std::size_t>(emitted_drafts));
    stats_.record(std::span<const std::uint8_t>(result.depth_accepted).first(judged), emitted_drafts, emit, tree.size() - 1);

    moves_.resize(static_cast<std::size_t>(std::max<index_t>(accepted, 1)));
    const index_t count = keep_list(tree, kept_path.subspan(1), committed, moves_);
    kv_commit c;
    c.request = r.id;
    c.committed_before = committed;
    c.committed_after = committed_kv_length(committed, accepted);
    c.moves = std::span<const kv_move>(moves_.data(), static_cast<std::size_t>(count));
    c.path = kept_path;
    target_->commit(c);

    r.tokens.insert(r.tokens.end(), result.tokens.begin(), result.tokens.begin() + emit);
    ++r.step;
    // The next root needs a cache slot: with `max_context` entries cached, the request is full (its
    // last token, never cached, is the `max_context + 1`-th).
    if (finish == finish_reason::running && static_cast<index_t>(r.tokens.size()) > max_context_) finish = finish_reason::context_full;
    r.finish = finish;
    adapt(r, tree, emitted_drafts);

    draft_feedback feedback;
    feedback.request = r.id;
    feedback.tokens = r.tokens;
    feedback.accepted = emitted_drafts;
    feedback.tree = tree;
    feedback.path = kept_path;
    detail::drafter_observe(*drafter_, feedback);
    if constexpr (passes_states) pass_states(r, kept_path, committed, first_row);
  }

  // The target's states of the tokens this step committed (the root and the kept drafts), gathered
  // from the forward's rows, for drafters that read them (head drafters).
  void pass_states(const request_state& r, std::span<const std::int32_t> kept_path, index_t committed, index_t first_row) {
    const const_matrix_view<float> hidden = target_->last_hidden_states();
    const index_t width = hidden.cols();
    gathered_.resize(kept_path.size() * static_cast<std::size_t>(width));
    for (std::size_t i = 0; i < kept_path.size(); ++i) {
      const auto row = hidden.row(first_row + kept_path[i]);
      std::copy(row.begin(), row.end(), gathered_.begin() + static_cast<std::ptrdiff_t>(i * static_cast<std::size_t>(width)));
    }
    context_states states;
    states.request = r.id;
    states.tokens = r.tokens;
    states.first = committed;
    states.hidden = const_matrix_view<float>(gathered_.data(), static_cast<index_t>(kept_path.size()), width);
    drafter_->observe_states(states);
  }

  // Speculation control: the adaptive depth limit and the switch-off of a request that does not gain.
  void adapt(request_state& r, const token_tree_view& tree, index_t accepted) {
    if (!r.speculating) {
      if (options_.retry_after > 0 && ++r.off_steps >= options_.retry_after) {
        r.speculating = true;
        r.spec_steps = 0;
        r.window_accepted = 0.0;
      }
      return;
    }
    const index_t drafted_depth = tree.max_depth();
    if (drafted_depth == 0) return;  // the drafter found nothing: no evidence either way
    if (options_.adaptive_depth) {
      r.depth_limit = accepted >= drafted_depth ? std::min(r.depth_limit + 1, options_.max_depth)
                                                : std::max(r.depth_limit - 1, options_.min_depth);
    }
    if (options_.disable_below > 0.0) {
      r.window_accepted += static_cast<double>(accepted);
      if (++r.spec_steps >= options_.window) {
        if (r.window_accepted / static_cast<double>(r.spec_steps) < options_.disable_below) {
          r.speculating = false;
          r.off_steps = 0;
        }
        r.spec_steps = 0;
        r.window_accepted = 0.0;
      }
    }
  }

  // Head drafters read the target's hidden states of committed tokens (`context_states`).
  static constexpr bool wants_states = requires(Drafter& d, const context_states& s) { d.observe_states(s); };
  static constexpr bool passes_states = wants_states && hidden_state_source<Target>;
  static_assert(!wants_states || hidden_state_source<Target>,
                "the drafter reads the target's hidden states (observe_states): the target must satisfy "
                "hidden_state_source (hidden_size() and last_hidden_states())");

  Target* target_;
  Drafter* drafter_;
  Verifier* verifier_;
  speculation_options options_;
  index_t vocab_ = 0;
  index_t max_context_ = INT32_MAX;
  std::vector<request_state> requests_;
  std::vector<std::size_t> active_;
  std::vector<draft_tree> drafts_;
  std::vector<verify_result> results_;
  token_tree_batch batch_;
  std::vector<request_id> requests_ids_;
  std::vector<std::int32_t> committed_;
  std::vector<std::int32_t> positions_;
  std::vector<std::uint32_t> mask_;
  std::vector<float> logits_;
  std::vector<kv_move> moves_;
  std::vector<float> gathered_;
  decode_stats stats_;
};

} // namespace v0
} // namespace specdec
