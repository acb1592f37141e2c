// GPU benchmarks of the specdec kernels: CUDA-event timing (manual time), bytes actually moved, and the
// fraction of the device-to-device copy bandwidth measured in the same process (`frac_copy`). Shapes:
// B in {1, 16, 64, 256}, tree nodes in {8, 16, 64}, V in {32000, 128256}, float and bf16 logits.
// Every timed launch starts with a cold L2 (a 96 MB memset outside the timed region), so rows read
// once are read from HBM as in a real step.
#include <benchmark/benchmark.h>
#include <specdec/cuda.cuh>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

namespace {

namespace sc = specdec::cuda;
using specdec::index_t;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

// A device allocation freed on destruction.
template <class T>
struct device_array {
  explicit device_array(std::size_t n) : size(n) { check(cudaMalloc(&data, (n > 0 ? n : 1) * sizeof(T)), "cudaMalloc"); }
  explicit device_array(const std::vector<T>& host) : device_array(host.size()) {
    check(cudaMemcpy(data, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  ~device_array() { cudaFree(data); }
  T* data = nullptr;
  std::size_t size = 0;
};

// Uniform logits in [-1, 1) from Philox, one thread per entry (grid-stride).
template <class T>
__global__ void fill_uniform(T* out, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const specdec::philox_words w = specdec::philox4x32_10(
        {{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32), 0u, 0u}}, {{static_cast<std::uint32_t>(seed), 1u}});
    const float x = 2.0f * specdec::uniform_float(w.w[0]) - 1.0f;
    if constexpr (std::is_same_v<T, float>) {
      out[i] = x;
    } else {
      out[i] = __float2bfloat16(x);
    }
  }
}

// Every entry = value (grid-stride).
__global__ void fill_value(float* out, std::size_t n, float value) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] = value;
  }
}

constexpr std::size_t l2_flush_bytes = std::size_t{96} << 20;  // twice an H100's L2

struct device_state {
  double copy_bytes_per_second = 0.0;
  void* flush = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
};

// The copy floor: the best of a few 1 GiB device-to-device copies, counting read + write bytes.
device_state& state_of_device() {
  static device_state s = [] {
    device_state d;
    check(cudaMalloc(&d.flush, l2_flush_bytes), "cudaMalloc flush");
    check(cudaEventCreate(&d.start), "cudaEventCreate");
    check(cudaEventCreate(&d.stop), "cudaEventCreate");
    const std::size_t bytes = std::size_t{1} << 30;
    void* a = nullptr;
    void* b = nullptr;
    check(cudaMalloc(&a, bytes), "cudaMalloc copy");
    check(cudaMalloc(&b, bytes), "cudaMalloc copy");
    check(cudaMemset(a, 1, bytes), "cudaMemset");
    float best = 1e30f;
    for (int t = 0; t < 5; ++t) {
      check(cudaEventRecord(d.start), "record");
      check(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice), "copy");
      check(cudaEventRecord(d.stop), "record");
      check(cudaEventSynchronize(d.stop), "sync");
      float ms = 0.0f;
      check(cudaEventElapsedTime(&ms, d.start, d.stop), "elapsed");
      best = ms < best ? ms : best;
    }
    cudaFree(a);
    cudaFree(b);
    d.copy_bytes_per_second = 2.0 * static_cast<double>(bytes) / (static_cast<double>(best) * 1e-3);
    std::printf("device-to-device copy: %.0f GB/s (read + write)\n", d.copy_bytes_per_second * 1e-9);
    return d;
  }();
  return s;
}

// Times `launch` once per iteration between CUDA events, after an L2 flush; reports bytes/s over
// `bytes` and the fraction of the copy bandwidth.
template <class Launch>
void time_launches(benchmark::State& state, double bytes, Launch&& launch) {
  device_state& d = state_of_device();
  double seconds = 0.0;
  for (auto _ : state) {
    check(cudaMemsetAsync(d.flush, 0, l2_flush_bytes), "flush");
    check(cudaEventRecord(d.start), "record");
    check(launch(), "launch");
    check(cudaEventRecord(d.stop), "record");
    check(cudaEventSynchronize(d.stop), "sync");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, d.start, d.stop), "elapsed");
    state.SetIterationTime(static_cast<double>(ms) * 1e-3);
    seconds += static_cast<double>(ms) * 1e-3;
  }
  // Computed here rather than as rate counters, so that they use the event times whatever time the
  // library divides rates by.
  const double mean = state.iterations() > 0 ? seconds / static_cast<double>(state.iterations()) : 0.0;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * static_cast<double>(state.iterations())));
  state.counters["bytes"] = bytes;
  state.counters["GBps"] = mean > 0.0 ? bytes / mean * 1e-9 : 0.0;
  state.counters["copy_GBps"] = d.copy_bytes_per_second * 1e-9;
  state.counters["frac_copy"] = mean > 0.0 ? bytes / mean / d.copy_bytes_per_second : 0.0;
}

// Logits for the largest shape, filled once per element type and reused by every benchmark.
template <class T>
T* logits_arena(std::size_t elements) {
  static device_array<T>* arena = nullptr;
  if (arena == nullptr || arena->size < elements) {
    delete arena;
    arena = new device_array<T>(elements);
    fill_uniform<T><<<4096, 256>>>(arena->data, elements, 7);
    check(cudaGetLastError(), "fill");
    check(cudaDeviceSynchronize(), "fill sync");
  }
  return arena->data;
}

// A batch of identical ternary-heap trees (parent(i) = (i - 1) / 3), whose path of first children down
// to depth `depth` matches the planted argmax of each parent row (logit 30: p ~ 1 at temperature 1), so
// greedy and one-hot verification accept `depth` drafts and then reject. Rows are reset from the arena
// on destruction.
template <class T>
struct tree_batch {
  tree_batch(std::int64_t batch, std::int32_t nodes, std::int32_t vocab, std::int32_t depth)
      : b(batch), n(nodes), v(vocab), offsets(offsets_of(batch, nodes)), tokens(tokens_of(batch, nodes, vocab)),
        parents(parents_of(batch, nodes)), depths(depths_of(batch, nodes)), path(static_cast<std::size_t>(batch * nodes)),
        out_tokens(static_cast<std::size_t>(batch * nodes)), accepted(static_cast<std::size_t>(batch)),
        params(std::vector<specdec::sampling_params>(static_cast<std::size_t>(batch))),
        addresses(addresses_of(batch)) {
    logits = logits_arena<T>(static_cast<std::size_t>(batch * nodes) * static_cast<std::size_t>(vocab));
    // Plant the path: node c = 3 p + 1 (first child of p) carries token t(c) and row p has 30 at t(c).
    const auto host_tokens = tokens_of(batch, nodes, vocab);
    for (std::int64_t r = 0; r < batch; ++r) {
      for (std::int32_t p = 0, d = 0; d < depth && 3 * p + 1 < nodes; ++d, p = 3 * p + 1) {
        const std::int32_t c = 3 * p + 1;
        const T value = static_cast<T>(30.0f);
        const std::size_t at = static_cast<std::size_t>(r * nodes + p) * static_cast<std::size_t>(vocab) +
                               static_cast<std::size_t>(host_tokens[static_cast<std::size_t>(r * nodes + c)]);
        check(cudaMemcpy(logits + at, &value, sizeof(T), cudaMemcpyHostToDevice), "plant");
        planted.push_back(at);
        ++accepted_depth_seen;
      }
    }
    accepted_depth = batch > 0 ? accepted_depth_seen / static_cast<std::int32_t>(batch) : 0;
  }
  ~tree_batch() {
    const T value = static_cast<T>(0.0f);
    for (const std::size_t at : planted) cudaMemcpy(logits + at, &value, sizeof(T), cudaMemcpyHostToDevice);
  }
  tree_batch(const tree_batch&) = delete;
  tree_batch& operator=(const tree_batch&) = delete;

  static std::vector<std::int32_t> offsets_of(std::int64_t batch, std::int32_t nodes) {
    std::vector<std::int32_t> o(static_cast<std::size_t>(batch) + 1);
    for (std::size_t k = 0; k < o.size(); ++k) o[k] = static_cast<std::int32_t>(k) * nodes;
    return o;
  }
  static std::vector<specdec::token_id> tokens_of(std::int64_t batch, std::int32_t nodes, std::int32_t vocab) {
    std::vector<specdec::token_id> t(static_cast<std::size_t>(batch * nodes));
    for (std::size_t k = 0; k < t.size(); ++k) t[k] = static_cast<specdec::token_id>((k * 7919 + 13) % static_cast<std::size_t>(vocab));
    return t;
  }
  static std::vector<std::int32_t> parents_of(std::int64_t batch, std::int32_t nodes) {
    std::vector<std::int32_t> p(static_cast<std::size_t>(batch * nodes));
    for (std::size_t k = 0; k < p.size(); ++k) {
      const auto i = static_cast<std::int32_t>(k % static_cast<std::size_t>(nodes));
      p[k] = i == 0 ? -1 : (i - 1) / 3;
    }
    return p;
  }
  static std::vector<std::int32_t> depths_of(std::int64_t batch, std::int32_t nodes) {
    const auto p = parents_of(1, nodes);
    std::vector<std::int32_t> one(static_cast<std::size_t>(nodes), 0);
    for (std::size_t i = 1; i < one.size(); ++i) one[i] = one[static_cast<std::size_t>(p[i])] + 1;
    std::vector<std::int32_t> d;
    for (std::int64_t r = 0; r < batch; ++r) d.insert(d.end(), one.begin(), one.end());
    return d;
  }
  static std::vector<specdec::random_address> addresses_of(std::int64_t batch) {
    std::vector<specdec::random_address> a(static_cast<std::size_t>(batch));
    for (std::size_t k = 0; k < a.size(); ++k) a[k] = {0x1234 + k, static_cast<std::uint32_t>(k), 1, 0, specdec::purpose::accept};
    return a;
  }

  [[nodiscard]] specdec::token_tree_batch_view trees() const {
    return {specdec::ragged_offsets(offsets.data, static_cast<index_t>(b + 1)), tokens.data, parents.data, depths.data};
  }
  [[nodiscard]] sc::verify_outputs outputs() const { return {path.data, out_tokens.data, nullptr, accepted.data, nullptr, nullptr}; }

  std::int64_t b;
  std::int32_t n;
  std::int32_t v;
  device_array<std::int32_t> offsets;
  device_array<specdec::token_id> tokens;
  device_array<std::int32_t> parents, depths, path;
  device_array<specdec::token_id> out_tokens;
  device_array<std::int32_t> accepted;
  device_array<specdec::sampling_params> params;
  device_array<specdec::random_address> addresses;
  T* logits = nullptr;
  std::vector<std::size_t> planted;
  std::int32_t accepted_depth_seen = 0;
  std::int32_t accepted_depth = 0;
};

constexpr std::int32_t planted_depth = 3;  // drafts accepted per request in the verification benchmarks

template <class T>
void BM_verify_greedy(benchmark::State& state) {
  const tree_batch<T> t(state.range(0), static_cast<std::int32_t>(state.range(1)), static_cast<std::int32_t>(state.range(2)), planted_depth);
  // Rows read: accepted + 1 per request.
  const double bytes = static_cast<double>(t.b) * (t.accepted_depth + 1) * t.v * static_cast<double>(sizeof(T));
  time_launches(state, bytes, [&] { return sc::verify_greedy(t.trees(), t.logits, t.v, t.outputs()); });
  state.counters["accepted"] = t.accepted_depth;
}

// The same walk with several blocks per request (a cluster; G chosen from B and the SM count, reported
// as `blocks`): the rows read are the same, with G times the loads in flight.
template <class T>
void BM_verify_greedy_split(benchmark::State& state) {
  const tree_batch<T> t(state.range(0), static_cast<std::int32_t>(state.range(1)), static_cast<std::int32_t>(state.range(2)), planted_depth);
  const double bytes = static_cast<double>(t.b) * (t.accepted_depth + 1) * t.v * static_cast<double>(sizeof(T));
  time_launches(state, bytes, [&] { return sc::verify_greedy_split(t.trees(), t.logits, t.v, t.outputs()); });
  int device = 0;
  int multiprocessors = 0;
  int clusters = 0;
  check(cudaGetDevice(&device), "device");
  check(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device), "attribute");
  check(cudaDeviceGetAttribute(&clusters, cudaDevAttrClusterLaunch, device), "attribute");
  state.counters["accepted"] = t.accepted_depth;
  state.counters["blocks"] = clusters != 0 ? sc::split_blocks_for(t.b, t.v, multiprocessors) : 1;
}

template <class T>
void BM_verify_one_hot(benchmark::State& state) {
  const tree_batch<T> t(state.range(0), static_cast<std::int32_t>(state.range(1)), static_cast<std::int32_t>(state.range(2)), planted_depth);
  // Rows read: accepted + 1 statistics passes, then the residual pass over the last row.
  const double bytes = static_cast<double>(t.b) * (t.accepted_depth + 2) * t.v * static_cast<double>(sizeof(T));
  time_launches(state, bytes, [&] {
    return sc::verify_one_hot(t.trees(), t.logits, t.v, t.params.data, t.addresses.data, t.outputs());
  });
  state.counters["accepted"] = t.accepted_depth;
}

// B chains of k drafts over float logits for the fused chain rules, every draft planted as its parent
// row's dominant token and q uniform, so every rule accepts all k and samples the bonus; `launch(trees,
// logits, v, q, params, addresses, out)` runs the rule, and `row_reads` is the row-sized reads of one
// request (logits and q rows), from which the bytes moved are counted.
template <class Launch>
void time_fused_chains(benchmark::State& state, double row_reads, Launch launch) {
  const std::int64_t b = state.range(0);
  const auto k = static_cast<std::int32_t>(state.range(1));
  const auto v = static_cast<std::int32_t>(state.range(2));
  const std::int32_t n = k + 1;
  const auto total = static_cast<std::size_t>(b * n);
  float* logits = logits_arena<float>(total * static_cast<std::size_t>(v));
  device_array<float> q(total * static_cast<std::size_t>(v));
  fill_value<<<4096, 256>>>(q.data, q.size, 1.0f / static_cast<float>(v));
  check(cudaGetLastError(), "fill");
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(b) + 1), parents(total), depths(total);
  std::vector<specdec::token_id> tokens(total);
  for (std::size_t r = 0; r < offsets.size(); ++r) offsets[r] = static_cast<std::int32_t>(r) * n;
  std::vector<std::size_t> planted;
  for (std::size_t e = 0; e < total; ++e) {
    const auto i = static_cast<std::int32_t>(e % static_cast<std::size_t>(n));
    parents[e] = i - 1;
    depths[e] = i;
    tokens[e] = static_cast<specdec::token_id>((e * 7919 + 13) % static_cast<std::size_t>(v));
    if (i > 0) {  // row e - 1 (the parent) favours token(e)
      const std::size_t at = (e - 1) * static_cast<std::size_t>(v) + static_cast<std::size_t>(tokens[e]);
      const float value = 30.0f;
      check(cudaMemcpy(logits + at, &value, sizeof(float), cudaMemcpyHostToDevice), "plant");
      planted.push_back(at);
    }
  }
  device_array<std::int32_t> d_offsets(offsets), d_parents(parents), d_depths(depths), path(total), accepted(static_cast<std::size_t>(b));
  device_array<specdec::token_id> d_tokens(tokens), out_tokens(total);
  device_array<specdec::sampling_params> params(std::vector<specdec::sampling_params>(static_cast<std::size_t>(b)));
  std::vector<specdec::random_address> host_addresses(static_cast<std::size_t>(b));
  device_array<specdec::random_address> addresses(host_addresses);
  const specdec::token_tree_batch_view trees(specdec::ragged_offsets(d_offsets.data, static_cast<index_t>(b + 1)), d_tokens.data,
                                             d_parents.data, d_depths.data);
  const sc::verify_outputs out{path.data, out_tokens.data, nullptr, accepted.data, nullptr, nullptr};
  const double bytes = static_cast<double>(b) * row_reads * v * sizeof(float);
  time_launches(state, bytes, [&] { return launch(trees, logits, v, q.data, params.data, addresses.data, out); });
  const float zero = 0.0f;
  for (const std::size_t at : planted) cudaMemcpy(logits + at, &zero, sizeof(float), cudaMemcpyHostToDevice);
}

// Chain speculative sampling fused from logits (`verify_chain`): k + 1 statistics passes and one race
// pass per request, no probability tensor.
void BM_verify_chain_fused(benchmark::State& state) {
  const auto k = static_cast<double>(state.range(1));
  time_fused_chains(state, k + 2, [](const auto&... args) { return sc::verify_chain(args...); });
}

// Block verification fused from logits (`verify_block`), beside the token-wise chain rule on the same
// chains: row 0 one statistics pass; rows 1..k - 1 a statistics pass and a Z pass reading the logits and
// the q row; row k a statistics pass and the bonus race: 3k row reads per request.
void BM_verify_block_fused(benchmark::State& state) {
  const auto k = static_cast<double>(state.range(1));
  time_fused_chains(state, 3 * k, [](const auto&... args) { return sc::verify_block(args...); });
}

// The peers' first step, for comparison: an argmax over every node's row (B * N rows).
template <class T>
void BM_argmax_all_rows(benchmark::State& state) {
  const std::int64_t rows = state.range(0) * state.range(1);
  const auto v = static_cast<std::int32_t>(state.range(2));
  T* logits = logits_arena<T>(static_cast<std::size_t>(rows) * static_cast<std::size_t>(v));
  device_array<std::int32_t> argmax(static_cast<std::size_t>(rows));
  const double bytes = static_cast<double>(rows) * v * static_cast<double>(sizeof(T));
  time_launches(state, bytes, [&] { return sc::argmax_rows(logits, rows, v, argmax.data, nullptr); });
}

// Chain speculative sampling from probabilities, FlashInfer's shapes: B x k drafts over V.
void BM_chain_speculative_sampling(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const auto k = static_cast<std::int32_t>(state.range(1));
  const auto v = static_cast<std::int32_t>(state.range(2));
  // Uniform distributions p = q = 1 / V: u * q(x) <= p(x) always, so every draft is accepted and the
  // bonus row is sampled: k scalar decisions plus one row per request.
  device_array<float> probs(static_cast<std::size_t>(b * (k + 1)) * static_cast<std::size_t>(v));
  fill_value<<<4096, 256>>>(probs.data, probs.size, 1.0f / static_cast<float>(v));
  check(cudaGetLastError(), "fill");
  float* p = probs.data;
  device_array<specdec::token_id> drafts(std::vector<specdec::token_id>(static_cast<std::size_t>(b * k), 1));
  device_array<specdec::token_id> out(static_cast<std::size_t>(b * (k + 1)));
  device_array<std::int32_t> accepted(static_cast<std::size_t>(b));
  std::vector<specdec::random_address> host(static_cast<std::size_t>(b));
  device_array<specdec::random_address> addresses(host);
  const double bytes = static_cast<double>(b) * v * sizeof(float);
  time_launches(state, bytes, [&] {
    return sc::chain_speculative_sampling(p, drafts.data, p, b, k, v, addresses.data, out.data, accepted.data);
  });
}

// The flattening's outputs for `total` nodes of `b` trees (positions, packed mask of `words` words per
// row, `cols`-column paths, leaf counts, sibling links) and the launcher's view of them.
struct flatten_buffers {
  flatten_buffers(std::size_t total, std::int64_t b, std::int32_t words, std::int32_t cols)
      : positions(total), paths(total * static_cast<std::size_t>(cols)), leaves(static_cast<std::size_t>(b)), first(total), next(total),
        mask(total * static_cast<std::size_t>(words)) {
    out.position_ids = positions.data;
    out.packed_mask = mask.data;
    out.mask_words = words;
    out.paths = paths.data;
    out.path_cols = cols;
    out.leaf_counts = leaves.data;
    out.first_child = first.data;
    out.next_sibling = next.data;
  }
  device_array<std::int32_t> positions, paths, leaves, first, next;
  device_array<std::uint32_t> mask;
  sc::flatten_outputs out;
};

void BM_flatten_trees(benchmark::State& state) {
  const tree_batch<float> t(state.range(0), static_cast<std::int32_t>(state.range(1)), 1000, 0);
  const auto total = static_cast<std::size_t>(t.b * t.n);
  const std::int32_t words = (t.n + 31) / 32;
  const std::int32_t cols = 8;
  device_array<std::int32_t> contexts(std::vector<std::int32_t>(static_cast<std::size_t>(t.b), 100));
  flatten_buffers f(total, t.b, words, cols);
  const double bytes = static_cast<double>(total) * (4.0 * 4 + 4.0 * words + 4.0 * cols);
  time_launches(state, bytes, [&] { return sc::flatten_trees(t.trees(), contexts.data, f.out); });
}

// The dense (unpacked) ancestor mask alone: [B * nodes, nodes] bytes written.
void BM_flatten_dense_mask(benchmark::State& state) {
  const tree_batch<float> t(state.range(0), static_cast<std::int32_t>(state.range(1)), 1000, 0);
  const auto total = static_cast<std::size_t>(t.b * t.n);
  device_array<std::uint8_t> dense(total * static_cast<std::size_t>(t.n));
  sc::flatten_outputs out;
  out.dense_mask = dense.data;
  out.dense_cols = t.n;
  const double bytes = static_cast<double>(total) * (4.0 + static_cast<double>(t.n));
  time_launches(state, bytes, [&] { return sc::flatten_trees(t.trees(), nullptr, out); });
}

// Medusa-style step on the device: a static 64-node shape (every rank path with ranks < 3, breadth
// first, up to 63 drafts) filled from per-head candidates, then flattened (positions, packed mask,
// paths, sibling links): two launches, timed together.
void BM_build_and_flatten(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  std::vector<std::vector<std::int32_t>> paths;
  for (std::size_t at = 0; paths.size() < 63; ++at) {  // breadth first: extend earlier paths by ranks 0..2
    const std::vector<std::int32_t> base = at == 0 ? std::vector<std::int32_t>{} : paths[at - 1];
    for (std::int32_t r = 0; r < 3 && paths.size() < 63; ++r) {
      auto next = base;
      next.push_back(r);
      paths.push_back(next);
    }
  }
  const specdec::tree_choices choices(paths);
  const auto n = static_cast<std::int32_t>(choices.size());
  std::vector<std::int32_t> parents(static_cast<std::size_t>(n)), ranks(static_cast<std::size_t>(n)), depths(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) {
    parents[static_cast<std::size_t>(i)] = choices.parent(i);
    ranks[static_cast<std::size_t>(i)] = choices.rank(i);
    depths[static_cast<std::size_t>(i)] = choices.depth(i);
  }
  const std::int32_t heads = choices.max_depth();
  const std::int32_t k = 3;
  device_array<std::int32_t> shape_parents(parents), shape_ranks(ranks), shape_depths(depths);
  device_array<specdec::token_id> roots(std::vector<specdec::token_id>(static_cast<std::size_t>(b), 7));
  device_array<specdec::token_id> candidates(std::vector<specdec::token_id>(static_cast<std::size_t>(b * heads * k), 11));
  const auto total = static_cast<std::size_t>(b * n);
  device_array<specdec::token_id> tokens(total);
  device_array<std::int32_t> tree_parents(total), tree_depths(total), offsets(static_cast<std::size_t>(b) + 1);
  device_array<std::int32_t> contexts(std::vector<std::int32_t>(static_cast<std::size_t>(b), 100));
  const std::int32_t words = (n + 31) / 32;
  const std::int32_t cols = heads + 1;
  flatten_buffers f(total, b, words, cols);
  const sc::static_tree_shape shape{shape_parents.data, shape_ranks.data, shape_depths.data, n};
  const specdec::token_tree_batch_view trees(specdec::ragged_offsets(offsets.data, static_cast<index_t>(b + 1)), tokens.data,
                                             tree_parents.data, tree_depths.data);
  const double bytes = static_cast<double>(total) * (3 * 4.0 + 4.0 * 4 + 4.0 * words + 4.0 * cols);
  time_launches(state, bytes, [&] {
    const cudaError_t built = sc::build_static_trees(shape, b, roots.data, candidates.data, heads, k, tokens.data,
                                                     tree_parents.data, tree_depths.data, offsets.data);
    return built != cudaSuccess ? built : sc::flatten_trees(trees, contexts.data, f.out);
  });
}

// EAGLE-2 step on the device: six expansion rounds of k = 10 (the rounds' draft outputs prepared in
// device memory: 10 candidates per root, 100 per later round, log-probs on a quarter grid so that
// scores tie), the rerank to 64 nodes, then the flattening (positions, packed mask, paths, sibling
// links): eight launches, timed together (the draft model's forwards between the rounds are the
// engine's). Bytes: the proposals read (8 per candidate), the workspace written and read back (16 per
// candidate, twice), the tree and its layouts written.
void BM_dynamic_tree_build_and_flatten(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const specdec::dynamic_tree_params params{10, 6, 64};
  const specdec::dynamic_tree_layout layout{params.top_k, params.max_depth};
  const auto k = static_cast<std::size_t>(params.top_k);
  std::vector<std::unique_ptr<device_array<specdec::token_id>>> ranked;
  std::vector<std::unique_ptr<device_array<float>>> log_probs;
  std::uint64_t mix = 0x9e3779b97f4a7c15ull;
  for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
    const std::size_t entries = static_cast<std::size_t>(b * layout.frontier_size(depth)) * k;
    std::vector<specdec::token_id> tokens(entries);
    std::vector<float> values(entries);
    for (std::size_t e = 0; e < entries; ++e) {
      mix = mix * 6364136223846793005ull + 1442695040888963407ull;
      tokens[e] = static_cast<specdec::token_id>((mix >> 33) % 128256);
      // Row-sorted: column c of every row is -0.25 * (c + a random step in 0..3).
      values[e] = -0.25f * static_cast<float>(e % k + ((mix >> 20) & 3u));
    }
    for (std::size_t row = 0; row < entries / k; ++row) std::sort(values.begin() + row * k, values.begin() + (row + 1) * k, std::greater<>());
    ranked.push_back(std::make_unique<device_array<specdec::token_id>>(tokens));
    log_probs.push_back(std::make_unique<device_array<float>>(values));
  }
  const std::size_t bytes_ws = sc::dynamic_tree_workspace_bytes(b, params);
  device_array<double> workspace(bytes_ws / sizeof(double) + 1);
  device_array<specdec::token_id> roots(std::vector<specdec::token_id>(static_cast<std::size_t>(b), 7));
  const auto n = static_cast<std::size_t>(sc::dynamic_tree_node_count(params));
  const auto total = static_cast<std::size_t>(b) * n;
  device_array<specdec::token_id> tokens(total);
  device_array<std::int32_t> parents(total), depths(total), offsets(static_cast<std::size_t>(b) + 1);
  device_array<std::int32_t> contexts(std::vector<std::int32_t>(static_cast<std::size_t>(b), 100));
  const std::int32_t words = static_cast<std::int32_t>((n + 31) / 32);
  const std::int32_t cols = params.max_depth + 1;
  flatten_buffers f(total, b, words, cols);
  const specdec::token_tree_batch_view trees(specdec::ragged_offsets(offsets.data, static_cast<index_t>(b + 1)), tokens.data,
                                             parents.data, depths.data);
  const double candidates = static_cast<double>(b) * static_cast<double>(layout.candidates());
  const double bytes = candidates * (8.0 + 2 * 16.0) + static_cast<double>(total) * (3 * 4.0 + 4.0 * 4 + 4.0 * words + 4.0 * cols);
  time_launches(state, bytes, [&] {
    for (std::int32_t depth = 0; depth < params.max_depth; ++depth) {
      const cudaError_t expanded = sc::dynamic_tree_expand(workspace.data, bytes_ws, b, params, depth, roots.data,
                                                           ranked[static_cast<std::size_t>(depth)]->data,
                                                           log_probs[static_cast<std::size_t>(depth)]->data, nullptr, nullptr, nullptr);
      if (expanded != cudaSuccess) return expanded;
    }
    const cudaError_t reranked = sc::dynamic_tree_rerank(workspace.data, bytes_ws, b, params, tokens.data, parents.data,
                                                         depths.data, offsets.data);
    return reranked != cudaSuccess ? reranked : sc::flatten_trees(trees, contexts.data, f.out);
  });
}

// KV compaction after verification: [B][256 slices (32 layers x 8 heads)][128 positions][128 dim] bf16,
// accepted path 1 -> 4 -> 13 -> 40 (first children of the ternary heap): three moves per request.
void BM_compact_kv_cache(benchmark::State& state) {
  const std::int64_t b = state.range(0);
  const std::int64_t slices = 256;
  const std::int64_t capacity = 128;
  const std::int64_t dim = 128;
  sc::kv_layout layout;
  layout.seq_stride = dim;
  layout.outer_count = slices;
  layout.outer_stride = capacity * dim;
  layout.inner_size = dim;
  layout.batch_stride = slices * capacity * dim;
  device_array<__nv_bfloat16> cache(static_cast<std::size_t>(b * layout.batch_stride));
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(b) + 1), path(static_cast<std::size_t>(b * 64));
  for (std::size_t k = 0; k < offsets.size(); ++k) offsets[k] = static_cast<std::int32_t>(k) * 64;
  for (std::int64_t r = 0; r < b; ++r) {
    const std::int32_t nodes[] = {0, 1, 4, 13, 40};
    for (int d = 0; d < 5; ++d) path[static_cast<std::size_t>(r * 64 + d)] = nodes[d];
  }
  device_array<std::int32_t> d_offsets(offsets), d_path(path);
  device_array<std::int32_t> accepted(std::vector<std::int32_t>(static_cast<std::size_t>(b), 4));
  device_array<std::int32_t> contexts(std::vector<std::int32_t>(static_cast<std::size_t>(b), 60));
  const sc::accepted_paths paths{d_offsets.data, d_path.data, accepted.data, contexts.data};
  const double bytes = static_cast<double>(b) * 3 * 2 * static_cast<double>(slices * dim) * sizeof(__nv_bfloat16);
  time_launches(state, bytes, [&] { return sc::compact_kv_cache(cache.data, layout, paths, b); });
}

void verify_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "nodes", "V"});
  for (const std::int64_t v : {32000, 128256}) {
    for (const std::int64_t batch : {1, 16, 64, 256}) {
      for (const std::int64_t nodes : {8, 16, 64}) b->Args({batch, nodes, v});
    }
  }
}

// The split walk reads the same rows whatever the tree's size: every B and V at 64 nodes (the goals'
// shape), to keep the device check short.
void split_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "nodes", "V"});
  for (const std::int64_t v : {32000, 128256}) {
    for (const std::int64_t batch : {1, 16, 64, 256}) b->Args({batch, 64, v});
  }
}

void argmax_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "nodes", "V"});
  for (const std::int64_t v : {32000, 128256}) {
    for (const std::int64_t batch : {1, 64, 256}) b->Args({batch, 64, v});
  }
}

}  // namespace

BENCHMARK_TEMPLATE(BM_verify_greedy, float)->Apply(verify_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_verify_greedy, __nv_bfloat16)->Apply(verify_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_verify_greedy_split, float)->Apply(split_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_verify_greedy_split, __nv_bfloat16)->Apply(split_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_verify_one_hot, float)->Apply(verify_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_verify_one_hot, __nv_bfloat16)->Apply(verify_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_argmax_all_rows, float)->Apply(argmax_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_argmax_all_rows, __nv_bfloat16)->Apply(argmax_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_chain_speculative_sampling)
    ->ArgNames({"B", "k", "V"})
    ->Args({1, 4, 32000})
    ->Args({16, 4, 32000})
    ->Args({64, 8, 128256})
    ->Args({256, 8, 128256})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_verify_chain_fused)
    ->ArgNames({"B", "k", "V"})
    ->Args({1, 4, 32000})
    ->Args({64, 8, 128256})
    ->Args({256, 8, 128256})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_verify_block_fused)
    ->ArgNames({"B", "k", "V"})
    ->Args({1, 4, 32000})
    ->Args({64, 8, 128256})
    ->Args({256, 8, 128256})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_flatten_trees)->ArgNames({"B", "nodes"})->Args({16, 64})->Args({256, 64})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_flatten_dense_mask)->ArgNames({"B", "nodes"})->Args({16, 64})->Args({256, 64})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_build_and_flatten)->ArgNames({"B"})->Arg(16)->Arg(256)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_dynamic_tree_build_and_flatten)->ArgNames({"B"})->Arg(16)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_compact_kv_cache)->ArgNames({"B"})->Arg(16)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
