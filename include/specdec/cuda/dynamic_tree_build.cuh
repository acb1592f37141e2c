//! EAGLE-2's dynamic draft trees built on the device for a whole batch: each expansion round scores the
//! new candidates and picks the next frontier, and a final rerank keeps the best nodes as a token tree
//! batch, equal to the CPU's `dynamic_tree_builder`.
#pragma once

#if !defined(__CUDACC__)
#error "specdec/cuda/ headers contain CUDA code: compile this translation unit with nvcc (a .cu file)."
#endif

#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "specdec/core/types.hpp"
#include "specdec/cuda/status.cuh"
#include "specdec/tree/dynamic_tree_builder.hpp"
#include "specdec/tree/dynamic_tree_layout.hpp"
#include "specdec/tree/token_tree.hpp"

namespace specdec {
inline namespace v0 {
namespace cuda {

//! Threads per block of the dynamic tree kernels (one block per request).
inline constexpr int dynamic_tree_block_size = 256;

namespace detail {

//! True for budgets the CPU builder accepts whose candidate ids fit 32 bits.
[[nodiscard]] inline bool valid_dynamic_tree_params(const dynamic_tree_params& p) noexcept {
  if (p.top_k < 1 || p.top_k >= max_tree_nodes || p.max_depth < 1 || p.max_depth > max_tree_depth ||
      p.total_nodes < 1 || p.total_nodes > max_tree_nodes) {
    return false;
  }
  return dynamic_tree_layout{p.top_k, p.max_depth}.candidates() <= 0x7fffffff;
}

//! The workspace of a batch, carved from one buffer: per request b, candidate c's cumulative score at
//! `scores[b * C + c]`, its parent candidate and token at the same index of `parents` and `tokens`
//! (C = the layout's candidate count), and the current frontier's candidate ids at
//! `frontier[b * k, b * k + k)`. Scores first, so that they are 8-byte aligned.
struct dynamic_tree_arrays {
  double* scores;
  std::int32_t* parents;
  token_id* tokens;
  std::int32_t* frontier;
  std::int64_t candidates;
};

[[nodiscard]] inline std::size_t dynamic_tree_bytes(std::int64_t batch, const dynamic_tree_layout& layout) noexcept {
  const auto per_candidate = static_cast<std::size_t>(batch) * static_cast<std::size_t>(layout.candidates());
  return per_candidate * (sizeof(double) + sizeof(std::int32_t) + sizeof(token_id)) +
         static_cast<std::size_t>(batch) * static_cast<std::size_t>(layout.top_k) * sizeof(std::int32_t);
}

[[nodiscard]] inline dynamic_tree_arrays carve_dynamic_tree(void* workspace, std::int64_t batch,
                                                           const dynamic_tree_layout& layout) noexcept {
  const auto per_candidate = static_cast<std::size_t>(batch) * static_cast<std::size_t>(layout.candidates());
  auto* bytes = static_cast<unsigned char*>(workspace);
  dynamic_tree_arrays a{};
  a.scores = reinterpret_cast<double*>(bytes);
  a.parents = reinterpret_cast<std::int32_t*>(bytes + per_candidate * sizeof(double));
  a.tokens = reinterpret_cast<token_id*>(bytes + per_candidate * (sizeof(double) + sizeof(std::int32_t)));
  a.frontier = reinterpret_cast<std::int32_t*>(bytes + per_candidate * (sizeof(double) + sizeof(std::int32_t) + sizeof(token_id)));
  a.candidates = layout.candidates();
  return a;
}

//! The order-preserving map of a non-NaN double to an unsigned key (larger score, larger key); -0
//! maps as +0, since the CPU's comparison sees them equal.
__device__ __forceinline__ std::uint64_t score_key(double s) {
  if (s == 0.0) s = 0.0;
  const auto u = static_cast<std::uint64_t>(__double_as_longlong(s));
  return (u >> 63) != 0 ? ~u : (u | (std::uint64_t{1} << 63));
}

//! Shared memory of `block_select_best`.
template <int Block>
struct select_storage {
  typename cub::BlockScan<std::int32_t, Block>::TempStorage scan;
  unsigned int histogram[256];
  std::uint32_t digit;
  std::int32_t remaining;
};

//! Writes to `out[0, keep)`, in increasing id order, the ids `first + e` (e < count) of the `keep`
//! candidates (1 <= keep <= count) with the highest `scores[e]`, ties to the lower id: the CPU
//! builder's `partial_sort` by `better()` followed by a sort by id. The keep-th best key comes from a
//! radix select over the 64-bit order keys (8 passes of 8 bits: shared histograms, thread 0 walking the
//! bins from the top, as the top-k threshold of `processed_row.cuh`), leaving the number of entries
//! equal to it that are kept (the lowest ids among them); one ordered pass in chunks of Block then keeps
//! every entry above the key and the first such ties (a BlockScan ranks the ties, a second one places
//! the kept entries). `scores` is read with plain loads, so the caller may have written it in the same
//! kernel (before a barrier). Opens and ends with a barrier; `out` may be shared or global memory.
template <int Block>
__device__ void block_select_best(const double* scores, std::int32_t first, std::int32_t count, std::int32_t keep,
                                  std::int32_t* out, select_storage<Block>& s) {
  std::uint64_t prefix = 0;  // the digits chosen so far, in place
  std::uint64_t mask = 0;    // the bits those digits occupy
  std::int32_t remaining = keep;  // entries still to take among those matching the prefix
  for (int shift = 56; shift >= 0; shift -= 8) {
    __syncthreads();  // the previous pass's readers are done with the histogram and results
    for (int bin = static_cast<int>(threadIdx.x); bin < 256; bin += Block) s.histogram[bin] = 0u;
    __syncthreads();
    for (std::int32_t e = static_cast<std::int32_t>(threadIdx.x); e < count; e += Block) {
      const std::uint64_t key = score_key(scores[e]);
      if ((key & mask) == prefix) atomicAdd(&s.histogram[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // The matching entries number at least `remaining`: the bin holding the remaining-th best is the
      // first from the top where the running count reaches it (bin 0 if no earlier one does).
      std::int32_t above = 0;
      int digit = 255;
      for (; digit > 0; --digit) {
        const auto in_bin = static_cast<std::int32_t>(s.histogram[digit]);
        if (above + in_bin >= remaining) break;
        above += in_bin;
      }
      s.digit = static_cast<std::uint32_t>(digit);
      s.remaining = remaining - above;
    }
    __syncthreads();
    prefix |= static_cast<std::uint64_t>(s.digit) << shift;
    mask |= std::uint64_t{255} << shift;
    remaining = s.remaining;
  }
  // prefix is the keep-th best key; keep - remaining entries lie strictly above it, and the first
  // `remaining` entries equal to it (in id order) complete the selection.
  std::int32_t ties_seen = 0;
  std::int32_t written = 0;
  for (std::int32_t start = 0; start < count && written < keep; start += Block) {  // block-uniform bounds
    const std::int32_t e = start + static_cast<std::int32_t>(threadIdx.x);
    const std::uint64_t key = e < count ? score_key(scores[e]) : 0u;
    const std::int32_t tie = e < count && key == prefix ? 1 : 0;
    std::int32_t tie_rank = 0;
    std::int32_t tie_total = 0;
    __syncthreads();  // scan storage reuse
    cub::BlockScan<std::int32_t, Block>(s.scan).ExclusiveSum(tie, tie_rank, tie_total);
    const std::int32_t kept = (e < count && key > prefix) || (tie != 0 && ties_seen + tie_rank < remaining) ? 1 : 0;
    std::int32_t position = 0;
    std::int32_t kept_total = 0;
    __syncthreads();  // scan storage reuse
    cub::BlockScan<std::int32_t, Block>(s.scan).ExclusiveSum(kept, position, kept_total);
    if (kept != 0) out[written + position] = first + e;  // id order: earlier chunks, then lower threads
    written += kept_total;
    ties_seen += tie_total;
  }
  __syncthreads();  // `out` is complete
}

//! One block per request (blockIdx.x = b) for expansion round `depth`: thread t scores the generated
//! candidates e = t, t + Block, ... (row r = e / k of the frontier, column c = e % k, id first + e:
//! the layout's numbering), then the block selects the next frontier (the k best of this round) into
//! the workspace and copies it out.
template <int Block>
__global__ void __launch_bounds__(Block)
    dynamic_tree_expand_kernel(dynamic_tree_arrays ws, dynamic_tree_layout layout, std::int32_t depth,
                               const token_id* root_tokens, const token_id* ranked_tokens, const float* log_probs,
                               const float* row_logsumexp, std::int32_t* frontier_ids, token_id* frontier_tokens) {
  __shared__ select_storage<Block> s;
  const std::int64_t b = blockIdx.x;
  double* scores = ws.scores + b * ws.candidates;  // request b's candidates
  std::int32_t* parents = ws.parents + b * ws.candidates;
  token_id* tokens = ws.tokens + b * ws.candidates;
  std::int32_t* frontier = ws.frontier + b * layout.top_k;
  const std::int32_t k = layout.top_k;
  const std::int64_t f = layout.frontier_size(depth);
  const auto first = static_cast<std::int32_t>(layout.first_generated(depth));
  const auto generated = static_cast<std::int32_t>(layout.generated(depth));
  if (depth == 0 && threadIdx.x == 0) {  // the root, candidate 0
    scores[0] = 0.0;
    parents[0] = -1;
    tokens[0] = root_tokens[b];
  }
  for (std::int32_t e = static_cast<std::int32_t>(threadIdx.x); e < generated; e += Block) {
    const std::int64_t row = b * f + e / k;  // row of the [B, f, k] inputs (and of row_logsumexp [B * f])
    const std::int64_t at = b * f * k + e;   // (b * f + r) * k + c
    // The root's score is 0 (read from no memory in round 0: thread 0 may still be writing it).
    const std::int32_t parent = depth == 0 ? 0 : frontier[e / k];
    const double parent_score = depth == 0 ? 0.0 : scores[parent];
    float lp = log_probs[at];
    if (row_logsumexp != nullptr) lp = __fsub_rn(lp, row_logsumexp[row]);
    scores[first + e] = parent_score + static_cast<double>(lp);  // as the CPU: score_[parent] + double(lp)
    parents[first + e] = parent;
    tokens[first + e] = ranked_tokens[at];
  }
  if (depth + 1 == layout.max_depth) return;  // the last round: no next frontier
  // Every reader of the old frontier is past the selection's opening barrier before it is rewritten.
  block_select_best<Block>(scores + first, first, generated, k, frontier, s);
  for (std::int32_t r = static_cast<std::int32_t>(threadIdx.x); r < k; r += Block) {
    const std::int32_t id = frontier[r];
    if (frontier_ids != nullptr) frontier_ids[b * k + r] = id;
    if (frontier_tokens != nullptr) frontier_tokens[b * k + r] = tokens[id];
  }
}

template <int Block>
struct rerank_storage {
  select_storage<Block> select;
  std::int32_t kept[max_tree_nodes];  // the kept candidate ids in increasing order; kept[0] = 0, the root
};

//! One block per request (blockIdx.x = b): the block selects the best `nodes - 1` candidates after the
//! root into shared memory (generation order), then thread t writes nodes t, t + Block, ...: node n is
//! candidate kept[n], its parent node the position of its parent candidate among the kept (a binary
//! search: the kept ids are increasing and the parent's is smaller than the child's).
template <int Block>
__global__ void __launch_bounds__(Block)
    dynamic_tree_rerank_kernel(dynamic_tree_arrays ws, dynamic_tree_layout layout, std::int32_t nodes, token_id* out_tokens,
                               std::int32_t* out_parents, std::int32_t* out_depths, std::int32_t* offsets,
                               std::int32_t* candidate_ids) {
  __shared__ rerank_storage<Block> s;
  const std::int64_t b = blockIdx.x;
  const std::int32_t* parents = ws.parents + b * ws.candidates;  // request b's candidates
  const token_id* tokens = ws.tokens + b * ws.candidates;
  if (threadIdx.x == 0) s.kept[0] = 0;
  if (nodes > 1) {
    block_select_best<Block>(ws.scores + b * ws.candidates + 1, 1, static_cast<std::int32_t>(ws.candidates - 1), nodes - 1,
                             s.kept + 1, s.select);
  }
  __syncthreads();  // kept[0] (and the selection) visible to every thread
  for (std::int32_t n = static_cast<std::int32_t>(threadIdx.x); n < nodes; n += Block) {
    const std::int32_t id = s.kept[n];
    const std::int64_t e = b * nodes + n;  // node n of request b: flat entry b * N + n
    out_tokens[e] = tokens[id];
    if (out_parents != nullptr) {
      std::int32_t parent = -1;
      if (n > 0) {
        // lower_bound of the parent's id in kept[0, n): the kept set holds every kept node's parent
        // (a child never scores above its parent, which wins ties as the earlier candidate); without
        // that precondition the result is still a node before n.
        const std::int32_t wanted = parents[id];
        std::int32_t lo = 0;
        std::int32_t hi = n - 1;
        while (lo < hi) {
          const std::int32_t mid = (lo + hi) / 2;
          if (s.kept[mid] < wanted) {
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
        parent = lo;
      }
      out_parents[e] = parent;
    }
    if (out_depths != nullptr) out_depths[e] = layout.depth_of(id);
    if (candidate_ids != nullptr) candidate_ids[e] = id;
  }
  if (offsets != nullptr && threadIdx.x == 0) {
    offsets[b] = static_cast<std::int32_t>(b * nodes);
    if (b + 1 == gridDim.x) offsets[b + 1] = static_cast<std::int32_t>((b + 1) * nodes);
  }
}

} // namespace detail

//! Bytes of the device workspace that `dynamic_tree_expand` and `dynamic_tree_rerank` share for a batch
//! of `batch` requests under `params`: 16 bytes per candidate per request (score in double, parent,
//! token) plus the frontier, 4 bytes per k; 0 for a negative batch or budgets the launchers reject.
//! EAGLE-2's defaults (k 10, depth 6: 511 candidates) need about 8.2 KB per request.
[[nodiscard]] inline std::size_t dynamic_tree_workspace_bytes(std::int64_t batch, const dynamic_tree_params& params) noexcept {
  if (batch < 0 || !detail::valid_dynamic_tree_params(params)) return 0;
  return detail::dynamic_tree_bytes(batch, dynamic_tree_layout{params.top_k, params.max_depth});
}

//! Nodes per tree that `dynamic_tree_rerank` writes: min(total_nodes, candidates), the root included
//! (0 for budgets the launchers reject).
[[nodiscard]] inline std::int32_t dynamic_tree_node_count(const dynamic_tree_params& params) noexcept {
  if (!detail::valid_dynamic_tree_params(params)) return 0;
  const std::int64_t candidates = dynamic_tree_layout{params.top_k, params.max_depth}.candidates();
  return static_cast<std::int32_t>(candidates < params.total_nodes ? candidates : params.total_nodes);
}

//! Expansion round `depth` (0 <= depth < max_depth) of EAGLE-2's dynamic trees for every request, as
//! the CPU's `dynamic_tree_builder::build` does it between two expander calls. The engine runs the
//! draft model on round d's frontier — f = 1 row per request (the root) in round 0, k rows afterwards,
//! in the order of the `frontier_ids` / `frontier_tokens` the previous round wrote — and hands over
//! its output as the expander would: `ranked_tokens` and `log_probs` `[B, f, k]` (row (b, r): the k
//! best next tokens of the frontier's r-th node, best first, and their log-probabilities, <= 0 and
//! non-increasing along the row). With `row_logsumexp` (`[B * f]`, nullable) the log-probabilities are
//! `log_probs[b, r, c] - row_logsumexp[b * f + r]` in float: `top_k_rows` values (raw logits) and
//! `logsumexp_rows` of the draft logits give them without another kernel. Round 0 also needs
//! `root_tokens` `[B]`. The candidates receive the CPU's ids (see `dynamic_tree_layout`) and scores
//! (the parent's score + double(log-prob)); unless this is the last round, the k best candidates of the
//! round (score descending, ties to the earlier id) become the next frontier, written in increasing id
//! order to `frontier_ids` `[B, k]` (the candidate ids: an engine's key to per-candidate hidden states)
//! and `frontier_tokens` `[B, k]` (either may be null) and kept in the workspace.
//!
//! `workspace` (device, 8-byte aligned) holds at least `dynamic_tree_workspace_bytes(batch, params)`
//! bytes and is kept between the rounds and the rerank of one build; it needs no initialisation. One
//! block of `dynamic_tree_block_size` threads per request: one thread per generated candidate, then a
//! radix select of the frontier (8 passes over the round's f * k scores, which stay in L2). Preconditions
//! (not checked on the device): the rounds run in order 0, 1, ..., with the same batch and params;
//! log-probabilities not NaN, <= 0 and non-increasing along each row (as the CPU builder checks; the
//! tree is then closed under parents). Returns cudaErrorInvalidValue for budgets the CPU builder
//! rejects (or whose candidates overflow 32-bit ids), a depth outside [0, max_depth), a null required
//! pointer or too small a workspace; else the launch status. No allocation, no synchronisation,
//! capturable in a graph.
[[nodiscard]] inline cudaError_t dynamic_tree_expand(void* workspace, std::size_t workspace_bytes, std::int64_t batch,
                                                     const dynamic_tree_params& params, std::int32_t depth,
                                                     const token_id* root_tokens, const token_id* ranked_tokens,
                                                     const float* log_probs, const float* row_logsumexp,
                                                     std::int32_t* frontier_ids, token_id* frontier_tokens,
                                                     cudaStream_t stream = nullptr) {
  if (batch < 0 || batch > 0x7fffffff || !detail::valid_dynamic_tree_params(params) || depth < 0 ||
      depth >= params.max_depth || workspace == nullptr || workspace_bytes < dynamic_tree_workspace_bytes(batch, params) ||
      ranked_tokens == nullptr || log_probs == nullptr || (depth == 0 && root_tokens == nullptr)) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  const dynamic_tree_layout layout{params.top_k, params.max_depth};
  detail::dynamic_tree_expand_kernel<dynamic_tree_block_size>
      <<<static_cast<unsigned int>(batch), dynamic_tree_block_size, 0, stream>>>(
          detail::carve_dynamic_tree(workspace, batch, layout), layout, depth, root_tokens, ranked_tokens, log_probs,
          row_logsumexp, frontier_ids, frontier_tokens);
  return cudaGetLastError();
}

//! The rerank that ends a build, after rounds 0..max_depth - 1 of `dynamic_tree_expand`: per request,
//! the `total_nodes - 1` best candidates after the root (score descending, ties to the earlier id) and
//! the root become a tree in generation order, exactly the CPU `dynamic_tree_builder::build`'s tree.
//! Request b's N = `dynamic_tree_node_count(params)` nodes are the flat entries b * N + n: `tokens`,
//! `parents` (local to the tree), `depths`, and `offsets` (`[B + 1]`, b * N), so that the outputs form a
//! `token_tree_batch_view` for `flatten_trees` and the verifiers; `candidate_ids` gets each node's
//! candidate id (the CPU's `candidate(node)`). Only `tokens` is required. One block of
//! `dynamic_tree_block_size` threads per request: a radix select over the C - 1 candidate scores, then
//! one thread per node (its parent by a binary search of the kept ids in shared memory). Returns
//! cudaErrorInvalidValue for invalid budgets, B * N beyond 2^31 - 1, a null workspace or tokens, or too
//! small a workspace; else the launch status. No allocation, no synchronisation, capturable in a graph.
[[nodiscard]] inline cudaError_t dynamic_tree_rerank(void* workspace, std::size_t workspace_bytes, std::int64_t batch,
                                                     const dynamic_tree_params& params, token_id* tokens,
                                                     std::int32_t* parents, std::int32_t* depths, std::int32_t* offsets,
                                                     std::int32_t* candidate_ids = nullptr, cudaStream_t stream = nullptr) {
  const std::int32_t nodes = dynamic_tree_node_count(params);
  if (batch < 0 || nodes < 1 || batch * nodes > 0x7fffffff || workspace == nullptr ||
      workspace_bytes < dynamic_tree_workspace_bytes(batch, params) || tokens == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (batch == 0) return cudaSuccess;
  const dynamic_tree_layout layout{params.top_k, params.max_depth};
  detail::dynamic_tree_rerank_kernel<dynamic_tree_block_size>
      <<<static_cast<unsigned int>(batch), dynamic_tree_block_size, 0, stream>>>(
          detail::carve_dynamic_tree(workspace, batch, layout), layout, nodes, tokens, parents, depths, offsets,
          candidate_ids);
  return cudaGetLastError();
}

} // namespace cuda
} // namespace v0
} // namespace specdec
