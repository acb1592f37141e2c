//! Lossy typical acceptance (Medusa) on the device: the CPU's `lossy_typical_acceptance_verifier` for a
//! ragged batch of trees, from logits.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/types.hpp"
#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/processed_row.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/cuda/status.cuh"
#include "specdec/cuda/verify.cuh"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/tree/token_tree_batch.hpp"
#include "specdec/verify/typical_acceptance_verifier.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! The largest tree `verify_typical_acceptance` takes (its per-node scores live in shared memory); a
//! request with more nodes gets `accepted = -1`.
inline constexpr std::int32_t max_typical_nodes = 2048;

namespace detail {

template <int Block>
struct typical_storage {
  process_storage<Block> process;
  double score[max_typical_nodes];         // sum of log p along the accepted path to a node
  float logprob[max_typical_nodes];        // log p of a node's token at its parent
  std::uint8_t reachable[max_typical_nodes];  // every draft on the node's path accepted
  std::int32_t best;                       // the best node so far / the next node of a greedy walk
  std::int32_t bonus;                      // 1 when the bonus is sampled (no stop token ended emission)
};

// -p log p in double over the processed row (the entropy's terms), as the CPU sums them.
struct entropy_key {
  processed_row row;
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const {
    const float p = row.p(i, l);
    return p > 0.0f ? -static_cast<double>(p) * log(static_cast<double>(p)) : 0.0;
  }
};

//! One block per request. Greedy requests walk as `verify_greedy` (thread 0 finds a node's children by
//! scanning the parents after it). Others visit the nodes in index order: a node whose path was
//! accepted and that has children (`__syncthreads_or` over a parent scan) gets its row processed, its
//! entropy summed in one more pass, and thread 0 accepts each child x with p(x) > min(epsilon,
//! delta * exp(-H)), keeping the deepest accepted node (ties: larger sum of log p, then lower index);
//! finally the path to it is emitted and one more pass samples the bonus at (best, bonus).
template <int Block, class T>
__global__ void __launch_bounds__(Block)
    typical_kernel(token_tree_batch_view trees, const T* logits, std::int32_t vocab, const sampling_params* params,
                   const random_address* addresses, typical_acceptance_params thresholds, stop_token_lists stops,
                   verify_outputs out) {
  __shared__ typical_storage<Block> s;
  const index_t b = blockIdx.x;
  const token_tree_view tree = trees.tree(b);
  const index_t first = trees.offsets().begin(b);  // request b's rows and output entries start here
  const auto n = static_cast<std::int32_t>(tree.size());
  const sampling_params request = params[b];
  const random_address address = addresses[b];
  const bool greedy = request.temperature == 0.0f;
  const auto finish = [&](std::int32_t accepted, std::int32_t emitted, bool stopped) {
    out.accepted[b] = accepted;
    if (out.emitted != nullptr) out.emitted[b] = emitted;
    if (out.stopped != nullptr) out.stopped[b] = stopped ? 1 : 0;
  };
  if (n <= 0 || n > max_typical_nodes) {
    if (threadIdx.x == 0) finish(n <= 0 ? 0 : -1, 0, false);
    return;
  }
  if (threadIdx.x == 0) out.path[first] = 0;
  if (greedy) {
    std::int32_t depth = 0;  // thread 0's walk state
    for (std::int32_t node = 0;;) {
      const row_stats stats = block_row_stats<Block>(logits + (first + node) * vocab, vocab, 1.0f, s.process.pass);
      if (threadIdx.x == 0) {
        const float logprob = -logf(stats.sum);
        std::int32_t child = -1;
        for (std::int32_t j = node + 1; j < n && child < 0; ++j) {
          if (tree.parent(j) == node && tree.token(j) == stats.index) child = j;
        }
        std::int32_t next = -1;
        if (child >= 0) {
          out.path[first + ++depth] = child;
          out.tokens[first + depth - 1] = stats.index;
          if (out.logprobs != nullptr) out.logprobs[first + depth - 1] = logprob;
          if (is_stop(stops, b, stats.index)) {
            finish(depth, depth, true);
          } else {
            next = child;
          }
        } else {
          out.tokens[first + depth] = stats.index;
          if (out.logprobs != nullptr) out.logprobs[first + depth] = logprob;
          finish(depth, depth + 1, is_stop(stops, b, stats.index));
        }
        s.best = next;
      }
      __syncthreads();
      node = s.best;
      if (node < 0) return;
    }
  }
  for (std::int32_t i = static_cast<std::int32_t>(threadIdx.x); i < n; i += Block) s.reachable[i] = i == 0 ? 1 : 0;
  if (threadIdx.x == 0) {
    s.score[0] = 0.0;
    s.best = 0;
  }
  __syncthreads();
  for (std::int32_t node = 0; node < n; ++node) {
    if (s.reachable[node] == 0) continue;  // written by thread 0 before an earlier barrier
    int has_child = 0;
    for (std::int32_t j = node + 1 + static_cast<std::int32_t>(threadIdx.x); j < n && has_child == 0; j += Block) {
      has_child = tree.parent(j) == node ? 1 : 0;
    }
    if (__syncthreads_or(has_child) == 0) continue;
    const T* row = logits + (first + node) * vocab;  // row of flat node first + node
    const processed_row p = block_process_row<Block>(row, vocab, request, s.process);
    entropy_key terms{p};
    const double entropy = block_row_sum<Block>(row, vocab, terms, s.process.pass);
    if (threadIdx.x == 0) {
      const double threshold = fmin(static_cast<double>(thresholds.epsilon),
                                    static_cast<double>(thresholds.delta) * exp(-entropy));
      for (std::int32_t c = node + 1; c < n; ++c) {  // the children in rank order
        if (tree.parent(c) != node) continue;
        const float px = p.p(tree.token(c), to_float(row[tree.token(c)]));
        if (!(static_cast<double>(px) > threshold)) continue;
        s.logprob[c] = static_cast<float>(log(static_cast<double>(px)));
        s.score[c] = s.score[node] + static_cast<double>(s.logprob[c]);
        s.reachable[c] = 1;
        const std::int32_t best = s.best;
        const bool deeper = tree.depth(c) > tree.depth(best);
        const bool same_depth_better = tree.depth(c) == tree.depth(best) && s.score[c] > s.score[best];
        if (deeper || same_depth_better) s.best = c;
      }
    }
    __syncthreads();
  }
  const std::int32_t best = s.best;
  const auto accepted = static_cast<std::int32_t>(tree.depth(best));
  if (threadIdx.x == 0) {
    for (std::int32_t v = best; v != 0; v = tree.parent(v)) out.path[first + tree.depth(v)] = v;
    std::int32_t bonus = 1;
    for (std::int32_t d = 1; d <= accepted; ++d) {  // emit root first; a stop token ends emission
      const std::int32_t v = out.path[first + d];
      out.tokens[first + d - 1] = tree.token(v);
      if (out.logprobs != nullptr) out.logprobs[first + d - 1] = s.logprob[v];
      if (is_stop(stops, b, tree.token(v))) {
        finish(d, d, true);
        bonus = 0;
        break;
      }
    }
    s.bonus = bonus;
  }
  __syncthreads();
  if (s.bonus == 0) return;
  const T* row = logits + (first + best) * vocab;
  const processed_row p = block_process_row<Block>(row, vocab, request, s.process);
  target_key key{p, -1};
  const scored_index drawn =
      block_row_race<race_kind::exponential, Block>(row, vocab, address.at(static_cast<std::uint32_t>(best), purpose::bonus), key, s.process.pass);
  if (threadIdx.x == 0) {
    out.tokens[first + accepted] = drawn.index;
    if (out.logprobs != nullptr) {
      out.logprobs[first + accepted] = drawn.index >= 0 ? static_cast<float>(log(static_cast<double>(p.p(drawn.index, to_float(row[drawn.index]))))) : 0.0f;
    }
    finish(accepted, accepted + 1, is_stop(stops, b, drawn.index));
  }
}

} // namespace detail

//! **Lossy** typical acceptance (Medusa) from logits: the CPU's `lossy_typical_acceptance_verifier`
//! per request. Accepts a draft x iff p(x) > min(epsilon, delta * exp(-H(p))) with p the processed
//! target distribution at its parent and H its entropy; keeps the deepest fully accepted root path
//! (ties: larger sum of log p, then lower node index) and samples the bonus from p at its last node
//! at (node, bonus). Temperature 0 selects the greedy rule. Unlike the lossless rules it processes the
//! row of every node whose path is accepted and that has children (two passes each, plus top-k / min-p
//! passes), then one more pass for the bonus. Trees of at most `max_typical_nodes` nodes (else
//! `accepted = -1`). Layout, mapping, outputs and errors as `verify_one_hot`; invalid `thresholds`
//! (epsilon outside (0, 1], delta negative or not finite) give cudaErrorInvalidValue.
template <class T>
[[nodiscard]] cudaError_t verify_typical_acceptance(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                                    const sampling_params* params, const random_address* addresses,
                                                    const typical_acceptance_params& thresholds, const verify_outputs& out,
                                                    const stop_token_lists& stops = {}, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  const index_t batch = trees.batch_size();
  if (batch < 0 || batch > 0x7fffffff || vocab <= 0 || out.path == nullptr || out.tokens == nullptr ||
      out.accepted == nullptr || params == nullptr || addresses == nullptr || !(thresholds.epsilon > 0.0f) ||
      !(thresholds.epsilon <= 1.0f) || !(thresholds.delta >= 0.0f) || !std::isfinite(thresholds.delta)) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  detail::typical_kernel<verify_block_size><<<static_cast<unsigned int>(batch), verify_block_size, 0, stream>>>(
      trees, logits, vocab, params, addresses, thresholds, stops, out);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
