// The llama2.c model behind specdec's target_model concept.
#include "llama_target.hpp"

#include <algorithm>
#include <string>

#include <specdec/core/error.hpp>

namespace llama {

llama_target::llama_target(const llama_model& model, index_t max_context)
    : model_(&model), max_context_(max_context == 0 ? model.config().seq_len : max_context), pass_(model) {
  specdec::expects(max_context_ >= 2 && max_context_ <= model.config().seq_len, "max_context", max_context_,
                   "in [2, the model's seq_len] (RoPE tables end there)");
}

llama_target::request_state& llama_target::state(request_id request) {
  if (request >= requests_.size()) requests_.resize(static_cast<std::size_t>(request) + 1);
  return requests_[request];
}

index_t llama_target::length(request_id request) const {
  return request < requests_.size() && requests_[request].live ? requests_[request].length : 0;
}

void llama_target::prefill(request_id request, std::span<const token_id> prompt) {
  specdec::expects(!prompt.empty(), "prompt.size()", prompt.size(), ">= 1 (its last token is the first root)");
  specdec::expects(static_cast<index_t>(prompt.size()) <= max_context_, "prompt.size()", prompt.size(), "<= max_context_length()");
  for (std::size_t i = 0; i < prompt.size(); ++i) {
    specdec::expects_element(prompt[i] >= 0 && prompt[i] < vocab_size(), "prompt", i, prompt[i], "a token id in [0, vocab_size)");
  }
  request_state& s = state(request);
  if (s.cache.capacity() != max_context_) s.cache = kv_cache(model_->config(), max_context_);
  s.live = true;
  s.length = 0;
  // Every prompt token but the last, in causal chunks (one matrix-matrix pass per chunk).
  const index_t cached = static_cast<index_t>(prompt.size()) - 1;
  prefill_hidden_.clear();
  constexpr index_t chunk = 128;
  for (index_t start = 0; start < cached; start += chunk) {
    const index_t rows = std::min(chunk, cached - start);
    index_t words = 0;
    causal_mask(rows, mask_, words);
    positions_.resize(static_cast<std::size_t>(rows));
    for (index_t r = 0; r < rows; ++r) positions_[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(start + r);
    segment seg;
    seg.context = &s.cache;
    seg.window = &s.cache;
    seg.rows = rows;
    seg.prefix = start;
    seg.window_begin = start;
    seg.mask = const_matrix_view<std::uint32_t>(mask_.data(), rows, words);
    pass_.run(prompt.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(rows)), positions_,
              std::span<const segment>(&seg, 1), model_->config().n_layers, 0, matrix_view<float>());
    const const_matrix_view<float> states = pass_.hidden();
    for (index_t r = 0; r < states.rows(); ++r) prefill_hidden_.insert(prefill_hidden_.end(), states.row(r).begin(), states.row(r).end());
  }
  prefill_rows_ = cached;
  from_prefill_ = true;
  s.length = cached;
  s.written = cached;
}

void llama_target::check_batch(const specdec::tree_forward_batch& batch, matrix_view<float> logits, index_t layers) {
  specdec::expects(layers >= 1 && layers <= model_->config().n_layers, "layers", layers, "in [1, num_layers()]");
  specdec::expects(logits.rows() >= batch.total_nodes() && logits.cols() == vocab_size(), "logits.cols()", logits.cols(),
                   "== vocab_size() with a row per tree node");
  specdec::expects(static_cast<index_t>(batch.positions.size()) >= batch.total_nodes(), "batch.positions.size()",
                   batch.positions.size(), ">= total nodes");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const request_id r = batch.requests[static_cast<std::size_t>(b)];
    const index_t committed = batch.committed[static_cast<std::size_t>(b)];
    if (r >= requests_.size() || !requests_[r].live || requests_[r].length != committed) {
      throw specdec::runtime_error("llama_target: forward for request " + std::to_string(r) + " with committed = " +
                                   std::to_string(committed) + " but its cache holds " + std::to_string(length(r)) + " entries");
    }
    const specdec::token_tree_view tree = batch.trees.tree(b);
    specdec::expects(committed + tree.size() <= max_context_, "committed + tree size", committed + tree.size(),
                     "<= max_context_length()");
    specdec::expects(batch.mask.cols() * 32 >= tree.size(), "batch.mask.cols()", batch.mask.cols(), ">= ceil(tree size / 32)");
    const index_t first = batch.trees.offsets().begin(b);
    for (index_t i = 0; i < tree.size(); ++i) {
      specdec::expects_element(tree.token(i) >= 0 && tree.token(i) < vocab_size(), "tree tokens", i, tree.token(i),
                               "a token id in [0, vocab_size)");
      const std::int32_t pos = batch.positions[static_cast<std::size_t>(first + i)];
      specdec::expects_element(pos >= committed && pos < committed + tree.size(), "batch.positions", first + i, pos,
                               "in [committed, committed + tree size)");
    }
  }
}

void llama_target::run(const specdec::tree_forward_batch& batch, index_t layers, bool partial, matrix_view<float> logits) {
  check_batch(batch, logits, layers);
  from_prefill_ = false;
  const index_t total = batch.total_nodes();
  tokens_.resize(static_cast<std::size_t>(total));
  segments_.resize(static_cast<std::size_t>(batch.batch_size()));
  if (partial && scratch_.size() < static_cast<std::size_t>(batch.batch_size())) scratch_.resize(static_cast<std::size_t>(batch.batch_size()));
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    request_state& s = requests_[batch.requests[static_cast<std::size_t>(b)]];
    const specdec::token_tree_view tree = batch.trees.tree(b);
    const index_t first = batch.trees.offsets().begin(b);
    std::copy(tree.tokens().begin(), tree.tokens().end(), tokens_.begin() + first);
    segment& seg = segments_[static_cast<std::size_t>(b)];
    seg.context = &s.cache;
    seg.first_row = first;
    seg.rows = tree.size();
    seg.first_local = 0;
    seg.prefix = s.length;
    seg.mask = batch.mask.middle_rows(first, tree.size());
    if (partial) {
      kv_cache& scratch = scratch_[static_cast<std::size_t>(b)];
      if (scratch.capacity() < tree.size()) scratch = kv_cache(model_->config(), std::max<index_t>(tree.size(), 64));
      seg.window = &scratch;
      seg.window_begin = 0;
    } else {
      seg.window = &s.cache;
      seg.window_begin = s.length;  // node i -> slot committed + i
      s.written = s.length + tree.size();
    }
  }
  pass_.run(tokens_, batch.positions.first(static_cast<std::size_t>(total)), segments_, layers, 0, logits.middle_rows(0, total));
  if (partial) {
    ++calls_.partial_forwards;
    calls_.partial_nodes += static_cast<std::uint64_t>(total);
  } else {
    ++calls_.forwards;
    calls_.nodes += static_cast<std::uint64_t>(total);
  }
}

void llama_target::forward(const specdec::tree_forward_batch& batch, matrix_view<float> logits) {
  run(batch, model_->config().n_layers, false, logits);
}

void llama_target::forward_partial(const specdec::tree_forward_batch& batch, index_t layers, matrix_view<float> logits) {
  run(batch, layers, true, logits);
}

void llama_target::commit(const specdec::kv_commit& c) {
  if (c.request >= requests_.size() || !requests_[c.request].live || requests_[c.request].length != c.committed_before) {
    throw specdec::runtime_error("llama_target: commit for request " + std::to_string(c.request) + " with committed_before = " +
                                 std::to_string(c.committed_before) + " but its cache holds " + std::to_string(length(c.request)) +
                                 " entries");
  }
  request_state& s = requests_[c.request];
  specdec::expects(c.committed_after >= c.committed_before && c.committed_after <= s.written, "committed_after", c.committed_after,
                   "in [committed_before, the entries the forward wrote]");
  for (std::size_t k = 0; k < c.moves.size(); ++k) {
    const specdec::kv_move m = c.moves[k];
    specdec::expects_element(m.dst >= c.committed_before && m.dst < m.src && m.src < s.written, "moves", k, m.src,
                             "a move backwards within the entries the forward wrote");
    s.cache.move(m.src, m.dst);
  }
  s.length = c.committed_after;
  s.written = s.length;
}

void llama_target::release(request_id request) {
  if (request < requests_.size()) {
    requests_[request].live = false;
    requests_[request].length = requests_[request].written = 0;
  }
}

void llama_target::embed(std::span<const token_id> tokens, matrix_view<float> out) const {
  const index_t d = model_->config().dim;
  specdec::expects(out.rows() >= static_cast<index_t>(tokens.size()) && out.cols() == d, "out.cols()", out.cols(),
                   "== hidden_size() with a row per token");
  for (std::size_t r = 0; r < tokens.size(); ++r) {
    specdec::expects_element(tokens[r] >= 0 && tokens[r] < vocab_size(), "tokens", r, tokens[r], "a token id in [0, vocab_size)");
    std::copy_n(model_->token_embedding() + tokens[r] * d, d, out.row_data(static_cast<index_t>(r)));
  }
}

} // namespace llama
