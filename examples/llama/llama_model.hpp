//! A llama2.c-format Llama model (weights, loader, KV caches) and its batched forward pass: the real
//! transformer behind the specdec integration of examples/llama. Eigen stays inside llama_model.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <specdec/core/matrix_view.hpp>
#include <specdec/core/types.hpp>

namespace llama {

using specdec::const_matrix_view;
using specdec::index_t;
using specdec::matrix_view;
using specdec::token_id;

//! The checkpoint header: 7 int32 in llama2.c's order. A negative vocabulary size in the file means
//! a separate classifier matrix follows the weights (`shared_classifier` false).
struct llama_config {
  index_t dim = 0;
  index_t hidden_dim = 0;
  index_t n_layers = 0;
  index_t n_heads = 0;
  index_t n_kv_heads = 0;
  index_t vocab_size = 0;
  index_t seq_len = 0;
  bool shared_classifier = true;

  [[nodiscard]] index_t head_size() const noexcept { return dim / n_heads; }
  [[nodiscard]] index_t kv_dim() const noexcept { return dim * n_kv_heads / n_heads; }
  //! Throws `specdec::invalid_argument` naming the field unless the shape is a valid Llama shape
  //! (every size in [1, 2^20], heads dividing dim, kv heads dividing heads, an even head size).
  void validate() const;
  //! The float32 weights that follow the header, llama2.c's RoPE tables and classifier included.
  [[nodiscard]] std::uint64_t weight_floats() const noexcept;
  //! A stories110M-shaped config (dim 768, 12 layers, 12 heads, vocab 32000) for timing.
  static llama_config stories110m() noexcept;
  static llama_config make(index_t dim, index_t hidden_dim, index_t layers, index_t heads, index_t kv_heads, index_t vocab,
                           index_t seq_len) noexcept;
};

//! The weights, row-major [out, in] as in llama2.c, plus RoPE cos/sin tables computed as run.c does.
class llama_model {
public:
  //! Loads a llama2.c checkpoint (the legacy format: header, then float32 weights in llama2.c's
  //! order). Throws `specdec::invalid_argument` naming the field and value for a bad header and for a
  //! file whose size is not exactly header + weights (truncated or oversized), `specdec::runtime_error`
  //! when the file cannot be read.
  static llama_model load(const std::string& path);
  //! The same, from the bytes of a checkpoint (`source` names it in error messages).
  static llama_model from_bytes(std::span<const std::byte> bytes, const std::string& source = "checkpoint");
  //! A model of shape `config` with weights uniform in [-scale, scale] (norms 1): for timing only.
  static llama_model random(const llama_config& config, std::uint64_t seed, float scale = 0.02f);

  [[nodiscard]] const llama_config& config() const noexcept { return config_; }

  // Weight pointers (row-major [out, in]).
  [[nodiscard]] const float* token_embedding() const noexcept { return token_embedding_; }
  [[nodiscard]] const float* rms_att(index_t l) const noexcept { return rms_att_ + l * config_.dim; }
  [[nodiscard]] const float* wq(index_t l) const noexcept { return wq_ + l * config_.dim * config_.dim; }
  [[nodiscard]] const float* wk(index_t l) const noexcept { return wk_ + l * config_.kv_dim() * config_.dim; }
  [[nodiscard]] const float* wv(index_t l) const noexcept { return wv_ + l * config_.kv_dim() * config_.dim; }
  [[nodiscard]] const float* wo(index_t l) const noexcept { return wo_ + l * config_.dim * config_.dim; }
  [[nodiscard]] const float* rms_ffn(index_t l) const noexcept { return rms_ffn_ + l * config_.dim; }
  [[nodiscard]] const float* w1(index_t l) const noexcept { return w1_ + l * config_.hidden_dim * config_.dim; }
  [[nodiscard]] const float* w2(index_t l) const noexcept { return w2_ + l * config_.dim * config_.hidden_dim; }
  [[nodiscard]] const float* w3(index_t l) const noexcept { return w3_ + l * config_.hidden_dim * config_.dim; }
  [[nodiscard]] const float* rms_final() const noexcept { return rms_final_; }
  [[nodiscard]] const float* classifier() const noexcept { return wcls_; }
  //! cos and sin of position `pos` for rotation pair `i` (i < head_size / 2).
  [[nodiscard]] const float* rope_cos(index_t pos) const noexcept { return rope_cos_.data() + pos * (config_.head_size() / 2); }
  [[nodiscard]] const float* rope_sin(index_t pos) const noexcept { return rope_sin_.data() + pos * (config_.head_size() / 2); }

private:
  void bind();  // points the weight pointers into data_ and builds the RoPE tables

  llama_config config_;
  std::vector<float> data_;
  const float* token_embedding_ = nullptr;
  const float* rms_att_ = nullptr;
  const float* wq_ = nullptr;
  const float* wk_ = nullptr;
  const float* wv_ = nullptr;
  const float* wo_ = nullptr;
  const float* rms_ffn_ = nullptr;
  const float* w1_ = nullptr;
  const float* w2_ = nullptr;
  const float* w3_ = nullptr;
  const float* rms_final_ = nullptr;
  const float* wcls_ = nullptr;
  std::vector<float> rope_cos_;
  std::vector<float> rope_sin_;
};

//! One sequence's KV cache: for each layer, K and V as `[capacity, kv_dim]` (slot-major), so a commit
//! move copies one contiguous row per layer and tensor.
class kv_cache {
public:
  kv_cache() = default;
  kv_cache(const llama_config& config, index_t capacity);

  [[nodiscard]] index_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] float* k(index_t layer, index_t slot) noexcept { return data_.data() + ((layer * 2) * capacity_ + slot) * kv_dim_; }
  [[nodiscard]] float* v(index_t layer, index_t slot) noexcept { return data_.data() + ((layer * 2 + 1) * capacity_ + slot) * kv_dim_; }
  [[nodiscard]] const float* k(index_t layer, index_t slot) const noexcept {
    return data_.data() + ((layer * 2) * capacity_ + slot) * kv_dim_;
  }
  [[nodiscard]] const float* v(index_t layer, index_t slot) const noexcept {
    return data_.data() + ((layer * 2 + 1) * capacity_ + slot) * kv_dim_;
  }
  //! Copies every layer's K and V of slot `src` to slot `dst`.
  void move(index_t src, index_t dst) noexcept;

private:
  index_t capacity_ = 0;
  index_t layers_ = 0;
  index_t kv_dim_ = 0;
  std::vector<float> data_;
};

//! The rows of one pass that belong to one sequence. Row `r` of the segment (pass row `first_row + r`)
//! is local node `first_local + r`: it is written to `window` at slot `window_begin + first_local + r`
//! and attends to slots `[0, prefix)` of `context` and to the slots `window_begin + j` of `window` for
//! every bit `j` set in `mask` row `r` (TensorRT-LLM's packed layout: bit j % 32 of word j / 32).
//! `context` and `window` are the same cache for a target forward; a partial (layer-skip) forward reads
//! the committed context from the target's cache and writes its own nodes to a scratch cache.
struct segment {
  const kv_cache* context = nullptr;
  kv_cache* window = nullptr;
  index_t first_row = 0;
  index_t rows = 0;
  index_t first_local = 0;
  index_t prefix = 0;
  index_t window_begin = 0;
  const_matrix_view<std::uint32_t> mask;
};

//! The causal mask of `rows` consecutive tokens (row r sees locals 0..r), TensorRT-LLM's packed layout.
void causal_mask(index_t rows, std::vector<std::uint32_t>& words, index_t& words_per_row);

//! One batched forward pass with its workspace (kept between calls: a warm pass does not allocate
//! unless the row count grows). All rows of all segments go through every weight matrix together --
//! one matrix-matrix product per weight per layer -- and attend per row as their segment says.
class forward_pass {
public:
  explicit forward_pass(const llama_model& model);
  ~forward_pass();
  forward_pass(forward_pass&&) noexcept;
  forward_pass& operator=(forward_pass&&) noexcept;

  //! Evaluates `tokens` (row r at position `positions[r]`) through the first `layers` layers, then the
  //! final RMSNorm; writes the KV of every row to its segment's window, keeps the normalised last
  //! states (`hidden()`), and writes the next-token logits of rows `[logits_from, rows)` to `logits`
  //! (`[rows - logits_from, vocab]`; pass an empty view to skip the classifier). The segments must
  //! cover rows `[0, tokens.size())`, each row once. The caller has checked slots and positions.
  void run(std::span<const token_id> tokens, std::span<const std::int32_t> positions, std::span<const segment> segments,
           index_t layers, index_t logits_from, matrix_view<float> logits);

  //! The final-norm states of the latest `run`, `[rows, dim]`.
  [[nodiscard]] const_matrix_view<float> hidden() const noexcept;

  //! `logits[r] = classifier * states[r]` for `[rows, dim]` states (the LM head).
  void lm_head(const_matrix_view<float> states, matrix_view<float> logits) const;

private:
  struct workspace;
  const llama_model* model_;
  std::unique_ptr<workspace> ws_;
};

} // namespace llama
