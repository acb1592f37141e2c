//! Drafters for the conformance kit: each proposes a tree over a toy draft model by a stated rule, and
//! records the draft distributions q exactly as it sampled from them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "specdec/core/matrix_view.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sample.hpp"
#include "specdec/testing/markov_model.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {
namespace testing {

//! What a kit drafter fills in: the tree (root = `context.back()`) and one q row per node.
struct draft_output {
  token_tree tree{0};
  std::vector<float> q;  //!< `[tree.size(), vocab]` row-major; rows the rule does not use are zeros

  [[nodiscard]] const_matrix_view<float> q_view(index_t vocab) const {
    return {q.data(), tree.size(), vocab};
  }
};

namespace detail {

//! The model's context at node `node`: the `order` most recent tokens along the node's path, falling
//! back to the committed context above the root.
inline void node_context(const token_tree& tree, std::int32_t node, std::span<const token_id> context, int order,
                         std::vector<token_id>& out) {
  out.clear();
  std::int32_t n = node;
  while (static_cast<int>(out.size()) < order && n > 0) {
    out.push_back(tree.token(n));
    n = tree.parent(n);
  }
  // Node 0 is context.back(); above it, the committed context.
  for (std::size_t k = context.size(); static_cast<int>(out.size()) < order && k-- > 0;) out.push_back(context[k]);
  std::reverse(out.begin(), out.end());
}

} // namespace detail

//! Samples a chain of `depth` drafts from the draft model processed with `params` (the rule of
//! independent draft models: Leviathan et al., Chen et al.). q row i is the distribution node i+1 was
//! drawn from. Random address of a draft: (its own node index, `purpose::draft_sample`), as in every
//! kit drafter.
class chain_sampling_drafter {
public:
  chain_sampling_drafter(int depth, sampling_params params) : depth_(depth), params_(params) {}

  void draft(const markov_model& model, std::span<const token_id> context, const random_address& address, draft_output& out) {
    const auto vocab = static_cast<std::size_t>(model.vocab());
    out.tree.clear(context.back());
    out.q.assign(static_cast<std::size_t>(depth_ + 1) * vocab, 0.0f);
    for (std::int32_t node = 0; node < depth_; ++node) {
      detail::node_context(out.tree, node, context, model.order(), scratch_);
      const std::span<float> q(out.q.data() + static_cast<std::size_t>(node) * vocab, vocab);
      processor_.probabilities(model.logits(scratch_), params_, q);
      const token_id x = sample_exponential_race(std::span<const float>(q), address.at(static_cast<std::uint32_t>(node + 1), purpose::draft_sample));
      out.tree.add_child(node, x);
    }
  }

private:
  int depth_;
  sampling_params params_;
  logits_processor processor_;
  std::vector<token_id> scratch_;
};

//! A sampled tree: every node at depth d < branching.size() gets `branching[d]` children drawn from the
//! processed draft distribution q at that node, either i.i.d. (`with_replacement`, the SpecInfer
//! rule: duplicates occur) or sequentially without replacement (Sequoia, EAGLE: each draw from q with
//! the earlier draws zeroed). q row n is the node's full distribution, as the rules expect. Nodes are
//! numbered breadth first; children in draw order.
class sampled_tree_drafter {
public:
  sampled_tree_drafter(std::vector<int> branching, sampling_params params, bool with_replacement)
      : branching_(std::move(branching)), params_(params), with_replacement_(with_replacement) {}

  void draft(const markov_model& model, std::span<const token_id> context, const random_address& address, draft_output& out) {
    const auto vocab = static_cast<std::size_t>(model.vocab());
    out.tree.clear(context.back());
    out.q.clear();
    std::size_t level_begin = 0;
    for (std::size_t d = 0; d <= branching_.size(); ++d) {
      const std::size_t level_end = static_cast<std::size_t>(out.tree.size());
      for (std::size_t node = level_begin; node < level_end; ++node) {
        detail::node_context(out.tree, static_cast<std::int32_t>(node), context, model.order(), scratch_);
        out.q.resize((node + 1) * vocab);
        const std::span<float> q(out.q.data() + node * vocab, vocab);
        processor_.probabilities(model.logits(scratch_), params_, q);
        if (d == branching_.size()) continue;  // leaves: q recorded, no children
        weights_.assign(q.begin(), q.end());
        for (int j = 0; j < branching_[d]; ++j) {
          if (std::none_of(weights_.begin(), weights_.end(), [](float w) { return w > 0.0f; })) break;
          const auto child = static_cast<std::uint32_t>(out.tree.size());
          const token_id x = sample_exponential_race(std::span<const float>(weights_), address.at(child, purpose::draft_sample));
          out.tree.add_child(static_cast<std::int32_t>(node), x);
          if (!with_replacement_) weights_[static_cast<std::size_t>(x)] = 0.0f;
        }
      }
      level_begin = level_end;
    }
    out.q.resize(static_cast<std::size_t>(out.tree.size()) * vocab, 0.0f);
  }

private:
  std::vector<int> branching_;
  sampling_params params_;
  bool with_replacement_;
  logits_processor processor_;
  std::vector<token_id> scratch_;
  std::vector<float> weights_;
};

//! A deterministic tree: the children of a node at depth d are the `branching[d]` most probable tokens
//! of the draft model there (ties to the lowest id), in that rank order -- one-hot drafts, as top-k
//! tree drafters (EAGLE-2 without reranking) and Medusa produce. Nodes are numbered breadth first.
class top_k_tree_drafter {
public:
  explicit top_k_tree_drafter(std::vector<int> branching) : branching_(std::move(branching)) {}

  void draft(const markov_model& model, std::span<const token_id> context, const random_address&, draft_output& out) {
    const auto vocab = static_cast<std::size_t>(model.vocab());
    out.tree.clear(context.back());
    std::size_t level_begin = 0;
    for (std::size_t d = 0; d < branching_.size(); ++d) {
      const std::size_t level_end = static_cast<std::size_t>(out.tree.size());
      for (std::size_t node = level_begin; node < level_end; ++node) {
        detail::node_context(out.tree, static_cast<std::int32_t>(node), context, model.order(), scratch_);
        const std::span<const float> logits = model.logits(scratch_);
        order_.resize(vocab);
        std::iota(order_.begin(), order_.end(), 0);
        std::stable_sort(order_.begin(), order_.end(), [&](token_id a, token_id b) {
          return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
        });
        const auto k = std::min<std::size_t>(static_cast<std::size_t>(branching_[d]), vocab);
        for (std::size_t j = 0; j < k; ++j) out.tree.add_child(static_cast<std::int32_t>(node), order_[j]);
      }
      level_begin = level_end;
    }
    out.q.assign(static_cast<std::size_t>(out.tree.size()) * vocab, 0.0f);
  }

private:
  std::vector<int> branching_;
  std::vector<token_id> scratch_;
  std::vector<token_id> order_;
};

//! Random tree shapes of up to `max_nodes` nodes whose tokens are the draft model's argmax (so that
//! some get accepted) or, with probability 1/3, a random token -- for the greedy rule, which must agree
//! with plain argmax decoding on any tree. Duplicate siblings occur.
class random_tree_drafter {
public:
  explicit random_tree_drafter(int max_nodes) : max_nodes_(max_nodes) {}

  void draft(const markov_model& model, std::span<const token_id> context, const random_address& address, draft_output& out) {
    const auto vocab = static_cast<std::uint32_t>(model.vocab());
    out.tree.clear(context.back());
    const random_address a = address.at(0, purpose::draft_sample);
    const auto nodes = 1 + a.word(0) % static_cast<std::uint32_t>(max_nodes_);
    for (std::uint32_t i = 1; i < nodes; ++i) {
      const auto parent = static_cast<std::int32_t>(a.word(3 * i) % i);
      detail::node_context(out.tree, parent, context, model.order(), scratch_);
      const token_id guess = a.word(3 * i + 1) % 3 == 0 ? static_cast<token_id>(a.word(3 * i + 2) % vocab)
                                                        : argmax(model.logits(scratch_));
      out.tree.add_child(parent, guess);
    }
    out.q.assign(static_cast<std::size_t>(out.tree.size()) * vocab, 0.0f);
  }

private:
  int max_nodes_;
  std::vector<token_id> scratch_;
};

} // namespace testing
} // namespace v0
} // namespace specdec
