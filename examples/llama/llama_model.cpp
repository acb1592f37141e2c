// The llama2.c checkpoint loader and the batched forward pass (Eigen).
#include "llama_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <Eigen/Core>

#include <specdec/core/error.hpp>

namespace llama {

namespace {

using col_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using weight_map = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using strided_map = Eigen::Map<col_matrix, 0, Eigen::OuterStride<>>;
using const_strided_map = Eigen::Map<const col_matrix, 0, Eigen::OuterStride<>>;

constexpr std::int64_t header_bytes = 7 * 4;

// A weight matrix of llama2.c: row-major [out, in], seen by Eigen as an `out x in` matrix.
weight_map weights(const float* data, index_t out, index_t in) { return weight_map(data, out, in); }

// y = W x (or y += W x) for a row-major weight matrix W [out, in] and the columns of x [in, n].
// Few columns: each block of 4 weight rows is read from memory once and used for every column (a GEMV
// that serves n vectors; Eigen's GEMM would first copy -- pack -- the whole weight matrix, which costs
// more than the product while n is small). Many columns: Eigen's GEMM, compute-bound by then.
constexpr index_t gemm_from_columns = 32;

// The kernel behind `project`: columns [c0, c0 + n) of x into y (column c at y + c * ldy).
void project_columns(const float* w, index_t out, index_t in, const float* x, index_t n, float* y, index_t ldy, bool accumulate) {
  index_t i = 0;
  for (; i + 4 <= out; i += 4) {
    const float* w0 = w + i * in;
    const float* w1 = w0 + in;
    const float* w2 = w1 + in;
    const float* w3 = w2 + in;
    for (index_t c = 0; c < n; ++c) {
      const float* xc = x + c * in;
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
      for (index_t k = 0; k < in; ++k) {
        a0 += w0[k] * xc[k];
        a1 += w1[k] * xc[k];
        a2 += w2[k] * xc[k];
        a3 += w3[k] * xc[k];
      }
      float* yc = y + c * ldy + i;
      if (accumulate) {
        yc[0] += a0, yc[1] += a1, yc[2] += a2, yc[3] += a3;
      } else {
        yc[0] = a0, yc[1] = a1, yc[2] = a2, yc[3] = a3;
      }
    }
  }
  for (; i < out; ++i) {
    const float* wi = w + i * in;
    for (index_t c = 0; c < n; ++c) {
      const float* xc = x + c * in;
      float a = 0.0f;
#pragma omp simd reduction(+ : a)
      for (index_t k = 0; k < in; ++k) a += wi[k] * xc[k];
      float& yc = y[c * ldy + i];
      yc = accumulate ? yc + a : a;
    }
  }
}

// y = W x (or y += W x), y column c at y + c * ldy; x is [in, n] column-major.
void project(const float* w, index_t out, index_t in, const float* x, index_t n, float* y, index_t ldy, bool accumulate) {
  if (n >= gemm_from_columns) {
    const Eigen::Map<const col_matrix> xm(x, in, n);
    strided_map ym(y, out, n, Eigen::OuterStride<>(ldy));
    if (accumulate) {
      ym.noalias() += weights(w, out, in) * xm;
    } else {
      ym.noalias() = weights(w, out, in) * xm;
    }
    return;
  }
  project_columns(w, out, in, x, n, y, ldy, accumulate);
}

void project(const float* w, index_t out, index_t in, const col_matrix& x, col_matrix& y, bool accumulate) {
  if (!accumulate) y.resize(out, x.cols());
  project(w, out, in, x.data(), x.cols(), y.data(), out, accumulate);
}

// llama2.c's rmsnorm: mean of squares in float, + 1e-5, times the weight.
void rmsnorm(const col_matrix& x, const float* weight, col_matrix& out) {
  const index_t d = x.rows();
  out.resize(d, x.cols());
  for (index_t c = 0; c < x.cols(); ++c) {
    const float* in = x.data() + c * d;
    float ss = 0.0f;
    for (index_t i = 0; i < d; ++i) ss += in[i] * in[i];
    ss /= static_cast<float>(d);
    ss += 1e-5f;
    ss = 1.0f / std::sqrt(ss);
    float* o = out.data() + c * d;
    for (index_t i = 0; i < d; ++i) o[i] = weight[i] * (ss * in[i]);
  }
}

std::string shape_text(const llama_config& c) {
  std::ostringstream out;
  out << "dim " << c.dim << ", hidden_dim " << c.hidden_dim << ", n_layers " << c.n_layers << ", n_heads " << c.n_heads
      << ", n_kv_heads " << c.n_kv_heads << ", vocab_size " << (c.shared_classifier ? c.vocab_size : -c.vocab_size)
      << ", seq_len " << c.seq_len;
  return out.str();
}

} // namespace

// ---- config -------------------------------------------------------------------------------------

void llama_config::validate() const {
  using specdec::expects;
  expects(dim >= 1 && dim <= (1 << 16), "dim", dim, "in [1, 65536]");
  expects(hidden_dim >= 1 && hidden_dim <= (1 << 18), "hidden_dim", hidden_dim, "in [1, 262144]");
  expects(n_layers >= 1 && n_layers <= 1024, "n_layers", n_layers, "in [1, 1024]");
  expects(n_heads >= 1 && n_heads <= dim && dim % n_heads == 0, "n_heads", n_heads, "in [1, dim] and dividing dim");
  expects(n_kv_heads >= 1 && n_kv_heads <= n_heads && n_heads % n_kv_heads == 0, "n_kv_heads", n_kv_heads,
          "in [1, n_heads] and dividing n_heads");
  expects((dim / n_heads) % 2 == 0, "head_size (dim / n_heads)", dim / n_heads, "even (RoPE rotates pairs)");
  expects(vocab_size >= 1 && vocab_size <= (1 << 22), "vocab_size", vocab_size, "|vocab_size| in [1, 4194304]");
  expects(seq_len >= 1 && seq_len <= (1 << 22), "seq_len", seq_len, "in [1, 4194304]");
}

std::uint64_t llama_config::weight_floats() const noexcept {
  const auto d = static_cast<std::uint64_t>(dim), h = static_cast<std::uint64_t>(hidden_dim),
             l = static_cast<std::uint64_t>(n_layers), v = static_cast<std::uint64_t>(vocab_size),
             kv = static_cast<std::uint64_t>(kv_dim()), s = static_cast<std::uint64_t>(seq_len),
             hs = static_cast<std::uint64_t>(head_size());
  return v * d                 // token embedding
         + l * d               // rms_att
         + l * d * d           // wq
         + 2 * l * kv * d      // wk, wv
         + l * d * d           // wo
         + l * d               // rms_ffn
         + 3 * l * h * d       // w1, w2, w3
         + d                   // rms_final
         + 2 * s * (hs / 2)    // the legacy freq_cis_real / freq_cis_imag tables
         + (shared_classifier ? 0 : v * d);
}

llama_config llama_config::make(index_t dim, index_t hidden_dim, index_t layers, index_t heads, index_t kv_heads, index_t vocab,
                                index_t seq_len) noexcept {
  llama_config c;
  c.dim = dim;
  c.hidden_dim = hidden_dim;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.vocab_size = vocab;
  c.seq_len = seq_len;
  c.shared_classifier = true;
  return c;
}

llama_config llama_config::stories110m() noexcept { return make(768, 2048, 12, 12, 12, 32000, 1024); }

// ---- loading ------------------------------------------------------------------------------------

llama_model llama_model::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw specdec::runtime_error("llama: cannot open checkpoint '" + path + "'");
  const std::streamoff size = in.tellg();
  std::vector<std::byte> bytes(static_cast<std::size_t>(std::max<std::streamoff>(size, 0)));
  in.seekg(0);
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw specdec::runtime_error("llama: cannot read checkpoint '" + path + "'");
  }
  return from_bytes(bytes, path);
}

llama_model llama_model::from_bytes(std::span<const std::byte> bytes, const std::string& source) {
  specdec::expects(bytes.size() >= static_cast<std::size_t>(header_bytes), source + ": file size", bytes.size(),
                   ">= 28 bytes (the 7 int32 of a llama2.c header): the file is truncated");
  std::int32_t h[7];
  std::memcpy(h, bytes.data(), sizeof h);
  llama_config c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -static_cast<index_t>(h[5]);
  c.seq_len = h[6];
  specdec::detail::in_element(source + ": header", 0, [&] { c.validate(); });
  const std::uint64_t expected = static_cast<std::uint64_t>(header_bytes) + 4 * c.weight_floats();
  if (bytes.size() != expected) {
    std::ostringstream need;
    need << "== " << expected << " bytes, what the header (" << shape_text(c) << ") implies: the file is "
         << (bytes.size() < expected ? "truncated" : "oversized (trailing data or a different format)");
    specdec::expects(false, source + ": file size", bytes.size(), need.str());
  }
  llama_model m;
  m.config_ = c;
  m.data_.resize(static_cast<std::size_t>(c.weight_floats()));
  std::memcpy(m.data_.data(), bytes.data() + header_bytes, m.data_.size() * sizeof(float));
  for (std::size_t i = 0; i < m.data_.size(); ++i) {
    if (!std::isfinite(m.data_[i])) {
      specdec::expects_element(false, source + ": weights", i, m.data_[i], "finite float32 weights");
    }
  }
  m.bind();
  return m;
}

llama_model llama_model::random(const llama_config& config, std::uint64_t seed, float scale) {
  config.validate();
  llama_model m;
  m.config_ = config;
  m.data_.resize(static_cast<std::size_t>(config.weight_floats()));
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (float& w : m.data_) {  // xorshift64*: uniform in [-scale, scale]
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    const auto bits = static_cast<std::uint32_t>((s * 0x2545f4914f6cdd1dull) >> 40);
    w = scale * (2.0f * static_cast<float>(bits) / 16777216.0f - 1.0f);
  }
  m.bind();
  // RMSNorm weights of one, as a trained model roughly has.
  auto fill_ones = [&](const float* p, index_t n) { std::fill_n(m.data_.data() + (p - m.data_.data()), n, 1.0f); };
  fill_ones(m.rms_att_, config.n_layers * config.dim);
  fill_ones(m.rms_ffn_, config.n_layers * config.dim);
  fill_ones(m.rms_final_, config.dim);
  return m;
}

void llama_model::bind() {
  const llama_config& c = config_;
  const float* p = data_.data();
  const auto take = [&](index_t n) {
    const float* at = p;
    p += n;
    return at;
  };
  token_embedding_ = take(c.vocab_size * c.dim);
  rms_att_ = take(c.n_layers * c.dim);
  wq_ = take(c.n_layers * c.dim * c.dim);
  wk_ = take(c.n_layers * c.kv_dim() * c.dim);
  wv_ = take(c.n_layers * c.kv_dim() * c.dim);
  wo_ = take(c.n_layers * c.dim * c.dim);
  rms_ffn_ = take(c.n_layers * c.dim);
  w1_ = take(c.n_layers * c.hidden_dim * c.dim);
  w2_ = take(c.n_layers * c.dim * c.hidden_dim);
  w3_ = take(c.n_layers * c.hidden_dim * c.dim);
  rms_final_ = take(c.dim);
  take(c.seq_len * c.head_size());  // the legacy RoPE tables: recomputed below, as run.c does
  wcls_ = c.shared_classifier ? token_embedding_ : take(c.vocab_size * c.dim);
  // run.c: freq = 10000^(-(i mod head_size) / head_size) for even i, angle = pos * freq, in float.
  const index_t half = c.head_size() / 2;
  rope_cos_.resize(static_cast<std::size_t>(c.seq_len * half));
  rope_sin_.resize(static_cast<std::size_t>(c.seq_len * half));
  for (index_t pos = 0; pos < c.seq_len; ++pos) {
    for (index_t j = 0; j < half; ++j) {
      const float freq = 1.0f / std::pow(10000.0f, static_cast<float>(2 * j) / static_cast<float>(c.head_size()));
      const float angle = static_cast<float>(pos) * freq;
      rope_cos_[static_cast<std::size_t>(pos * half + j)] = std::cos(angle);
      rope_sin_[static_cast<std::size_t>(pos * half + j)] = std::sin(angle);
    }
  }
}

// ---- KV cache -----------------------------------------------------------------------------------

kv_cache::kv_cache(const llama_config& config, index_t capacity)
    : capacity_(capacity), layers_(config.n_layers), kv_dim_(config.kv_dim()),
      data_(static_cast<std::size_t>(2 * config.n_layers * capacity * config.kv_dim()), 0.0f) {}

void kv_cache::move(index_t src, index_t dst) noexcept {
  for (index_t l = 0; l < layers_; ++l) {
    std::copy_n(k(l, src), kv_dim_, k(l, dst));
    std::copy_n(v(l, src), kv_dim_, v(l, dst));
  }
}

void causal_mask(index_t rows, std::vector<std::uint32_t>& words, index_t& words_per_row) {
  words_per_row = std::max<index_t>((rows + 31) / 32, 1);
  words.assign(static_cast<std::size_t>(rows * words_per_row), 0u);
  for (index_t r = 0; r < rows; ++r) {
    for (index_t j = 0; j <= r; ++j) words[static_cast<std::size_t>(r * words_per_row + j / 32)] |= 1u << (j % 32);
  }
}

// ---- the forward pass ---------------------------------------------------------------------------

struct forward_pass::workspace {
  col_matrix x, xn, q, k, v, att, h1, h3, final;  // [features, rows]: column r is row r's vector
  std::vector<float> scores;
};

forward_pass::forward_pass(const llama_model& model) : model_(&model), ws_(std::make_unique<workspace>()) {}
forward_pass::~forward_pass() = default;
forward_pass::forward_pass(forward_pass&&) noexcept = default;
forward_pass& forward_pass::operator=(forward_pass&&) noexcept = default;

const_matrix_view<float> forward_pass::hidden() const noexcept {
  return const_matrix_view<float>(ws_->final.data(), ws_->final.cols(), ws_->final.rows());
}

void forward_pass::lm_head(const_matrix_view<float> states, matrix_view<float> logits) const {
  const llama_config& c = model_->config();
  specdec::expects(states.cols() == c.dim, "states.cols()", states.cols(), "== hidden_size()");
  specdec::expects(logits.rows() == states.rows() && logits.cols() == c.vocab_size, "logits.cols()", logits.cols(),
                   "== vocab_size() with one row per state");
  const_strided_map s(states.data(), c.dim, states.rows(), Eigen::OuterStride<>(states.row_stride()));
  strided_map out(logits.data(), c.vocab_size, logits.rows(), Eigen::OuterStride<>(logits.row_stride()));
  out.noalias() = weights(model_->classifier(), c.vocab_size, c.dim) * s;
}

void forward_pass::run(std::span<const token_id> tokens, std::span<const std::int32_t> positions,
                       std::span<const segment> segments, index_t layers, index_t logits_from, matrix_view<float> logits) {
  const llama_config& c = model_->config();
  const index_t n = static_cast<index_t>(tokens.size());
  const index_t d = c.dim, kvd = c.kv_dim(), hs = c.head_size(), group = c.n_heads / c.n_kv_heads;
  workspace& w = *ws_;
  w.x.resize(d, n);
  for (index_t r = 0; r < n; ++r) std::copy_n(model_->token_embedding() + tokens[static_cast<std::size_t>(r)] * d, d, w.x.data() + r * d);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));

  for (index_t l = 0; l < layers; ++l) {
    // Attention: one matrix-matrix product per projection over every row of the pass.
    rmsnorm(w.x, model_->rms_att(l), w.xn);
    project(model_->wq(l), d, d, w.xn, w.q, false);
    project(model_->wk(l), kvd, d, w.xn, w.k, false);
    project(model_->wv(l), kvd, d, w.xn, w.v, false);
    // RoPE at each row's own position (run.c: rotate pairs (i, i+1), frequency from i mod head_size).
    for (index_t r = 0; r < n; ++r) {
      const index_t pos = positions[static_cast<std::size_t>(r)];
      const float* cs = model_->rope_cos(pos);
      const float* sn = model_->rope_sin(pos);
      const auto rotate = [&](float* vec, index_t size) {
        for (index_t i = 0; i < size; i += 2) {
          const index_t j = (i % hs) / 2;
          const float v0 = vec[i], v1 = vec[i + 1];
          vec[i] = v0 * cs[j] - v1 * sn[j];
          vec[i + 1] = v0 * sn[j] + v1 * cs[j];
        }
      };
      rotate(w.q.data() + r * d, d);
      rotate(w.k.data() + r * kvd, kvd);
    }
    // Every row's K and V enter its window first: rows of one tree attend to each other.
    for (const segment& s : segments) {
      for (index_t r = 0; r < s.rows; ++r) {
        const index_t slot = s.window_begin + s.first_local + r;
        std::copy_n(w.k.data() + (s.first_row + r) * kvd, kvd, s.window->k(l, slot));
        std::copy_n(w.v.data() + (s.first_row + r) * kvd, kvd, s.window->v(l, slot));
      }
    }
    w.att.resize(d, n);
    for (const segment& s : segments) {
      const index_t window_size = s.first_local + s.rows;
      for (index_t r = 0; r < s.rows; ++r) {
        const index_t row = s.first_row + r;
        const std::uint32_t* bits = s.mask.row_data(r);
        for (index_t h = 0; h < c.n_heads; ++h) {
          const float* q = w.q.data() + row * d + h * hs;
          const index_t kv_offset = (h / group) * hs;
          // Scores over the context prefix, then over the window slots the mask selects, in slot order.
          w.scores.clear();
          for (index_t t = 0; t < s.prefix; ++t) {
            const float* k = s.context->k(l, t) + kv_offset;
            float dot = 0.0f;
            for (index_t i = 0; i < hs; ++i) dot += q[i] * k[i];
            w.scores.push_back(dot * scale);
          }
          for (index_t j = 0; j < window_size; ++j) {
            if (((bits[j / 32] >> (j % 32)) & 1u) == 0) continue;
            const float* k = s.window->k(l, s.window_begin + j) + kv_offset;
            float dot = 0.0f;
            for (index_t i = 0; i < hs; ++i) dot += q[i] * k[i];
            w.scores.push_back(dot * scale);
          }
          float max = w.scores.empty() ? 0.0f : w.scores[0];
          for (const float x : w.scores) max = std::max(max, x);
          float sum = 0.0f;
          for (float& x : w.scores) {
            x = std::exp(x - max);
            sum += x;
          }
          for (float& x : w.scores) x /= sum;
          float* out = w.att.data() + row * d + h * hs;
          std::fill_n(out, hs, 0.0f);
          std::size_t a = 0;
          const auto accumulate = [&](const float* v) {
            const float p = w.scores[a++];
            for (index_t i = 0; i < hs; ++i) out[i] += p * v[i];
          };
          for (index_t t = 0; t < s.prefix; ++t) accumulate(s.context->v(l, t) + kv_offset);
          for (index_t j = 0; j < window_size; ++j) {
            if (((bits[j / 32] >> (j % 32)) & 1u) == 0) continue;
            accumulate(s.window->v(l, s.window_begin + j) + kv_offset);
          }
        }
      }
    }
    project(model_->wo(l), d, d, w.att, w.x, true);

    // SwiGLU feed-forward: w2 (silu(w1 x) * w3 x).
    rmsnorm(w.x, model_->rms_ffn(l), w.xn);
    project(model_->w1(l), c.hidden_dim, d, w.xn, w.h1, false);
    project(model_->w3(l), c.hidden_dim, d, w.xn, w.h3, false);
    float* h1 = w.h1.data();
    const float* h3 = w.h3.data();
    for (index_t i = 0; i < w.h1.size(); ++i) {
      const float v = h1[i];
      h1[i] = v * (1.0f / (1.0f + std::exp(-v))) * h3[i];
    }
    project(model_->w2(l), d, c.hidden_dim, w.h1, w.x, true);
  }
  rmsnorm(w.x, model_->rms_final(), w.final);
  if (!logits.empty()) {
    const index_t rows = n - logits_from;
    project(model_->classifier(), c.vocab_size, d, w.final.data() + logits_from * d, rows, logits.data(), logits.row_stride(), false);
  }
}

} // namespace llama
