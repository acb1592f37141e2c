//! Block verification (Sun et al. 2024) of a ragged batch of chains on the device, fused from logits:
//! the CPU's `block_verifier` per request.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cuda_runtime.h>

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

namespace specdec {
inline namespace v0 {
namespace cuda {
namespace detail {

template <int Block>
struct block_verify_storage {
  process_storage<Block> process;
  std::int32_t final_pass;  // 1 when a correction or bonus follows the accepted drafts (no stop token)
};

//! max(w * p - q, 0) in double at one entry, exactly as the CPU's `block_rule` computes it: the product
//! and difference are spelled as round-to-nearest intrinsics so nvcc cannot fuse them into an FMA
//! (the host computes them unfused). Summed it is Z_i; raced it is the correction's residual.
struct block_residual_key {
  processed_row row;
  const float* q;  // the q row of the chain node
  double w;        // the node's weight w_i
  __device__ __forceinline__ double operator()(std::int32_t i, float l) const {
    return fmax(0.0, __dsub_rn(__dmul_rn(w, static_cast<double>(row.p(i, l))), static_cast<double>(q[i])));
  }
};

//! One block per request (blockIdx.x = b), a chain of N = n + 1 nodes. Greedy requests (temperature 0)
//! walk as `verify_chain` does: one statistics pass per visited row, descending while the child's token
//! is the row's argmax. Otherwise the block walks the chain once, i = 0, ..., n - 1: it processes row i
//! (one statistics pass, plus the top-k / top-p / min-p passes), sums Z_i over it in one more pass
//! (i > 0), and every thread computes the same scalars from one logit and one q entry: h_i, the uniform
//! u_i at (i, accept), and w_{i+1}. tau = max{i : u_i <= h_i} is kept online, and with it every
//! thread keeps p_tau's statistics and w_tau in registers, so no row is processed twice and no per-node
//! array exists (any chain length up to `max_tree_nodes`). A weight of 0 ends the walk: no later node
//! can be accepted, and later rows are never read. log p_i(x_{i+1}) is written speculatively to
//! `logprobs[first + i]` as the walk goes; the final token overwrites entry tau. Then thread 0 emits
//! x_1..x_tau (a stop token ends emission), and one race samples the bonus from p_n at (n, bonus)
//! (processing row n first) or the correction from max(w_tau p_tau - q_tau, 0) at (tau, residual),
//! falling back to p_tau without x_{tau+1}, then to p_tau, as the CPU's `sample_residual`.
template <int Block, class T>
__global__ void __launch_bounds__(Block)
    block_verify_kernel(token_tree_batch_view trees, const T* logits, std::int32_t vocab, const float* draft_probs,
                        const sampling_params* params, const random_address* addresses, stop_token_lists stops,
                        verify_outputs out) {
  __shared__ block_verify_storage<Block> s;
  const index_t b = blockIdx.x;
  const token_tree_view tree = trees.tree(b);
  const index_t first = trees.offsets().begin(b);  // request b's rows and output entries start here
  const auto size = static_cast<std::int32_t>(tree.size());
  const sampling_params request = params[b];
  const random_address address = addresses[b];
  const auto finish = [&](std::int32_t accepted, std::int32_t emitted, bool stopped) {
    out.accepted[b] = accepted;
    if (out.emitted != nullptr) out.emitted[b] = emitted;
    if (out.stopped != nullptr) out.stopped[b] = stopped ? 1 : 0;
  };
  if (size <= 0) {
    if (threadIdx.x == 0) finish(0, 0, false);
    return;
  }
  const std::int32_t n = size - 1;  // drafts x_1..x_n: node i's token, drawn at node i - 1
  if (threadIdx.x == 0) out.path[first] = 0;
  const auto row_of = [&](std::int32_t node) { return logits + (first + node) * vocab; };  // flat row first + node

  if (request.temperature == 0.0f) {
    // The CPU's greedy_walk on a chain: every thread holds the row's argmax, so the walk needs no barrier
    // of its own; thread 0 emits.
    for (std::int32_t node = 0;; ++node) {
      const row_stats stats = block_row_stats<Block>(row_of(node), vocab, 1.0f, s.process.pass);
      const bool accept = node < n && tree.token(node + 1) == stats.index;  // x_{node + 1} is the argmax
      const bool stopped = is_stop(stops, b, stats.index);
      if (threadIdx.x == 0) {
        out.tokens[first + node] = stats.index;  // x_{node + 1} when accepted, else the final token
        if (out.logprobs != nullptr) out.logprobs[first + node] = -logf(stats.sum);  // max - logsumexp
        if (accept) out.path[first + node + 1] = node + 1;
        if (!accept) {
          finish(node, node + 1, stopped);
        } else if (stopped) {
          finish(node + 1, node + 1, true);
        }
      }
      if (!accept || stopped) return;
    }
  }

  // The sampled walk. Every thread computes the same scalars (w, h, u) from the same loads.
  const float* q_rows = draft_probs + first * vocab;  // q row i: the distribution x_{i+1} was drawn from
  double w = 1.0;                // w_i at the top of iteration i
  std::int32_t tau = 0;          // max{j <= i : u_j <= h_j} so far (0 if none)
  double w_tau = 1.0;            // w_tau
  processed_row p_tau{};         // p_tau's statistics (set at i = 0)
  std::int32_t reached = n;      // the walk stops reading rows after a zero weight
  for (std::int32_t i = 0; i < n; ++i) {
    const T* row = row_of(i);
    const processed_row p = block_process_row<Block>(row, vocab, request, s.process);
    const float* q = q_rows + static_cast<index_t>(i) * vocab;
    if (i == 0) {
      p_tau = p;
    } else {
      block_residual_key residual{p, q, w};
      const double z = block_row_sum<Block>(row, vocab, residual, s.process.pass);  // Z_i
      const double denominator = z + 1.0 - w;
      const double h = denominator > 0.0 ? z / denominator : 1.0;
      const double u = uniform_double(address.at(static_cast<std::uint32_t>(i), purpose::accept));
      if (u <= h) {
        tau = i;
        w_tau = w;
        p_tau = p;
      }
    }
    const token_id x = tree.token(i + 1);
    const float px = p.p(x, to_float(row[x]));
    const double qx = static_cast<double>(q[x]);
    const double ratio = qx > 0.0 ? static_cast<double>(px) / qx : 0.0;
    w = fmin(w * ratio, 1.0);  // w_{i+1}
    if (threadIdx.x == 0 && out.logprobs != nullptr) {
      out.logprobs[first + i] = static_cast<float>(log(static_cast<double>(px)));  // x_{i+1}'s, if accepted
    }
    if (w == 0.0) {
      reached = i + 1;  // h_j = 0 for every j > i
      break;
    }
  }
  if (reached == n && n > 0) {  // h_n = w_n
    const double u = uniform_double(address.at(static_cast<std::uint32_t>(n), purpose::accept));
    if (u <= w) tau = n;
  }

  // Thread 0 emits x_1..x_tau; a stop token among them ends emission without a final token.
  if (threadIdx.x == 0) {
    std::int32_t final_pass = 1;
    for (std::int32_t d = 1; d <= tau; ++d) {
      const token_id x = tree.token(d);
      out.path[first + d] = d;
      out.tokens[first + d - 1] = x;
      if (is_stop(stops, b, x)) {
        finish(d, d, true);
        final_pass = 0;
        break;
      }
    }
    s.final_pass = final_pass;
  }
  __syncthreads();
  if (s.final_pass == 0) return;

  processed_row p = p_tau;
  scored_index best = no_candidate();
  if (tau == n) {  // every draft accepted: the bonus from p_n
    p = block_process_row<Block>(row_of(n), vocab, request, s.process);
    target_key key{p, -1};
    best = block_row_race<race_kind::exponential, Block>(row_of(n), vocab,
                                                         address.at(static_cast<std::uint32_t>(n), purpose::bonus), key,
                                                         s.process.pass);
  } else {
    const T* row = row_of(tau);
    const random_address at = address.at(static_cast<std::uint32_t>(tau), purpose::residual);
    block_residual_key residual{p, q_rows + static_cast<index_t>(tau) * vocab, w_tau};
    const scored<double> drawn = block_row_race<race_kind::exponential, Block>(row, vocab, at, residual, s.process.pass);
    best = {static_cast<float>(drawn.score), drawn.index};
    if (best.index < 0) {  // the residual rounded to nothing: p_tau without x_{tau+1}, then p_tau
      target_key fallback{p, tree.token(tau + 1)};
      best = block_row_race<race_kind::exponential, Block>(row, vocab, at, fallback, s.process.pass);
      if (best.index < 0) {
        target_key last{p, -1};
        best = block_row_race<race_kind::exponential, Block>(row, vocab, at, last, s.process.pass);
      }
    }
  }
  if (threadIdx.x == 0) {
    const T* row = row_of(tau);
    out.tokens[first + tau] = best.index;
    if (out.logprobs != nullptr) {
      out.logprobs[first + tau] =
          best.index >= 0 ? static_cast<float>(log(static_cast<double>(p.p(best.index, to_float(row[best.index]))))) : 0.0f;
    }
    finish(tau, tau + 1, is_stop(stops, b, best.index));
  }
}

} // namespace detail

//! Block verification of chains, fused from logits (Sun, Mendlovic, Leviathan, Aharoni, Beirami, Ro,
//! Suresh 2024, "Block Verification Accelerates Speculative Decoding"; vLLM's block rejection sampler):
//! the CPU's `block_verifier` per request. Every tree must be a chain, parent(i) == i - 1 (not checked
//! on the device). Same arguments, layout and outputs as `verify_chain`: `draft_probs` is the float
//! `[total_nodes, vocab]` q tensor (row `offsets[b] + i`: the distribution node i's child was drawn
//! from, each row a distribution: not checked), `params[b]` / `addresses[b]` (device) the request's
//! processing and keys (temperature 0 selects the greedy rule). With w_0 = 1,
//! w_i = min(w_{i-1} p_{i-1}(x_i) / q_{i-1}(x_i), 1), Z_i = sum_x max(w_i p_i(x) - q_i(x), 0) and
//! h_i = Z_i / (Z_i + 1 - w_i) (h_n = w_n), accept x_1..x_tau for tau = max{i : u_i <= h_i}, u_i at
//! (i, accept); then sample the bonus from p_n at (n, bonus) when tau = n, else the correction from
//! max(w_tau p_tau - q_tau, 0) at (tau, residual) (p_tau without x_{tau+1} when it rounds to nothing).
//! Cost: every row of the chain is read (Z_i needs it) until a weight reaches 0: two passes per row
//! (statistics and Z; filters add their passes), one race at the end, plus row n's processing for a
//! bonus. The block rule, unlike the token-wise one, cannot stop reading at the first rejection.
//! Same tokens as the CPU up to float near-ties. Returns cudaErrorInvalidValue for a null required
//! argument (outputs as `verify_chain`, `draft_probs`, `params`, `addresses`) or vocab <= 0, else the
//! launch status. No allocation, no synchronisation, capturable in a graph.
template <class T>
[[nodiscard]] cudaError_t verify_block(const token_tree_batch_view& trees, const T* logits, std::int32_t vocab,
                                       const float* draft_probs, const sampling_params* params,
                                       const random_address* addresses, const verify_outputs& out,
                                       const stop_token_lists& stops = {}, cudaStream_t stream = nullptr) {
  static_assert(detail::is_logit_type<T>, "logits must be float, __half or __nv_bfloat16");
  const index_t batch = trees.batch_size();
  if (batch < 0 || batch > 0x7fffffff || vocab <= 0 || out.path == nullptr || out.tokens == nullptr ||
      out.accepted == nullptr || draft_probs == nullptr || params == nullptr || addresses == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  detail::block_verify_kernel<verify_block_size><<<static_cast<unsigned int>(batch), verify_block_size, 0, stream>>>(
      trees, logits, vocab, draft_probs, params, addresses, stops, out);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
