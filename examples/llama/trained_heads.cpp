// The trained head backends (Eigen).
#include "trained_heads.hpp"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include <specdec/core/error.hpp>

namespace llama {

namespace {

using row_map = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using vec_map = Eigen::Map<const Eigen::VectorXf>;
using out_map = Eigen::Map<Eigen::VectorXf>;

// y = W x + b for a row-major W [out, in].
void dense(const std::vector<float>& w, const std::vector<float>* b, index_t out, index_t in, const float* x, float* y) {
  out_map ym(y, out);
  ym.noalias() = row_map(w.data(), out, in) * vec_map(x, in);
  if (b != nullptr) ym += vec_map(b->data(), out);
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// Checks the file's kind and shape metadata against the target; returns the depth.
index_t check_header(const safetensors& file, const std::string& kind, const llama_model& target) {
  specdec::expects(file.meta("kind") == kind, file.source() + ": __metadata__.kind", file.meta("kind"), kind);
  const auto& c = target.config();
  specdec::expects(file.meta_int("dim", 1, 1 << 16) == c.dim, file.source() + ": __metadata__.dim", file.meta("dim"),
                   "== the target's dim (" + std::to_string(c.dim) + ")");
  specdec::expects(file.meta_int("vocab_size", 1, 1 << 22) == c.vocab_size, file.source() + ": __metadata__.vocab_size",
                   file.meta("vocab_size"), "== the target's vocab_size (" + std::to_string(c.vocab_size) + ")");
  return static_cast<index_t>(file.meta_int("depth", 1, 64));
}

void rmsnorm(const float* x, const float* w, index_t n, float* out) {
  float ss = 0.0f;
  for (index_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + 1e-5f);
  for (index_t i = 0; i < n; ++i) out[i] = w[i] * (scale * x[i]);
}

// RoPE at `position` over a vector of heads (llama2.c: rotate pairs (i, i+1), frequency from i mod hs).
void rope(const llama_model& m, index_t position, float* v, index_t size) {
  const index_t hs = m.config().head_size();
  const float* cs = m.rope_cos(position);
  const float* sn = m.rope_sin(position);
  for (index_t i = 0; i < size; i += 2) {
    const index_t j = (i % hs) / 2;
    const float a = v[i], b = v[i + 1];
    v[i] = a * cs[j] - b * sn[j];
    v[i + 1] = a * sn[j] + b * cs[j];
  }
}

// One row through a llama2.c layer at `position` (pre-norm attention with RoPE and grouped KV heads,
// pre-norm SwiGLU; the same arithmetic as llama_model.cpp's pass). The row attends to the `ctx_rows`
// rows of `ctx`, then to the `extra` (key, value) rows, then to itself; its own key and value are
// written to k_self / v_self.
void layer_row(const layer_weights& w, const llama_model& m, const float* x, index_t position, const draft_kv& ctx, index_t ctx_rows,
               std::span<const std::pair<const float*, const float*>> extra, float* k_self, float* v_self, float* out) {
  const llama_config& c = m.config();
  const index_t d = c.dim, kvd = c.kv_dim(), hs = c.head_size(), group = c.n_heads / c.n_kv_heads;
  std::vector<float> xn(static_cast<std::size_t>(d)), q(static_cast<std::size_t>(d)), att(static_cast<std::size_t>(d), 0.0f);
  rmsnorm(x, w.rms_att.data(), d, xn.data());
  dense(w.wq, nullptr, d, d, xn.data(), q.data());
  dense(w.wk, nullptr, kvd, d, xn.data(), k_self);
  dense(w.wv, nullptr, kvd, d, xn.data(), v_self);
  rope(m, position, q.data(), d);
  rope(m, position, k_self, kvd);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const index_t total = ctx_rows + static_cast<index_t>(extra.size()) + 1;
  std::vector<float> scores(static_cast<std::size_t>(total));
  const auto key = [&](index_t i) {
    return i < ctx_rows ? ctx.k.data() + i * kvd
                        : i < total - 1 ? extra[static_cast<std::size_t>(i - ctx_rows)].first : static_cast<const float*>(k_self);
  };
  const auto value = [&](index_t i) {
    return i < ctx_rows ? ctx.v.data() + i * kvd
                        : i < total - 1 ? extra[static_cast<std::size_t>(i - ctx_rows)].second : static_cast<const float*>(v_self);
  };
  for (index_t h = 0; h < c.n_heads; ++h) {
    const float* qh = q.data() + h * hs;
    const index_t off = (h / group) * hs;
    float mx = -INFINITY;
    for (index_t i = 0; i < total; ++i) {
      float dot = 0.0f;
      for (index_t j = 0; j < hs; ++j) dot += qh[j] * key(i)[off + j];
      scores[static_cast<std::size_t>(i)] = dot * scale;
      mx = std::max(mx, dot * scale);
    }
    float sum = 0.0f;
    for (float& sc : scores) sum += (sc = std::exp(sc - mx));
    float* oh = att.data() + h * hs;
    for (index_t i = 0; i < total; ++i) {
      const float p = scores[static_cast<std::size_t>(i)] / sum;
      for (index_t j = 0; j < hs; ++j) oh[j] += p * value(i)[off + j];
    }
  }
  std::vector<float> x2(static_cast<std::size_t>(d)), h1(static_cast<std::size_t>(c.hidden_dim)), h3(static_cast<std::size_t>(c.hidden_dim));
  dense(w.wo, nullptr, d, d, att.data(), x2.data());
  for (index_t i = 0; i < d; ++i) x2[static_cast<std::size_t>(i)] += x[i];
  rmsnorm(x2.data(), w.rms_ffn.data(), d, xn.data());
  dense(w.w1, nullptr, c.hidden_dim, d, xn.data(), h1.data());
  dense(w.w3, nullptr, c.hidden_dim, d, xn.data(), h3.data());
  for (std::size_t i = 0; i < h1.size(); ++i) h1[i] = silu(h1[i]) * h3[i];
  dense(w.w2, nullptr, d, c.hidden_dim, h1.data(), out);
  for (index_t i = 0; i < d; ++i) out[i] += x2[static_cast<std::size_t>(i)];
}

// Clover-2's attention decoder: x + v(y) * cos(q(norm(x)), k(y)) per attention head.
void res_attention(const clover_backend::attention_weights& w, index_t d, index_t heads, const float* x, const float* y, float* out) {
  std::vector<float> xn(static_cast<std::size_t>(d)), q(static_cast<std::size_t>(d)), k(static_cast<std::size_t>(d)), v(static_cast<std::size_t>(d));
  rmsnorm(x, w.norm.data(), d, xn.data());
  dense(w.q, &w.qb, d, d, xn.data(), q.data());
  dense(w.k, &w.kb, d, d, y, k.data());
  dense(w.v, &w.vb, d, d, y, v.data());
  const index_t hs = d / heads;
  for (index_t h = 0; h < heads; ++h) {
    float qk = 0.0f, qq = 0.0f, kk = 0.0f;
    for (index_t j = h * hs; j < (h + 1) * hs; ++j) {
      const auto ju = static_cast<std::size_t>(j);
      qk += q[ju] * k[ju];
      qq += q[ju] * q[ju];
      kk += k[ju] * k[ju];
    }
    const float cosine = qk / std::max(std::sqrt(qq) * std::sqrt(kk), 1e-5f);
    for (index_t j = h * hs; j < (h + 1) * hs; ++j) out[j] = x[j] + v[static_cast<std::size_t>(j)] * cosine;
  }
}

void append_kv(draft_kv& kv, index_t kvd, const float* k, const float* v) {
  kv.k.insert(kv.k.end(), k, k + kvd);
  kv.v.insert(kv.v.end(), v, v + kvd);
  ++kv.rows;
}

// Request r's entry of a per-request table, grown on first use.
template <class Context>
Context& entry(std::vector<Context>& table, specdec::request_id r) {
  if (r >= table.size()) table.resize(static_cast<std::size_t>(r) + 1);
  return table[r];
}

// Slot s of a [slots, dim] state table that grows geometrically.
float* state_row(std::vector<float>& table, std::int32_t s, index_t dim) {
  const auto need = (static_cast<std::size_t>(s) + 1) * static_cast<std::size_t>(dim);
  if (table.size() < need) table.resize(std::max(need, 2 * table.size()));
  return table.data() + static_cast<std::size_t>(s) * static_cast<std::size_t>(dim);
}

} // namespace

layer_weights layer_weights::load(const safetensors& file, const std::string& p, const llama_config& c) {
  layer_weights w;
  w.rms_att = file.f32(p + ".rms_att", {c.dim});
  w.wq = file.f32(p + ".wq", {c.dim, c.dim});
  w.wk = file.f32(p + ".wk", {c.kv_dim(), c.dim});
  w.wv = file.f32(p + ".wv", {c.kv_dim(), c.dim});
  w.wo = file.f32(p + ".wo", {c.dim, c.dim});
  w.rms_ffn = file.f32(p + ".rms_ffn", {c.dim});
  w.w1 = file.f32(p + ".w1", {c.hidden_dim, c.dim});
  w.w2 = file.f32(p + ".w2", {c.dim, c.hidden_dim});
  w.w3 = file.f32(p + ".w3", {c.hidden_dim, c.dim});
  return w;
}

// ---- Medusa -------------------------------------------------------------------------------------

medusa_backend::medusa_backend(const safetensors& file, const llama_model& target)
    : heads_(check_header(file, "medusa", target)), dim_(target.config().dim), vocab_(target.config().vocab_size) {
  for (index_t k = 0; k < heads_; ++k) {
    const std::string p = "medusa." + std::to_string(k);
    block_w_.push_back(file.f32(p + ".block.weight", {dim_, dim_}));
    block_b_.push_back(file.f32(p + ".block.bias", {dim_}));
    lm_head_.push_back(file.f32(p + ".lm_head.weight", {vocab_, dim_}));
  }
  scratch_.resize(static_cast<std::size_t>(2 * dim_));
}

void medusa_backend::apply_heads(const_matrix_view<float> states, matrix_view<float> logits) {
  specdec::expects(states.cols() == dim_, "states.cols()", states.cols(), "== hidden_size()");
  specdec::expects(logits.rows() >= states.rows() * heads_ && logits.cols() == vocab_, "logits.cols()", logits.cols(),
                   "== vocab_size() with rows() * num_heads() rows");
  ++calls_.root_calls;
  calls_.root_rows += static_cast<std::uint64_t>(states.rows());
  float* block = scratch_.data();
  for (index_t r = 0; r < states.rows(); ++r) {
    const float* s = states.row_data(r);
    for (index_t k = 0; k < heads_; ++k) {
      const auto ku = static_cast<std::size_t>(k);
      dense(block_w_[ku], &block_b_[ku], dim_, dim_, s, block);
      for (index_t i = 0; i < dim_; ++i) block[i] = s[i] + silu(block[i]);  // residual SiLU block
      dense(lm_head_[ku], nullptr, vocab_, dim_, block, logits.row_data(r * heads_ + k));
    }
  }
}

// ---- Hydra --------------------------------------------------------------------------------------

hydra_backend::hydra_backend(const safetensors& file, const llama_model& target)
    : target_(&target), depth_(check_header(file, "hydra", target)), dim_(target.config().dim), vocab_(target.config().vocab_size) {
  for (index_t d = 0; d < depth_; ++d) {
    const std::string p = "hydra." + std::to_string(d);
    fc1_w_.push_back(file.f32(p + ".fc1.weight", {dim_, 2 * dim_}));
    fc1_b_.push_back(file.f32(p + ".fc1.bias", {dim_}));
    fc2_w_.push_back(file.f32(p + ".fc2.weight", {dim_, dim_}));
    fc2_b_.push_back(file.f32(p + ".fc2.bias", {dim_}));
  }
  input_.resize(static_cast<std::size_t>(2 * dim_));
  hidden_.resize(static_cast<std::size_t>(dim_));
  next_.resize(static_cast<std::size_t>(dim_));
}

hydra_backend::context& hydra_backend::at(specdec::request_id request) { return entry(contexts_, request); }

float* hydra_backend::slot(std::int32_t s) { return state_row(slots_, s, dim_); }

void hydra_backend::observe(const specdec::context_states& states) {
  if (states.hidden.rows() == 0) return;
  specdec::expects(states.hidden.cols() == dim_, "states.hidden.cols()", states.hidden.cols(), "== the heads' dim");
  context& c = at(states.request);
  const auto last = states.hidden.row(states.hidden.rows() - 1);
  c.state.assign(last.begin(), last.end());
  c.position = states.first + states.hidden.rows() - 1;
}

index_t hydra_backend::prepare(specdec::request_id request, std::span<const token_id> tokens) {
  context& c = at(request);
  request_ = request;
  if (c.position < 0) return 0;
  if (c.position != static_cast<index_t>(tokens.size()) - 2) {
    throw specdec::runtime_error("hydra_backend: request " + std::to_string(request) + " has the state of position " +
                                 std::to_string(c.position) + " but its root follows position " +
                                 std::to_string(static_cast<index_t>(tokens.size()) - 2) + " (observe() missed a step)");
  }
  return depth_;
}

void hydra_backend::step(const specdec::head_step& step, matrix_view<float> logits) {
  specdec::expects(step.depth >= 0 && step.depth < depth_, "step.depth", step.depth, "in [0, depth())");
  specdec::expects(logits.rows() >= static_cast<index_t>(step.tokens.size()) && logits.cols() == vocab_, "logits.cols()", logits.cols(),
                   "== vocab_size() with a row per frontier node");
  const context& c = at(step.request);
  specdec::expects(!c.state.empty(), "step.request", step.request, "a request with a context state (call prepare first)");
  ++calls_.node_calls;
  calls_.node_rows += step.tokens.size();
  const auto d = static_cast<std::size_t>(step.depth);
  const row_map classifier(target_->classifier(), vocab_, dim_);
  for (std::size_t r = 0; r < step.tokens.size(); ++r) {
    const token_id x = step.tokens[r];
    specdec::expects_element(x >= 0 && x < vocab_, "step.tokens", r, x, "a token id in [0, vocab_size)");
    // Parents have lower slots than the nodes of this frontier: read the parent before writing.
    const float* parent = step.parents[r] < 0 ? c.state.data() : slot(step.parents[r]);
    std::copy_n(parent, dim_, input_.data());
    std::copy_n(target_->token_embedding() + x * dim_, dim_, input_.data() + dim_);
    dense(fc1_w_[d], &fc1_b_[d], dim_, 2 * dim_, input_.data(), hidden_.data());
    for (float& v : hidden_) v = silu(v);
    dense(fc2_w_[d], &fc2_b_[d], dim_, dim_, hidden_.data(), next_.data());
    for (index_t i = 0; i < dim_; ++i) next_[static_cast<std::size_t>(i)] += input_[static_cast<std::size_t>(i)];
    float* own = slot(step.slots[r]);
    std::copy(next_.begin(), next_.end(), own);
    out_map(logits.row_data(static_cast<index_t>(r)), vocab_).noalias() = classifier * vec_map(own, dim_);
  }
}

void hydra_backend::release(specdec::request_id request) {
  context& c = at(request);
  c.state.clear();
  c.position = -1;
}

// ---- Clover-2 -----------------------------------------------------------------------------------

namespace {
clover_backend::attention_weights load_attention(const safetensors& f, const std::string& p, index_t d) {
  clover_backend::attention_weights w;
  w.norm = f.f32(p + ".norm", {d});
  w.q = f.f32(p + ".q.weight", {d, d});
  w.qb = f.f32(p + ".q.bias", {d});
  w.k = f.f32(p + ".k.weight", {d, d});
  w.kb = f.f32(p + ".k.bias", {d});
  w.v = f.f32(p + ".v.weight", {d, d});
  w.vb = f.f32(p + ".v.bias", {d});
  return w;
}
} // namespace

clover_backend::clover_backend(const safetensors& file, const llama_model& target)
    : target_(&target), depth_(check_header(file, "clover", target)), dim_(target.config().dim), vocab_(target.config().vocab_size) {
  augment_ = file.meta_int("augment", 0, 1) == 1;
  attn1_ = load_attention(file, "clover.attn1", dim_);
  attn2_ = load_attention(file, "clover.attn2", dim_);
  if (augment_) layer_ = layer_weights::load(file, "clover.layer", target.config());
  norm_aug_ = file.f32("clover.norm_aug", {dim_});
  norm_head_ = file.f32("clover.norm_head", {dim_});
  mlp_w_ = file.f32("clover.mlp.weight", {dim_, dim_});
  mlp_b_ = file.f32("clover.mlp.bias", {dim_});
  mlp2_w_ = file.f32("clover.mlp2.weight", {dim_, 2 * dim_});
  mlp2_b_ = file.f32("clover.mlp2.bias", {dim_});
  regressive_ = file.meta_int("regressive", 0, 1) == 1;
  a_.resize(static_cast<std::size_t>(2 * dim_));
  b_.resize(static_cast<std::size_t>(2 * dim_));
  c_.resize(static_cast<std::size_t>(dim_));
}

clover_backend::context& clover_backend::at(specdec::request_id request) { return entry(contexts_, request); }

float* clover_backend::slot(std::int32_t s) { return state_row(slots_, s, dim_); }

void clover_backend::observe(const specdec::context_states& states) {
  if (states.hidden.rows() == 0) return;
  specdec::expects(states.hidden.cols() == dim_, "states.hidden.cols()", states.hidden.cols(), "== the heads' dim");
  context& c = at(states.request);
  if (states.first != c.observed) {
    throw specdec::runtime_error("clover_backend: request " + std::to_string(states.request) + " observed up to position " +
                                 std::to_string(c.observed) + " but the states start at " + std::to_string(states.first));
  }
  if (c.pending.empty()) c.pending_first = states.first;
  for (index_t r = 0; r < states.hidden.rows(); ++r) c.pending.insert(c.pending.end(), states.hidden.row(r).begin(), states.hidden.row(r).end());
  c.observed += states.hidden.rows();
}

index_t clover_backend::prepare(specdec::request_id request, std::span<const token_id> tokens) {
  context& c = at(request);
  request_ = request;
  if (c.observed == 0) return 0;
  const auto n = static_cast<index_t>(tokens.size());
  if (c.observed != n - 1) {
    throw specdec::runtime_error("clover_backend: request " + std::to_string(request) + " has states up to position " +
                                 std::to_string(c.observed - 1) + " but its root follows position " + std::to_string(n - 2) +
                                 " (observe() missed a step)");
  }
  // The augmenting block over the newly committed positions j: u = attn1(h[j], E x[j + 1]), one layer
  // (causal over every position processed so far), norm. The last one is the root's state.
  const auto rows = static_cast<index_t>(c.pending.size()) / dim_;
  calls_.context_calls += rows > 0 ? 1 : 0;
  calls_.context_rows += static_cast<std::uint64_t>(rows);
  const index_t kvd = target_->config().kv_dim();
  std::vector<float> k(static_cast<std::size_t>(kvd)), v(static_cast<std::size_t>(kvd));
  c.root.resize(static_cast<std::size_t>(dim_));
  for (index_t r = 0; r < rows; ++r) {
    const index_t j = c.pending_first + r;
    const float* emb = target_->token_embedding() + tokens[static_cast<std::size_t>(j + 1)] * dim_;
    res_attention(attn1_, dim_, target_->config().n_heads, c.pending.data() + r * dim_, emb, a_.data());
    if (augment_) {
      layer_row(layer_, *target_, a_.data(), j, c.kv, c.kv.rows, {}, k.data(), v.data(), b_.data());
      append_kv(c.kv, kvd, k.data(), v.data());
    } else {
      std::copy_n(a_.data(), dim_, b_.data());
    }
    if (r == rows - 1) rmsnorm(b_.data(), norm_aug_.data(), dim_, c.root.data());
  }
  c.pending.clear();
  c.pending_first = c.observed;
  return depth_;
}

void clover_backend::step(const specdec::head_step& step, matrix_view<float> logits) {
  specdec::expects(step.depth >= 0 && step.depth < depth_, "step.depth", step.depth, "in [0, depth())");
  specdec::expects(logits.rows() >= static_cast<index_t>(step.tokens.size()) && logits.cols() == vocab_, "logits.cols()", logits.cols(),
                   "== vocab_size() with a row per frontier node");
  const context& c = at(step.request);
  specdec::expects(!c.root.empty(), "step.request", step.request, "a request with a context state (call prepare first)");
  if (step.depth == 0) {
    ++calls_.root_calls;
    calls_.root_rows += step.tokens.size();
  } else {
    ++calls_.node_calls;
    calls_.node_rows += step.tokens.size();
  }
  const row_map classifier(target_->classifier(), vocab_, dim_);
  for (std::size_t r = 0; r < step.tokens.size(); ++r) {
    const token_id x = step.tokens[r];
    specdec::expects_element(x >= 0 && x < vocab_, "step.tokens", r, x, "a token id in [0, vocab_size)");
    const float* emb = target_->token_embedding() + x * dim_;
    if (step.depth == 0) {  // the root: its state is the augmented state computed in prepare
      std::copy_n(c.root.data(), dim_, a_.data());
      dense(mlp_w_, &mlp_b_, dim_, dim_, a_.data(), c_.data());
    } else {
      const float* parent = slot(step.parents[r]);
      if (regressive_) {
        std::copy_n(parent, dim_, b_.data());
        res_attention(attn2_, dim_, target_->config().n_heads, b_.data(), emb, a_.data());
        std::copy_n(emb, dim_, a_.data() + dim_);  // [s'; E x]
      } else {  // the ablation: the state passes unchanged and the token's embedding is zeros
        std::copy_n(parent, dim_, a_.data());
        std::fill_n(a_.data() + dim_, dim_, 0.0f);
      }
      dense(mlp2_w_, &mlp2_b_, dim_, 2 * dim_, a_.data(), c_.data());
    }
    std::copy_n(a_.data(), dim_, slot(step.slots[r]));
    rmsnorm(c_.data(), norm_head_.data(), dim_, b_.data());
    out_map(logits.row_data(static_cast<index_t>(r)), vocab_).noalias() = classifier * vec_map(b_.data(), dim_);
  }
}

void clover_backend::release(specdec::request_id request) { at(request) = context(); }

// ---- EAGLE --------------------------------------------------------------------------------------

eagle_backend::eagle_backend(const safetensors& file, const llama_model& target)
    : target_(&target), depth_(check_header(file, "eagle", target)), dim_(target.config().dim), vocab_(target.config().vocab_size) {
  fc_w_ = file.f32("eagle.fc.weight", {dim_, 2 * dim_});
  fc_b_ = file.f32("eagle.fc.bias", {dim_});
  layer_ = layer_weights::load(file, "eagle.layer", target.config());
  input_.resize(static_cast<std::size_t>(2 * dim_));
  x_.resize(static_cast<std::size_t>(dim_));
}

eagle_backend::context& eagle_backend::at(specdec::request_id request) { return entry(contexts_, request); }

eagle_backend::node& eagle_backend::slot(std::int32_t s) {
  if (static_cast<std::size_t>(s) >= nodes_.size()) nodes_.resize(static_cast<std::size_t>(s) + 1);
  return nodes_[static_cast<std::size_t>(s)];
}

void eagle_backend::observe(const specdec::context_states& states) {
  if (states.hidden.rows() == 0) return;
  specdec::expects(states.hidden.cols() == dim_, "states.hidden.cols()", states.hidden.cols(), "== the drafter's dim");
  context& c = at(states.request);
  const auto have = static_cast<index_t>(c.states.size()) / dim_;
  if (states.first != have) {
    throw specdec::runtime_error("eagle_backend: request " + std::to_string(states.request) + " observed up to position " +
                                 std::to_string(have) + " but the states start at " + std::to_string(states.first));
  }
  for (index_t r = 0; r < states.hidden.rows(); ++r) c.states.insert(c.states.end(), states.hidden.row(r).begin(), states.hidden.row(r).end());
}

index_t eagle_backend::prepare(specdec::request_id request, std::span<const token_id> tokens) {
  context& c = at(request);
  request_ = request;
  const auto have = static_cast<index_t>(c.states.size()) / dim_;
  if (have == 0) return 0;
  const auto n = static_cast<index_t>(tokens.size());
  if (have != n - 1) {
    throw specdec::runtime_error("eagle_backend: request " + std::to_string(request) + " has states up to position " +
                                 std::to_string(have - 1) + " but its root follows position " + std::to_string(n - 2) +
                                 " (observe() missed a step)");
  }
  // The committed inputs (f[i], x[i + 1]) at positions 1 .. n - 2 enter the KV; the root's own input
  // (f[n - 2], x[n - 1]) is the depth-0 node.
  const index_t kvd = target_->config().kv_dim();
  std::vector<float> k(static_cast<std::size_t>(kvd)), v(static_cast<std::size_t>(kvd)), out(static_cast<std::size_t>(dim_));
  calls_.context_calls += c.kv.rows < n - 2 ? 1 : 0;
  calls_.context_rows += static_cast<std::uint64_t>(std::max<index_t>(0, n - 2 - c.kv.rows));
  for (index_t i = c.kv.rows; i < n - 2; ++i) {
    std::copy_n(target_->token_embedding() + tokens[static_cast<std::size_t>(i + 1)] * dim_, dim_, input_.data());
    std::copy_n(c.states.data() + i * dim_, dim_, input_.data() + dim_);
    dense(fc_w_, &fc_b_, dim_, 2 * dim_, input_.data(), x_.data());
    layer_row(layer_, *target_, x_.data(), i + 1, c.kv, c.kv.rows, {}, k.data(), v.data(), out.data());
    append_kv(c.kv, kvd, k.data(), v.data());
  }
  return depth_;
}

void eagle_backend::step(const specdec::head_step& step, matrix_view<float> logits) {
  specdec::expects(step.depth >= 0 && step.depth < depth_, "step.depth", step.depth, "in [0, depth())");
  specdec::expects(logits.rows() >= static_cast<index_t>(step.tokens.size()) && logits.cols() == vocab_, "logits.cols()", logits.cols(),
                   "== vocab_size() with a row per frontier node");
  ++calls_.node_calls;
  calls_.node_rows += step.tokens.size();
  context& c = at(step.request);
  const auto have = static_cast<index_t>(c.states.size()) / dim_;
  specdec::expects(have > 0, "step.request", step.request, "a request with a context state (call prepare first)");
  const index_t kvd = target_->config().kv_dim();
  const row_map classifier(target_->classifier(), vocab_, dim_);
  std::vector<std::pair<const float*, const float*>> ancestors;
  for (std::size_t r = 0; r < step.tokens.size(); ++r) {
    const token_id x = step.tokens[r];
    specdec::expects_element(x >= 0 && x < vocab_, "step.tokens", r, x, "a token id in [0, vocab_size)");
    const std::int32_t parent = step.parents[r];
    // Ancestors' keys and values, root first (following parents up; slots of this step are new).
    ancestors.clear();
    for (std::int32_t a = parent; a >= 0; a = slot(a).parent) ancestors.emplace_back(slot(a).k.data(), slot(a).v.data());
    std::reverse(ancestors.begin(), ancestors.end());
    std::copy_n(target_->token_embedding() + x * dim_, dim_, input_.data());
    const float* feature = parent < 0 ? c.states.data() + (have - 1) * dim_ : slot(parent).feature.data();
    std::copy_n(feature, dim_, input_.data() + dim_);
    dense(fc_w_, &fc_b_, dim_, 2 * dim_, input_.data(), x_.data());
    node fresh;
    fresh.parent = parent;
    fresh.position = have + step.depth;  // the root sits at position `have` (its state is the next to come)
    fresh.k.resize(static_cast<std::size_t>(kvd));
    fresh.v.resize(static_cast<std::size_t>(kvd));
    fresh.feature.resize(static_cast<std::size_t>(dim_));
    layer_row(layer_, *target_, x_.data(), fresh.position, c.kv, c.kv.rows, ancestors, fresh.k.data(), fresh.v.data(), fresh.feature.data());
    out_map(logits.row_data(static_cast<index_t>(r)), vocab_).noalias() = classifier * vec_map(fresh.feature.data(), dim_);
    slot(step.slots[r]) = std::move(fresh);  // after reading the ancestors: a slot may be reused
  }
}

void eagle_backend::release(specdec::request_id request) { at(request) = context(); }

} // namespace llama
