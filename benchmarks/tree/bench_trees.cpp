// Tree building and flattening per step: a static (Sequoia-planned, Medusa-filled) tree and an EAGLE-2
// dynamic tree of N nodes, for one request or a batch of 64, then every layout an engine needs
// (positions, TensorRT-LLM and FlashInfer masks, paths, sibling links, parent rows). Reports ns per
// tree and the heap allocations per step, which must be 0 in steady state.
#include <specdec/specdec.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

namespace {
std::atomic<std::int64_t> allocations{0};
}  // namespace

// Counting every heap allocation of the process proves the steady state allocates nothing. Kept out
// of line: inlined into the standard containers, g++ 12 pairs malloc/free across them and warns.
[[gnu::noinline]] void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

constexpr std::int32_t context_length = 1024;

// A deterministic stand-in for EAGLE's draft head: log-probabilities that fall with rank and vary with
// the parent's token.
struct synthetic_draft {
  void expand(std::span<const std::int32_t>, std::span<const specdec::token_id> tokens, std::int32_t,
              specdec::matrix_view<specdec::token_id> ranked, specdec::matrix_view<float> log_probs) const {
    for (specdec::index_t r = 0; r < ranked.rows(); ++r) {
      const float shift = 0.01f * static_cast<float>(tokens[static_cast<std::size_t>(r)] % 17);
      for (specdec::index_t c = 0; c < ranked.cols(); ++c) {
        ranked(r, c) = (tokens[static_cast<std::size_t>(r)] * 31 + static_cast<specdec::token_id>(c) + 1) % 32000;
        log_probs(r, c) = -0.3f * static_cast<float>(c) - shift - 0.05f;
      }
    }
  }
};

// Output buffers sized once for the batch.
struct flat_buffers {
  std::vector<std::int32_t> positions, parent_rows, first_child, next_sibling, paths, leaf_offsets, mask_offsets;
  std::vector<std::uint32_t> packed;
  std::vector<std::uint8_t> flashinfer;
  specdec::index_t words = 0, width = 0;

  // Sized for the worst case over the steps: as many leaves as nodes, paths as deep as the builder
  // may go (the trees of a batch change shape from step to step).
  void size_for(const specdec::tree_layout_sizes& s, specdec::index_t batch, specdec::index_t max_depth) {
    positions.resize(static_cast<std::size_t>(s.nodes));
    parent_rows.resize(static_cast<std::size_t>(s.nodes));
    first_child.resize(static_cast<std::size_t>(s.nodes));
    next_sibling.resize(static_cast<std::size_t>(s.nodes));
    words = s.mask_words;
    width = max_depth + 1;
    packed.resize(static_cast<std::size_t>(s.nodes * words));
    flashinfer.resize(static_cast<std::size_t>(s.flashinfer_mask_bytes));
    paths.resize(static_cast<std::size_t>(s.nodes * width));
    leaf_offsets.resize(static_cast<std::size_t>(batch + 1));
    mask_offsets.resize(static_cast<std::size_t>(batch + 1));
  }

  void flatten(const specdec::token_tree_batch_view& batch, std::span<const std::int32_t> contexts) {
    specdec::position_ids(batch, contexts, std::span<std::int32_t>(positions));
    specdec::parent_rows(batch, parent_rows);
    specdec::sibling_links(batch, first_child, next_sibling);
    specdec::ancestor_mask_packed(batch, specdec::matrix_view<std::uint32_t>(packed.data(), batch.total_nodes(), words));
    specdec::ancestor_mask_flashinfer(batch, contexts, flashinfer, mask_offsets);
    specdec::root_to_leaf_paths(batch, specdec::matrix_view<std::int32_t>(paths.data(), static_cast<specdec::index_t>(paths.size()) / width, width),
                                leaf_offsets);
  }
};

template <class Build>
void run(benchmark::State& state, specdec::index_t max_depth, Build&& build) {
  const auto batch_size = state.range(1);
  specdec::token_tree tree(0);
  specdec::token_tree_batch batch;
  const std::vector<std::int32_t> contexts(static_cast<std::size_t>(batch_size), context_length);
  flat_buffers buffers;
  const auto step = [&](std::int64_t round) {
    batch.clear();
    for (std::int64_t b = 0; b < batch_size; ++b) {
      build(static_cast<specdec::token_id>((round + b) % 1000), tree);
      batch.push_back(tree);
    }
    buffers.flatten(batch.view(), contexts);
  };
  // Warm-up: size every buffer (the only allocations), then measure the steady state.
  batch.clear();
  for (std::int64_t b = 0; b < batch_size; ++b) {
    build(static_cast<specdec::token_id>(b), tree);
    batch.push_back(tree);
  }
  buffers.size_for(specdec::layout_sizes(batch.view(), contexts), batch_size, max_depth);
  step(0);
  std::int64_t round = 0, allocated = 0;
  double seconds = 0.0;
  for (auto _ : state) {
    const std::int64_t before = allocations.load(std::memory_order_relaxed);
    const auto start = std::chrono::steady_clock::now();
    step(++round % 7);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    allocated += allocations.load(std::memory_order_relaxed) - before;
    benchmark::ClobberMemory();
  }
  const double trees = static_cast<double>(std::max<std::int64_t>(1, state.iterations()) * batch_size);
  state.counters["ns_per_tree"] = seconds * 1e9 / trees;
  state.counters["allocs_per_step"] = static_cast<double>(allocated) / static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
  state.counters["nodes"] = static_cast<double>(tree.size());
}

void bench_static_tree(benchmark::State& state) {
  const auto nodes = state.range(0);
  const std::vector<double> acceptance{0.52, 0.14, 0.07, 0.04, 0.03, 0.02, 0.015, 0.01};
  const auto plan = specdec::plan_sequoia_tree(acceptance, nodes, 12);
  std::vector<specdec::token_id> heads(12 * 8);
  for (std::size_t i = 0; i < heads.size(); ++i) heads[i] = static_cast<specdec::token_id>(i * 37 % 32000);
  specdec::static_tree_builder builder;
  run(state, plan.choices.max_depth(), [&](specdec::token_id root, specdec::token_tree& tree) {
    heads[0] = root;  // the candidates change every step
    builder.build(plan.choices, root, specdec::const_matrix_view<specdec::token_id>(heads.data(), 12, 8), tree);
  });
}

void bench_eagle2_tree(benchmark::State& state) {
  const auto nodes = static_cast<std::int32_t>(state.range(0));
  const specdec::dynamic_tree_params params{8, 6, nodes};
  specdec::dynamic_tree_builder builder;
  synthetic_draft draft;
  run(state, params.max_depth, [&](specdec::token_id root, specdec::token_tree& tree) { builder.build(root, params, draft, tree); });
}

}  // namespace

BENCHMARK(bench_static_tree)->ArgsProduct({{8, 64, 256}, {1, 64}});
BENCHMARK(bench_eagle2_tree)->ArgsProduct({{8, 64, 256}, {1, 64}});

BENCHMARK_MAIN();
