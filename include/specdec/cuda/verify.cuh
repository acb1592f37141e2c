//! Batched verification from logits on the device: greedy and one-hot rules on any tree and speculative
//! sampling on a chain, each walking the tree inside one kernel and reading only the rows on the path.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cstdint>

#include "specdec/core/philox.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/types.hpp"
#include "specdec/cuda/detail/device_math.cuh"
#include "specdec/cuda/detail/processed_row.cuh"
#include "specdec/cuda/detail/row_reduce.cuh"
#include "specdec/cuda/status.cuh"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! Where a batched verification writes its outcome: device arrays, the per-node ones ragged like the
//! batch's tree nodes (request b owns entries `[offsets[b], offsets[b + 1])`, enough for any outcome:
//! a path has at most N nodes and a step emits at most N tokens).
struct verify_outputs {
  //! `path[offsets[b] + d]` for d in [0, accepted[b]]: the accepted node at depth d, local to the
  //! tree (d = 0 is the root, 0). As `verify_result::path`.
  std::int32_t* path = nullptr;
  //! `tokens[offsets[b] + j]` for j < emitted[b]: the accepted drafts, then the correction or bonus
  //! (absent when a stop token among the drafts ended emission). As `verify_result::tokens`.
  token_id* tokens = nullptr;
  //! Optional: log p of each emitted token, as `verify_result::logprobs` (float rounding aside).
  float* logprobs = nullptr;
  //! `[B]`: accepted draft tokens, `verify_result::accepted()`; -1 for a request a kernel cannot take
  //! (a multi-draft / rrs node with more than `max_multi_draft_children` children, a typical-acceptance
  //! tree with more than `max_typical_nodes` nodes).
  std::int32_t* accepted = nullptr;
  //! Optional `[B]`: emitted tokens (accepted + 1, or accepted when a stop token ended emission).
  std::int32_t* emitted = nullptr;
  //! Optional `[B]`: 1 when emission ended at a stop token, as `verify_result::stopped`.
  std::uint8_t* stopped = nullptr;
};

//! Optional stop tokens, in device memory: request b's are `tokens[offsets[b], offsets[b + 1])`;
//! null `offsets` means none.
struct stop_token_lists {
  const std::int32_t* offsets = nullptr;
  const token_id* tokens = nullptr;
};

//! Threads per block of the verification kernels (one block per request).
inline constexpr int verify_block_size = 512;

//! The most children a node may have in `verify_multi_draft` (each rejection keeps one residual
//! normaliser in shared memory); a request with a wider node gets `accepted = -1`.
inline constexpr std::int32_t max_multi_draft_children = 64;

namespace detail {

//! The rule a verification kernel applies when the request is not greedy.
enum class tree_rule : std::uint8_t { greedy, one_hot, chain, multi_draft, rrs };

template <int Block>
struct verify_storage {
  process_storage<Block> process;
  typename cub::BlockScan<std::int32_t, Block>::TempStorage scan;
  std::int32_t children[max_tree_nodes];  // the current node's children, rank order
  token_id child_tokens[max_tree_nodes];  // their tokens
  double inv[max_multi_draft_children + 1];    // multi-draft and rrs: 1 / the mass of each residual
  double inv_q[max_multi_draft_children + 1];  // rrs: 1 / the mass of each draft distribution
  std::int32_t decision;                  // thread 0's accepted child at this node, or -1
  std::int32_t next_node;                 // the node the walk continues from, or -1 when it ends
};

__device__ __forceinline__ bool is_stop(const stop_token_lists& stops, index_t request, token_id token) {
  if (stops.offsets == nullptr) return false;
  for (std::int32_t k = stops.offsets[request]; k < stops.offsets[request + 1]; ++k) {
    if (stops.tokens[k] == token) return true;
  }
  return false;
}

//! Writes the children of `node` (the nodes j > node with parent j == node, increasing j: rank order)
//! and their tokens to shared memory and returns their count to every thread. Thread mapping: the
//! nodes after `node` in chunks of Block, thread t testing node start + t; a BlockScan turns the flags
//! into positions. O(N / Block) steps. `Storage` has `scan` (a BlockScan<int32, Block> TempStorage),
//! `children` and `child_tokens` (`max_tree_nodes` entries each).
template <int Block, class Storage>
__device__ std::int32_t collect_children(const token_tree_view& tree, std::int32_t node, Storage& s) {
  const auto n = static_cast<std::int32_t>(tree.size());
  std::int32_t count = 0;
  for (std::int32_t start = node + 1; start < n; start += Block) {
    const std::int32_t j = start + static_cast<std::int32_t>(threadIdx.x);
    const std::int32_t flag = j < n && tree.parent(j) == node ? 1 : 0;
    std::int32_t position = 0;
    std::int32_t total = 0;
    __syncthreads();  // scan storage reuse
    cub::BlockScan<std::int32_t, Block>(s.scan).ExclusiveSum(flag, position, total);
    if (flag != 0) {
      s.children[count + position] = j;
      s.child_tokens[count + position] = tree.token(j);
    }
    count += total;
  }
  __syncthreads();  // the lists are complete
  return count;
}

// Residual key of the one-hot rule: p with the children's tokens zeroed.
template <int Block>
struct one_hot_residual_key {
  processed_row row;
  const token_id* child_tokens;
  std::int32_t count;
  __device__ __forceinline__ float operator()(std::int32_t i, float l) const {
    for (std::int32_t k = 0; k < count; ++k) {
      if (child_tokens[k] == i) return 0.0f;
    }
    return row.p(i, l);
  }
};

// Residual key of the chain rule: max(0, p - q), as the CPU computes it in float.
struct chain_residual_key {
  processed_row row;
  const float* q;  // the q row of the rejected draft's parent
  __device__ __forceinline__ float operator()(std::int32_t i, float l) const {
    return fmaxf(0.0f, __fsub_rn(row.p(i, l), q[i]));
  }
};

//! The multi-draft residual after k rejections at one entry, exactly as the CPU's
//! `multi_draft_verifier` builds it in double: A_0 = p * inv[0] (p normalised), and
//! A_j = max(0, A_{j-1} - q) * inv[j] (the renormalised residual; inv[j] = 1 when the mass was 0).
__device__ __forceinline__ double residual_at(double p, float q, const double* inv, std::int32_t k) {
  double a = p * inv[0];
  for (std::int32_t j = 1; j <= k; ++j) a = fmax(0.0, a - static_cast<double>(q)) * inv[j];
  return a;
}

// p(l) in double (the mass that normalises r = p).
struct target_double_key {
  processed_row row;
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const { return static_cast<double>(row.p(i, l)); }
};

// max(0, A_k - q): the unnormalised residual after rejecting child k (its sum is 1 / inv[k + 1]).
struct multi_step_key {
  processed_row row;
  const float* q;
  const double* inv;
  std::int32_t k;
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const {
    return fmax(0.0, residual_at(static_cast<double>(row.p(i, l)), q[i], inv, k) - static_cast<double>(q[i]));
  }
};

// A_k: the residual the final token is sampled from after k rejections.
struct multi_residual_key {
  processed_row row;
  const float* q;
  const double* inv;
  std::int32_t k;
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const {
    return residual_at(static_cast<double>(row.p(i, l)), q[i], inv, k);
  }
};

//! The multi-draft (with replacement) rule at one node, block-wide: thread 0 tests child k against
//! A_k (child 0 against p itself, as the CPU's lazy first test), and each rejection costs one pass
//! (two for the first) summing the next residual's mass into `s.inv`. Sets `s.decision` and, on thread
//! 0, the accepted child and its log p.
template <int Block, class T, class Storage>
__device__ void multi_draft_decide(const T* row, std::int32_t vocab, const processed_row& p, const float* q,
                                   std::int32_t count, const random_address& address, Storage& s,
                                   std::int32_t& accepted_child, float& child_logprob) {
  if (count == 0 && threadIdx.x == 0) s.decision = -1;  // a leaf: the bonus
  for (std::int32_t k = 0; k < count; ++k) {
    if (threadIdx.x == 0) {
      const token_id x = s.child_tokens[k];
      const float qx = q[x];
      const float px = p.p(x, to_float(row[x]));
      const double rx = k == 0 ? static_cast<double>(px) : residual_at(static_cast<double>(px), qx, s.inv, k);
      const double u = uniform_double(address.at(static_cast<std::uint32_t>(s.children[k]), purpose::accept));
      const bool accept = qx > 0.0f && u * static_cast<double>(qx) <= rx;
      s.decision = accept ? s.children[k] : -1;
      if (accept) {
        accepted_child = s.children[k];
        child_logprob = static_cast<float>(log(static_cast<double>(px)));
      }
    }
    __syncthreads();
    if (s.decision >= 0) return;  // its next write follows the passes' barriers below
    if (k == 0) {
      target_double_key mass{p};
      const double sum = block_row_sum<Block>(row, vocab, mass, s.process.pass);
      if (threadIdx.x == 0) s.inv[0] = 1.0 / sum;
    }
    multi_step_key step{p, q, s.inv, k};
    const double sum = block_row_sum<Block>(row, vocab, step, s.process.pass);  // opens with a barrier
    if (threadIdx.x == 0) s.inv[k + 1] = sum > 0.0 ? 1.0 / sum : 1.0;  // a zero mass stays untouched
  }
  // The caller's barrier publishes s.inv[count] before the final race reads it.
}

//! The position of token t among the node's children (tokens distinct), or -1.
__device__ __forceinline__ std::int32_t child_index(const token_id* child_tokens, std::int32_t count, std::int32_t t) {
  for (std::int32_t k = 0; k < count; ++k) {
    if (child_tokens[k] == t) return k;
  }
  return -1;
}

//! Recursive rejection sampling's residual r and draft distribution q at one entry after j rejections,
//! exactly as the CPU's `rrs_verifier` builds them in double: r = p * inv_r[0], q = q * inv_q[0]
//! (both normalised), then per rejection i < j: r = max(0, r - q) * inv_r[i + 1] (subtracting the q the
//! rejected draft was drawn from) and q = 0 if the entry is child i's token, else q * inv_q[i + 1].
//! `m` is the entry's position among the children (-1: none).
struct rrs_entry {
  double r;
  double q;
};

__device__ __forceinline__ rrs_entry rrs_at(double p, float q, std::int32_t m, const double* inv_r, const double* inv_q,
                                            std::int32_t j) {
  double r = p * inv_r[0];
  double qq = static_cast<double>(q) * inv_q[0];
  for (std::int32_t i = 0; i < j; ++i) {
    r = fmax(0.0, r - qq) * inv_r[i + 1];
    qq = m == i ? 0.0 : qq * inv_q[i + 1];
  }
  return {r, qq};
}

// q in double (the mass that normalises q^(1)).
struct draft_double_key {
  const float* q;
  __device__ __forceinline__ double operator()(std::int32_t i, float) const { return static_cast<double>(q[i]); }
};

// rrs after j rejections: what = 0 gives max(0, r - q) (the next residual before normalisation), 1 gives q
// with child j's token zeroed (the next draft distribution before normalisation), 2 gives r itself.
struct rrs_key {
  processed_row row;
  const float* q;
  const token_id* child_tokens;
  std::int32_t count;
  const double* inv_r;
  const double* inv_q;
  std::int32_t j;
  int what;
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const {
    const std::int32_t m = child_index(child_tokens, count, i);
    const rrs_entry e = rrs_at(static_cast<double>(row.p(i, l)), q[i], m, inv_r, inv_q, j);
    if (what == 0) return fmax(0.0, e.r - e.q);
    if (what == 1) return m == j ? 0.0 : e.q;
    return e.r;
  }
};

//! The rrs rule at one node, block-wide: thread 0 tests child j against (r, q) after j rejections
//! (child 0 against p and the raw q, as the CPU's lazy first test); each rejection costs two passes
//! (the next residual's and the next draft distribution's masses; two more for the first: p's and
//! q's). Sets `s.decision` and, on thread 0, the accepted child and its log p.
template <int Block, class T, class Storage>
__device__ void rrs_decide(const T* row, std::int32_t vocab, const processed_row& p, const float* q, std::int32_t count,
                           const random_address& address, Storage& s, std::int32_t& accepted_child, float& child_logprob) {
  if (count == 0 && threadIdx.x == 0) s.decision = -1;  // a leaf: the bonus
  for (std::int32_t j = 0; j < count; ++j) {
    if (threadIdx.x == 0) {
      const token_id x = s.child_tokens[j];
      const float px = p.p(x, to_float(row[x]));
      double rx = static_cast<double>(px);
      double qx = static_cast<double>(q[x]);
      if (j > 0) {
        const rrs_entry e = rrs_at(rx, q[x], j, s.inv, s.inv_q, j);
        rx = e.r;
        qx = e.q;
      }
      const double u = uniform_double(address.at(static_cast<std::uint32_t>(s.children[j]), purpose::accept));
      const bool accept = qx > 0.0 && u * qx <= rx;
      s.decision = accept ? s.children[j] : -1;
      if (accept) {
        accepted_child = s.children[j];
        child_logprob = static_cast<float>(log(static_cast<double>(px)));
      }
    }
    __syncthreads();
    if (s.decision >= 0) return;  // its next write follows the passes' barriers below
    if (j == 0) {
      target_double_key p_mass{p};
      const double sum_p = block_row_sum<Block>(row, vocab, p_mass, s.process.pass);
      draft_double_key q_mass{q};
      const double sum_q = block_row_sum<Block>(row, vocab, q_mass, s.process.pass);
      if (threadIdx.x == 0) {
        s.inv[0] = 1.0 / sum_p;
        s.inv_q[0] = sum_q > 0.0 ? 1.0 / sum_q : 1.0;
      }
    }
    rrs_key residual{p, q, s.child_tokens, count, s.inv, s.inv_q, j, 0};
    const double sum_r = block_row_sum<Block>(row, vocab, residual, s.process.pass);  // opens with a barrier
    rrs_key draft{p, q, s.child_tokens, count, s.inv, s.inv_q, j, 1};
    const double sum_q = block_row_sum<Block>(row, vocab, draft, s.process.pass);
    if (threadIdx.x == 0) {
      s.inv[j + 1] = sum_r > 0.0 ? 1.0 / sum_r : 1.0;  // a zero mass stays untouched
      s.inv_q[j + 1] = sum_q > 0.0 ? 1.0 / sum_q : 1.0;
    }
  }
}

// p with one token zeroed (the chain rule's fallback), or p itself (excluded = -1: the bonus).
struct target_key {
  processed_row row;
  token_id excluded;
  __device__ __forceinline__ float operator()(std::int32_t i, float l) const { return i == excluded ? 0.0f : row.p(i, l); }
};

//! One block per request (blockIdx.x = b). The block walks request b's tree from the root: at each
//! node it reads the node's row once for its statistics (max, argmax, Z: one pass; top-k adds four
//! radix-select passes, top-k or min-p one more), thread 0 takes the rule's decision over the
//! children (a few scalar reads: p(x) needs only the child's logit once Z is known), and the walk
//! descends; only at the end does one more pass sample the correction or bonus. Rows off the path are
//! never read, and no probability row is written.
template <tree_rule Rule, int Block, class T>
__global__ void __launch_bounds__(Block)
    verify_tree_kernel(token_tree_batch_view trees, const T* logits, std::int32_t vocab, const float* draft_probs,
                       const sampling_params* params, const random_address* addresses, stop_token_lists stops,
                       verify_outputs out) {
  __shared__ verify_storage<Block> s;
  const index_t b = blockIdx.x;
  const token_tree_view tree = trees.tree(b);
  const index_t first = trees.offsets().begin(b);  // request b's rows and output entries start here
  const auto n = static_cast<std::int32_t>(tree.size());
  sampling_params request{};
  request.temperature = 0.0f;  // the greedy rule
  random_address address{};
  if constexpr (Rule != tree_rule::greedy) {
    request = params[b];
    address = addresses[b];
  }
  const bool greedy = request.temperature == 0.0f;
  if (n <= 0) {
    if (threadIdx.x == 0) {
      out.accepted[b] = 0;
      if (out.emitted != nullptr) out.emitted[b] = 0;
      if (out.stopped != nullptr) out.stopped[b] = 0;
    }
    return;
  }
  // Thread 0's walk state (the other threads learn the node through s.next_node).
  std::int32_t depth = 0;
  std::int32_t emitted = 0;
  bool stopped = false;
  if (threadIdx.x == 0) out.path[first] = 0;
  for (std::int32_t node = 0;;) {
    const T* row = logits + (first + node) * vocab;  // row of flat node first + node
    std::int32_t count = 0;
    if constexpr (Rule == tree_rule::chain) {
      count = node + 1 < n ? 1 : 0;  // a chain: node's only child is node + 1
      if (threadIdx.x == 0 && count == 1) {
        s.children[0] = node + 1;
        s.child_tokens[0] = tree.token(node + 1);
      }
    } else {
      count = collect_children<Block>(tree, node, s);
      if ((Rule == tree_rule::multi_draft || Rule == tree_rule::rrs) && !greedy && count > max_multi_draft_children) {
        if (threadIdx.x == 0) {
          out.accepted[b] = -1;
          if (out.emitted != nullptr) out.emitted[b] = 0;
          if (out.stopped != nullptr) out.stopped[b] = 0;
        }
        return;
      }
    }
    // The decision: an accepted child (thread 0 emits it and continues from it), or the final token.
    std::int32_t accepted_child = -1;
    token_id final_token = no_token;
    float final_logprob = 0.0f;
    float child_logprob = 0.0f;
    if (greedy) {
      const row_stats stats = block_row_stats<Block>(row, vocab, 1.0f, s.process.pass);
      if (threadIdx.x == 0) {
        const float logprob = -logf(stats.sum);  // max - logsumexp = -log(sum exp(l - max))
        for (std::int32_t k = 0; k < count; ++k) {
          if (s.child_tokens[k] == stats.index) {
            accepted_child = s.children[k];
            break;
          }
        }
        child_logprob = logprob;
        final_token = stats.index;
        final_logprob = logprob;
      }
    } else if constexpr (Rule != tree_rule::greedy) {
      const processed_row p = block_process_row<Block>(row, vocab, request, s.process);
      const float* q = draft_probs != nullptr ? draft_probs + (first + node) * vocab : nullptr;  // node's q row
      if constexpr (Rule == tree_rule::multi_draft) {
        multi_draft_decide<Block>(row, vocab, p, q, count, address, s, accepted_child, child_logprob);
      } else if constexpr (Rule == tree_rule::rrs) {
        rrs_decide<Block>(row, vocab, p, q, count, address, s, accepted_child, child_logprob);
      } else if (threadIdx.x == 0) {
        if constexpr (Rule == tree_rule::one_hot) {
          // Try the children in rank order against r = p with the rejected tokens zeroed; r is kept as
          // the remaining mass, and renormalisation is the test u * mass <= r(x).
          double mass = 1.0;
          for (std::int32_t k = 0; k < count; ++k) {
            const token_id x = s.child_tokens[k];
            bool zeroed = false;  // an earlier (so rejected) sibling had the same token
            for (std::int32_t e = 0; e < k; ++e) zeroed = zeroed || s.child_tokens[e] == x;
            const double rx = zeroed ? 0.0 : static_cast<double>(p.p(x, to_float(row[x])));
            const double u = uniform_double(address.at(static_cast<std::uint32_t>(s.children[k]), purpose::accept));
            if (rx > 0.0 && u * mass <= rx) {
              accepted_child = s.children[k];
              child_logprob = static_cast<float>(log(rx));
              break;
            }
            if (!zeroed) mass = fmax(0.0, mass - rx);
          }
        } else if (count == 1) {  // chain: accept x iff u <= p(x) / q(x), q(x) = 0 rejecting
          const token_id x = s.child_tokens[0];
          const float qx = q[x];
          const float px = p.p(x, to_float(row[x]));
          const double u = uniform_double(address.at(static_cast<std::uint32_t>(node + 1), purpose::accept));
          if (qx > 0.0f && u * static_cast<double>(qx) <= static_cast<double>(px)) {
            accepted_child = node + 1;
            child_logprob = static_cast<float>(log(static_cast<double>(px)));
          }
        }
        s.decision = accepted_child;
      }
      __syncthreads();
      // s.decision and s.next_node are separate words: thread 0 rewrites s.next_node below while other
      // threads may still be reading s.decision (its next write comes after this node's next barrier).
      if (s.decision < 0) {
        // Every child rejected (the residual, at (node, residual)) or a leaf (the bonus, at (node, bonus)).
        scored_index best = no_candidate();
        if (count == 0) {
          target_key key{p, -1};
          best = block_row_race<race_kind::exponential, Block>(row, vocab, address.at(static_cast<std::uint32_t>(node), purpose::bonus), key, s.process.pass);
        } else {
          const random_address at = address.at(static_cast<std::uint32_t>(node), purpose::residual);
          if constexpr (Rule == tree_rule::one_hot) {
            one_hot_residual_key<Block> key{p, s.child_tokens, count};
            best = block_row_race<race_kind::exponential, Block>(row, vocab, at, key, s.process.pass);
            if (best.index < 0) {  // the residual rounded to nothing: sample p
              target_key fallback{p, -1};
              best = block_row_race<race_kind::exponential, Block>(row, vocab, at, fallback, s.process.pass);
            }
          } else if constexpr (Rule == tree_rule::multi_draft || Rule == tree_rule::rrs) {
            scored<double> drawn{};
            if constexpr (Rule == tree_rule::multi_draft) {
              multi_residual_key key{p, q, s.inv, count};
              drawn = block_row_race<race_kind::exponential, Block>(row, vocab, at, key, s.process.pass);
            } else {
              rrs_key key{p, q, s.child_tokens, count, s.inv, s.inv_q, count, 2};
              drawn = block_row_race<race_kind::exponential, Block>(row, vocab, at, key, s.process.pass);
            }
            best = {static_cast<float>(drawn.score), drawn.index};
            if (best.index < 0) {  // the residual rounded to nothing: p without the children's tokens, then p
              one_hot_residual_key<Block> fallback{p, s.child_tokens, count};
              best = block_row_race<race_kind::exponential, Block>(row, vocab, at, fallback, s.process.pass);
              if (best.index < 0) {
                target_key last{p, -1};
                best = block_row_race<race_kind::exponential, Block>(row, vocab, at, last, s.process.pass);
              }
            }
          } else {
            chain_residual_key key{p, q};
            best = block_row_race<race_kind::exponential, Block>(row, vocab, at, key, s.process.pass);
            if (best.index < 0) {  // the residual rounded to nothing: p without the rejected token
              target_key fallback{p, s.child_tokens[0]};
              best = block_row_race<race_kind::exponential, Block>(row, vocab, at, fallback, s.process.pass);
            }
          }
        }
        if (threadIdx.x == 0) {
          final_token = best.index;
          final_logprob = best.index >= 0 ? static_cast<float>(log(static_cast<double>(p.p(best.index, to_float(row[best.index]))))) : 0.0f;
        }
      }
    }
    // Thread 0 emits; the block follows s.next_node.
    if (threadIdx.x == 0) {
      std::int32_t next = -1;
      if (accepted_child >= 0) {
        const token_id x = tree.token(accepted_child);
        ++depth;
        out.path[first + depth] = accepted_child;
        out.tokens[first + emitted] = x;
        if (out.logprobs != nullptr) out.logprobs[first + emitted] = child_logprob;
        ++emitted;
        stopped = is_stop(stops, b, x);
        if (!stopped) next = accepted_child;
      } else {
        out.tokens[first + emitted] = final_token;
        if (out.logprobs != nullptr) out.logprobs[first + emitted] = final_logprob;
        ++emitted;
        stopped = is_stop(stops, b, final_token);
      }
      if (next < 0) {
        out.accepted[b] = depth;
        if (out.emitted != nullptr) out.emitted[b] = emitted;
        if (out.stopped != nullptr) out.stopped[b] = stopped ? 1 : 0;
      }
      s.next_node = next;
    }
    __syncthreads();
    node = s.next_node;
    if (node < 0) return;
  }
}

template <tree_rule Rule, class T>
[[nodiscard]] cudaError_t launch_verify(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                        const float* draft_probs, const sampling_params* params,
                                        const random_address* addresses, const stop_token_lists& stops,
                                        const verify_outputs& out, cudaStream_t stream) {
  static_assert(is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  const index_t batch = trees.batch_size();
  if (batch < 0 || batch > 0x7fffffff || vocab <= 0 || out.path == nullptr || out.tokens == nullptr ||
      out.accepted == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (Rule != tree_rule::greedy && (params == nullptr || addresses == nullptr)) return cudaErrorInvalidValue;
  if (Rule != tree_rule::greedy && Rule != tree_rule::one_hot && draft_probs == nullptr) return cudaErrorInvalidValue;
  if (batch == 0) return cudaSuccess;
  verify_tree_kernel<Rule, verify_block_size><<<static_cast<unsigned int>(batch), verify_block_size, 0, stream>>>(
      trees, logits, vocab, draft_probs, params, addresses, stops, out);
  return cudaGetLastError();
}

} // namespace detail

//! Greedy verification of a ragged batch of trees from logits: the CPU's `greedy_verifier` per request.
//! `trees` is a `token_tree_batch_view` over device arrays (offsets, tokens, parents, depths: the
//! `[B + 1]` CSR offsets and `[total_nodes]` node arrays; its batch size is read on the host from the
//! view, the offsets themselves only on the device); `logits` is `[total_nodes, vocab]` row-major in
//! device memory, row `offsets[b] + i` judging node i's children. From the root, descend into the first
//! child (rank order) whose token is the row's argmax (ties to the lowest id); emit the argmax at the
//! last accepted node. One block of `verify_block_size` threads per request; each row on the path is
//! read once (16-byte vectors, `row_unroll` in flight per thread), so a request reads accepted + 1
//! rows. Logprobs are the unprocessed log-softmax. Preconditions (not checked on the device): valid
//! trees (topological order, parents local to each tree, at most `max_tree_nodes` nodes) and valid
//! rows (finite or -inf, one finite). Returns cudaErrorInvalidValue for a null required output or
//! vocab <= 0, else the launch status. No allocation, no synchronisation, capturable in a graph.
template <class T>
[[nodiscard]] cudaError_t verify_greedy(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                        const verify_outputs& out, const stop_token_lists& stops = {},
                                        cudaStream_t stream = nullptr) {
  return detail::launch_verify<detail::tree_rule::greedy>(trees, logits, vocab, nullptr, nullptr, nullptr, stops, out,
                                                          stream);
}

//! One-hot ("target-only") tree verification from logits: the CPU's `one_hot_verifier` per request,
//! at the same Philox addresses (child c's uniform at (c, accept), the residual at (node, residual),
//! the bonus at (leaf, bonus); `addresses[b]` gives seed, request and step). `params[b]` (device) is
//! request b's processing: temperature (0 selects the greedy rule), top-k, top-p, min-p. At a node the block computes the row's statistics
//! in one pass, thread 0 tries the children against the running residual mass (p(x) from one logit
//! each), and only a rejection of every child or a leaf costs one more pass (the exponential race over
//! r or p; the children's tokens are excluded by a scan of the shared child list). Same tokens as the
//! CPU up to float near-ties. Layout, mapping and errors as `verify_greedy`; `params` and `addresses`
//! are required.
template <class T>
[[nodiscard]] cudaError_t verify_one_hot(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                         const sampling_params* params, const random_address* addresses,
                                         const verify_outputs& out, const stop_token_lists& stops = {},
                                         cudaStream_t stream = nullptr) {
  return detail::launch_verify<detail::tree_rule::one_hot>(trees, logits, vocab, nullptr, params, addresses, stops, out,
                                                           stream);
}

//! Speculative sampling on chains, fused from logits: the CPU's `chain_verifier` per request (every
//! tree must be a chain, parent(i) == i - 1: not checked on the device). `draft_probs` is the float
//! `[total_nodes, vocab]` q tensor (row `offsets[b] + i`: the distribution node i's child was drawn
//! from). Accept x_i iff u <= p(x_i) / q(x_i) with u at (i, accept); at the first rejection sample
//! max(0, p - q) at (parent, residual) (falling back to p without x when it rounds to nothing), or
//! after a full acceptance the bonus from p at (last node, bonus). p is never written: each decision
//! reads one logit and one q entry after the row's statistics pass, and the residual pass reads the p
//! and q rows once. Layout, mapping and errors as `verify_one_hot`.
template <class T>
[[nodiscard]] cudaError_t verify_chain(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                       const float* draft_probs, const sampling_params* params,
                                       const random_address* addresses, const verify_outputs& out,
                                       const stop_token_lists& stops = {}, cudaStream_t stream = nullptr) {
  return detail::launch_verify<detail::tree_rule::chain>(trees, logits, vocab, draft_probs, params, addresses, stops,
                                                         out, stream);
}

//! Multi-draft speculative sampling with replacement on any tree from logits (SpecInfer): the CPU's
//! `multi_draft_verifier` per request, at its addresses (child c's uniform at (c, accept), the residual
//! at (node, residual), the bonus at (leaf, bonus)). A node's children were drawn i.i.d. from its q row
//! (`draft_probs`, float `[total_nodes, vocab]`). With r = p, accept child j iff u_j * q(x_j) <= r(x_j);
//! on rejection r = norm(max(0, r - q)), kept in double like the CPU; if every child is rejected, sample
//! r (exponential race in double; p without the children's tokens when r has no positive entry). Cost
//! at a node: the statistics pass, plus one pass per rejected child (two for the first), plus the final
//! race; r is never written but recomputed per entry from the k normalisers (O(k) per entry). At most
//! `max_multi_draft_children` children per node (else `accepted = -1`). Layout, mapping and errors as
//! `verify_one_hot`.
template <class T>
[[nodiscard]] cudaError_t verify_multi_draft(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                             const float* draft_probs, const sampling_params* params,
                                             const random_address* addresses, const verify_outputs& out,
                                             const stop_token_lists& stops = {}, cudaStream_t stream = nullptr) {
  return detail::launch_verify<detail::tree_rule::multi_draft>(trees, logits, vocab, draft_probs, params, addresses,
                                                               stops, out, stream);
}

//! Recursive rejection sampling for drafts drawn without replacement, on any tree from logits (Sequoia,
//! EAGLE, Clover-2): the CPU's `rrs_verifier` per request, at the same addresses as
//! `verify_multi_draft`. A node's children were drawn one after another from its q row without
//! replacement. With r = p and q: accept child j iff u_j * q(x_j) <= r(x_j); on rejection
//! r = norm(max(0, r - q)) with the q x_j was drawn from, then q = norm(q with x_j zeroed), both in
//! double like the CPU; if every child is rejected, sample r (p without the children's tokens when r
//! has no positive entry). Preconditions (not checked): no duplicate siblings; at most
//! `max_multi_draft_children` children per node (else `accepted = -1`). Cost at a node: the statistics
//! pass, plus two passes per rejected child (four for the first), plus the final race; r and q are
//! recomputed per entry from the normalisers (O(children) per entry). Layout, mapping and errors as
//! `verify_multi_draft`.
template <class T>
[[nodiscard]] cudaError_t verify_rrs(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                     const float* draft_probs, const sampling_params* params,
                                     const random_address* addresses, const verify_outputs& out,
                                     const stop_token_lists& stops = {}, cudaStream_t stream = nullptr) {
  return detail::launch_verify<detail::tree_rule::rrs>(trees, logits, vocab, draft_probs, params, addresses, stops, out,
                                                       stream);
}

} // namespace cuda
} // namespace v0
} // namespace specdec
