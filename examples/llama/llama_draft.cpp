// The llama2.c model behind specdec's draft_model and tree_draft_model concepts.
#include "llama_draft.hpp"

#include <algorithm>

#include <specdec/core/error.hpp>
#include <specdec/tree/ancestor_mask.hpp>

namespace llama {

llama_draft::llama_draft(const llama_model& model, index_t layers, index_t max_context)
    : model_(&model), layers_(layers == 0 ? model.config().n_layers : layers),
      max_context_(max_context == 0 ? model.config().seq_len : max_context), pass_(model) {
  specdec::expects(layers_ >= 1 && layers_ <= model.config().n_layers, "layers", layers_, "in [1, the model's n_layers]");
  specdec::expects(max_context_ >= 2 && max_context_ <= model.config().seq_len, "max_context", max_context_,
                   "in [2, the model's seq_len]");
}

llama_draft::request_state& llama_draft::state(request_id request) {
  if (request >= requests_.size()) requests_.resize(static_cast<std::size_t>(request) + 1);
  request_state& s = requests_[request];
  if (s.cache.capacity() != max_context_) s.cache = kv_cache(model_->config(), max_context_);
  return s;
}

index_t llama_draft::length(request_id request) const {
  return request < requests_.size() ? requests_[request].length : 0;
}

void llama_draft::extend(request_id request, std::span<const token_id> tokens, std::span<float> next_logits) {
  specdec::expects(!tokens.empty(), "tokens.size()", tokens.size(), ">= 1");
  specdec::expects(static_cast<index_t>(next_logits.size()) == vocab_size(), "next_logits.size()", next_logits.size(), "== vocab_size()");
  request_state& s = state(request);
  const auto n = static_cast<index_t>(tokens.size());
  specdec::expects(s.length + n <= max_context_, "length + tokens", s.length + n, "<= max_context (the draft's cache)");
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    specdec::expects_element(tokens[i] >= 0 && tokens[i] < vocab_size(), "tokens", i, tokens[i], "a token id in [0, vocab_size)");
  }
  s.tree_base = -1;
  index_t words = 0;
  causal_mask(n, mask_, words);
  positions_.resize(static_cast<std::size_t>(n));
  for (index_t r = 0; r < n; ++r) positions_[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(s.length + r);
  segment seg;
  seg.context = &s.cache;
  seg.window = &s.cache;
  seg.rows = n;
  seg.prefix = s.length;
  seg.window_begin = s.length;
  seg.mask = const_matrix_view<std::uint32_t>(mask_.data(), n, words);
  // Only the last token's logits are needed: the classifier runs on that row alone.
  pass_.run(tokens, positions_, std::span<const segment>(&seg, 1), layers_, n - 1,
            matrix_view<float>(next_logits.data(), 1, vocab_size()));
  s.length += n;
  ++calls_.forwards;
  calls_.tokens += static_cast<std::uint64_t>(n);
}

void llama_draft::extend_tree(request_id request, const specdec::token_tree_view& tree, index_t first, matrix_view<float> logits) {
  request_state& s = state(request);
  specdec::expects(first >= 1 && first <= tree.size(), "first", first, "in [1, tree.size()]");
  specdec::expects(s.length >= 1, "request", request, "a request whose cache holds the tree's root");
  if (first == 1) s.tree_base = s.length;
  specdec::expects(s.tree_base >= 1 && s.length == s.tree_base + first - 1, "first", first,
                   "the next unevaluated node (nodes [1, first) evaluated since the tree began)");
  const index_t n = tree.size() - first;
  specdec::expects(logits.rows() >= n && logits.cols() == vocab_size(), "logits.cols()", logits.cols(),
                   "== vocab_size() with a row per new node");
  specdec::expects(s.tree_base - 1 + tree.size() <= max_context_, "tree_base + tree size", s.tree_base - 1 + tree.size(),
                   "<= max_context (the draft's cache)");
  if (n == 0) return;
  // Node i sits at slot base - 1 + i (the root, node 0, is the last cached token) and position
  // base - 1 + depth(i); it sees the context before the root and its own ancestors, root included.
  const index_t words = (tree.size() + 31) / 32;
  mask_.assign(static_cast<std::size_t>(tree.size() * words), 0u);
  specdec::ancestor_mask_packed(tree, matrix_view<std::uint32_t>(mask_.data(), tree.size(), words));
  const index_t origin = s.tree_base - 1;
  tokens_.assign(tree.tokens().begin() + first, tree.tokens().end());
  positions_.resize(static_cast<std::size_t>(n));
  for (index_t r = 0; r < n; ++r) {
    specdec::expects_element(tokens_[static_cast<std::size_t>(r)] >= 0 && tokens_[static_cast<std::size_t>(r)] < vocab_size(),
                             "tree tokens", first + r, tokens_[static_cast<std::size_t>(r)], "a token id in [0, vocab_size)");
    positions_[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(origin + tree.depth(first + r));
  }
  segment seg;
  seg.context = &s.cache;
  seg.window = &s.cache;
  seg.rows = n;
  seg.first_local = first;
  seg.prefix = origin;
  seg.window_begin = origin;
  seg.mask = const_matrix_view<std::uint32_t>(mask_.data() + first * words, n, words);
  pass_.run(tokens_, positions_, std::span<const segment>(&seg, 1), layers_, 0, logits.middle_rows(0, n));
  s.length += n;
  ++calls_.forwards;
  calls_.tokens += static_cast<std::uint64_t>(n);
}

void llama_draft::rollback(request_id request, index_t length) {
  request_state& s = state(request);
  specdec::expects(length >= 0 && length <= s.length, "length", length, "<= length(request)");
  s.length = length;
  if (s.tree_base > length) s.tree_base = -1;
}

void llama_draft::release(request_id request) {
  if (request < requests_.size()) {
    requests_[request].length = 0;
    requests_[request].tree_base = -1;
  }
}

} // namespace llama
