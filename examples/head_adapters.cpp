// Minimal head backends, as a user writes them: Medusa heads (`independent_heads`) and Hydra-style
// regressive heads (`regressive_heads`), each a few dense layers over the target's hidden states, in
// plain C++ with untrained random weights. The library owns the tree search: the adapters only
// compute. Run against the kit's toy target, whose hidden state is the one-hot vector of a token;
// greedy output must equal autoregressive decoding whatever the weights.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

// y = W x, W row-major [rows, cols], with Philox-drawn weights in [-scale, scale).
struct dense {
  specdec::index_t rows, cols;
  std::vector<float> w;
  dense(specdec::index_t r, specdec::index_t c, std::uint64_t seed, float scale = 1.0f) : rows(r), cols(c), w(static_cast<std::size_t>(r * c)) {
    const specdec::random_address a{seed, 0, 0, 0, specdec::purpose::draft_sample};
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = scale * (2.0f * specdec::uniform_float(a, static_cast<std::uint32_t>(i)) - 1.0f);
  }
  void apply(std::span<const float> x, std::span<float> y) const {
    for (specdec::index_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (specdec::index_t c = 0; c < cols; ++c) sum += w[static_cast<std::size_t>(r * cols + c)] * x[static_cast<std::size_t>(c)];
      y[static_cast<std::size_t>(r)] = sum;
    }
  }
};

// Medusa: head k = a residual SiLU block, then its own LM head (Cai et al., 2024, Medusa-1).
class my_medusa_heads {
public:
  my_medusa_heads(specdec::index_t hidden, specdec::index_t vocab, specdec::index_t heads) : hidden_(hidden), vocab_(vocab) {
    for (specdec::index_t k = 0; k < heads; ++k) {
      blocks_.emplace_back(hidden, hidden, 100 + static_cast<std::uint64_t>(k), 0.3f);
      lm_heads_.emplace_back(vocab, hidden, 200 + static_cast<std::uint64_t>(k), 2.0f);
    }
  }
  specdec::index_t num_heads() const { return static_cast<specdec::index_t>(blocks_.size()); }
  specdec::index_t hidden_size() const { return hidden_; }
  specdec::index_t vocab_size() const { return vocab_; }
  void apply_heads(specdec::const_matrix_view<float> states, specdec::matrix_view<float> logits) {
    std::vector<float> h(static_cast<std::size_t>(hidden_));
    for (specdec::index_t r = 0; r < states.rows(); ++r) {
      for (specdec::index_t k = 0; k < num_heads(); ++k) {
        blocks_[static_cast<std::size_t>(k)].apply(states.row(r), h);
        for (specdec::index_t i = 0; i < hidden_; ++i) {
          const float x = h[static_cast<std::size_t>(i)];
          h[static_cast<std::size_t>(i)] = states(r, i) + x / (1.0f + std::exp(-x));  // residual SiLU
        }
        lm_heads_[static_cast<std::size_t>(k)].apply(h, logits.row(r * num_heads() + k));
      }
    }
  }

private:
  specdec::index_t hidden_, vocab_;
  std::vector<dense> blocks_, lm_heads_;
};
static_assert(specdec::independent_heads<my_medusa_heads>);

// Hydra-style regressive heads: a node's state is tanh(W [parent state; embedding(token)]), its logits
// an LM head on that state; the root's parent state is the target's hidden state before it.
class my_hydra_heads {
public:
  my_hydra_heads(specdec::index_t hidden, specdec::index_t vocab)
      : hidden_(hidden), vocab_(vocab), embed_(hidden, vocab, 300, 1.0f), mix_(hidden, 2 * hidden, 301, 0.5f), lm_head_(vocab, hidden, 302, 2.0f) {}
  specdec::index_t vocab_size() const { return vocab_; }

  // The context state: the target's state of the last committed token, per request.
  void observe(const specdec::context_states& s) {
    if (s.hidden.rows() == 0) return;
    auto& c = context(s.request);
    const auto last = s.hidden.row(s.hidden.rows() - 1);
    c.assign(last.begin(), last.end());
  }
  specdec::index_t prepare(specdec::request_id request, std::span<const specdec::token_id>) {
    request_ = request;
    return context(request).empty() ? 0 : 4;  // four sequential heads; none before the first state
  }
  void step(const specdec::head_step& step, specdec::matrix_view<float> logits) {
    std::vector<float> input(static_cast<std::size_t>(2 * hidden_)), one_hot(static_cast<std::size_t>(vocab_));
    for (std::size_t r = 0; r < step.tokens.size(); ++r) {
      const std::vector<float>& parent = step.parents[r] < 0 ? context(request_) : slot(step.parents[r]);
      std::copy(parent.begin(), parent.end(), input.begin());
      std::fill(one_hot.begin(), one_hot.end(), 0.0f);
      one_hot[static_cast<std::size_t>(step.tokens[r])] = 1.0f;
      embed_.apply(one_hot, std::span<float>(input).subspan(static_cast<std::size_t>(hidden_)));
      std::vector<float>& state = slot(step.slots[r]);
      mix_.apply(input, state);
      for (float& x : state) x = std::tanh(x);
      lm_head_.apply(state, logits.row(static_cast<specdec::index_t>(r)));
    }
  }
  void release(specdec::request_id request) { context(request).clear(); }

private:
  std::vector<float>& context(specdec::request_id r) {
    if (r >= contexts_.size()) contexts_.resize(r + 1);
    return contexts_[r];
  }
  std::vector<float>& slot(std::int32_t s) {
    if (static_cast<std::size_t>(s) >= slots_.size()) slots_.resize(static_cast<std::size_t>(s) + 1, std::vector<float>(static_cast<std::size_t>(hidden_)));
    return slots_[static_cast<std::size_t>(s)];
  }
  specdec::index_t hidden_, vocab_;
  dense embed_, mix_, lm_head_;
  specdec::request_id request_ = 0;
  std::vector<std::vector<float>> contexts_, slots_;
};
static_assert(specdec::regressive_heads<my_hydra_heads>);

}  // namespace

int main() {
  using namespace specdec;
  constexpr index_t vocab = 16;
  testing::toy_target target(testing::markov_model::random(vocab, 1, 5, 2.0f));  // hidden size = vocab
  const std::vector<std::vector<token_id>> prompts{{1, 2, 3}, {4, 5}, {6, 7, 8, 9}};

  my_medusa_heads medusa_backend(vocab, vocab, 3);
  medusa_heads<my_medusa_heads> medusa(medusa_backend);
  head_drafter<medusa_heads<my_medusa_heads>, static_growth> medusa_drafter(
      medusa, static_growth(tree_choices{{0}, {1}, {0, 0}, {0, 1}, {1, 0}, {0, 0, 0}}));
  my_hydra_heads hydra_backend(vocab, vocab);
  clover_growth_options clover;
  clover.total_nodes = 12;
  clover.max_depth = 4;
  head_drafter<my_hydra_heads, clover_growth> hydra_drafter(hydra_backend, clover_growth(clover));
  one_hot_verifier verifier;

  const auto a = testing::check_greedy(target, medusa_drafter, verifier, std::span(prompts), 32);
  const auto b = testing::check_greedy(target, hydra_drafter, verifier, std::span(prompts), 32);
  std::printf("Medusa heads, choices tree: %s\nHydra-style heads, Clover growth: %s\n", a.text().c_str(), b.text().c_str());
  return a.identical && b.identical && a.speculative.drafted > 0 && b.speculative.drafted > 0 ? 0 : 1;
}
