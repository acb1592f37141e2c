// A complete integration: a user's model behind the target_model concept, and a speculative decoder.
// `tiny_lm` stands in for an engine's transformer; the adapter below it is what an integration writes.
#include <specdec/specdec.hpp>

#include <cstdio>
#include <span>
#include <vector>

// The user's model: next-token logits from the tokens a row attends to (a bigram table here).
struct tiny_lm {
  static constexpr int vocab = 16;
  void logits(std::span<const int> attended, float* out) const {
    for (int t = 0; t < vocab; ++t) out[t] = t == (attended.back() * 5 + 3) % vocab ? 4.0f : 0.1f * static_cast<float>(t % 3);
  }
};

// The adapter (the part to copy): a KV cache per request, one tree forward, the commit.
struct tiny_lm_backend {
  tiny_lm& model;
  std::vector<std::vector<int>> kv;  // per request: the tokens whose K/V are cached, slot by slot
  specdec::index_t vocab_size() const { return tiny_lm::vocab; }
  void prefill(specdec::request_id r, std::span<const int> prompt) {
    if (kv.size() <= r) kv.resize(r + 1);
    kv[r].assign(prompt.begin(), prompt.end() - 1);  // the last prompt token is the first root
  }
  void forward(const specdec::tree_forward_batch& batch, specdec::matrix_view<float> logits) {
    std::vector<int> attended;
    for (specdec::index_t b = 0; b < batch.batch_size(); ++b) {
      std::vector<int>& cache = kv[batch.requests[b]];
      const specdec::token_tree_view tree = batch.trees.tree(b);
      cache.insert(cache.end(), tree.tokens().begin(), tree.tokens().end());  // node i -> slot committed + i
      for (specdec::index_t i = 0; i < tree.size(); ++i) {
        const specdec::index_t row = batch.trees.offsets().begin(b) + i;
        attended.assign(cache.begin(), cache.begin() + batch.committed[b]);
        for (specdec::index_t j = 0; j <= i; ++j) {
          if ((batch.mask(row, j / 32) >> (j % 32)) & 1u) attended.push_back(tree.token(j));
        }
        model.logits(attended, logits.row_data(row));  // a transformer would also use batch.positions[row]
      }
    }
  }
  void commit(const specdec::kv_commit& c) {
    std::vector<int>& cache = kv[c.request];
    for (const specdec::kv_move& m : c.moves) cache[m.dst] = cache[m.src];  // every layer's K and V
    cache.resize(c.committed_after);
  }
  void release(specdec::request_id r) { kv[r].clear(); }
};
static_assert(specdec::target_model<tiny_lm_backend>);

int main() {
  tiny_lm lm;
  tiny_lm_backend target{lm, {}};
  specdec::prompt_lookup_drafter drafter;  // model-free: drafts continuations seen earlier
  specdec::one_hot_verifier verifier;      // lossless for deterministic drafts
  specdec::speculative_decoder decoder(target, drafter, verifier);
  specdec::request_options options;
  options.params = specdec::sampling_params::make_greedy();
  options.max_new_tokens = 48;
  const std::vector<int> prompt{1, 8, 11, 10};
  const std::vector<int> fast = decoder.generate(prompt, options);

  specdec::autoregressive_decoder<tiny_lm_backend> baseline(target);
  const std::vector<int> slow = baseline.generate(prompt, options);
  std::printf("%zu tokens, %.2f per target forward, identical to autoregressive: %s\n", fast.size(),
              decoder.stats().tokens_per_step(), fast == slow ? "yes" : "no");
  return fast == slow && decoder.stats().tokens_per_step() > 2.0 ? 0 : 1;
}
