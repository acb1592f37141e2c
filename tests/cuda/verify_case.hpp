//! Random ragged batches of token trees with target logits (and q for chains), shared by the CUDA
//! verification and graph-capture tests: each kernel is compared with the CPU `verify_batch`.
#pragma once

#include <specdec/specdec.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <span>
#include <vector>

namespace specdec::test {

//! How many cases a CUDA test runs: `full`, or `full / 20` (at least 8) when SPECDEC_CUDA_TEST_QUICK is
//! set (scripts/gpu-check sets it for the compute-sanitizer runs, which are 10-100x slower).
inline std::size_t test_cases(std::size_t full) {
  return std::getenv("SPECDEC_CUDA_TEST_QUICK") != nullptr ? std::max<std::size_t>(full / 20, 8) : full;
}

//! One batch: flat CSR trees, `[total, vocab]` logits and q, per-request parameters, addresses and
//! stop tokens, as both the CPU `verify_batch` and the kernels take them.
struct verify_case {
  std::size_t vocab = 0;
  std::vector<std::int32_t> offsets{0};
  std::vector<token_id> tokens;
  std::vector<std::int32_t> parents;
  std::vector<std::int32_t> depths;
  std::vector<float> logits;
  std::vector<float> q;
  std::vector<sampling_params> params;
  std::vector<random_address> addresses;
  std::vector<std::int32_t> stop_offsets{0};
  std::vector<token_id> stop_tokens;

  [[nodiscard]] std::size_t batch() const { return offsets.size() - 1; }
  [[nodiscard]] std::size_t total() const { return tokens.size(); }

  [[nodiscard]] token_tree_batch_view trees() const {
    return {ragged_offsets(offsets), tokens.data(), parents.data(), depths.data()};
  }

  //! Runs the CPU reference `rule` over the batch.
  template <class Rule>
  [[nodiscard]] std::vector<verify_result> reference(Rule& rule) const {
    verify_batch_input in;
    in.trees = trees();
    in.target_logits = const_matrix_view<float>(logits.data(), static_cast<index_t>(total()), static_cast<index_t>(vocab));
    if (!q.empty()) in.draft_probs = const_matrix_view<float>(q.data(), static_cast<index_t>(total()), static_cast<index_t>(vocab));
    in.params = params;
    in.addresses = addresses;
    in.stop_offsets = ragged_offsets(stop_offsets);
    in.stop_tokens = stop_tokens;
    std::vector<verify_result> results(batch());
    verify_batch(rule, in, results);
    return results;
  }
};

//! Options of a random batch.
struct case_options {
  std::size_t requests = 64;
  std::size_t vocab = 257;
  std::int32_t max_nodes = 16;
  bool chains = false;     //!< every tree a chain, with q rows
  bool with_q = false;     //!< q rows for any tree (multi-draft)
  bool distinct_siblings = false;  //!< no two children of a node share a token (rrs)
  bool sampling = false;   //!< random sampling parameters (else greedy)
  float scale = 3.0f;      //!< logit spread: larger is peakier, so more drafts are accepted
  std::uint64_t seed = 1;
};

//! A random batch: tree sizes 1..max_nodes, parents uniform among earlier nodes (chains: i - 1), child
//! tokens mostly the parent row's argmax or a likely token (so that paths get accepted), sometimes a
//! random or a duplicate token; stop tokens for every third request.
inline verify_case make_verify_case(const case_options& o) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal(0.0f, o.scale);
  std::uniform_int_distribution<token_id> any_token(0, static_cast<token_id>(o.vocab) - 1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  verify_case c;
  c.vocab = o.vocab;
  for (std::size_t b = 0; b < o.requests; ++b) {
    const auto n = std::uniform_int_distribution<std::int32_t>(1, o.max_nodes)(rng);
    const std::size_t first = c.tokens.size();
    c.logits.resize((first + static_cast<std::size_t>(n)) * o.vocab);
    for (std::size_t i = first * o.vocab; i < c.logits.size(); ++i) c.logits[i] = unit(rng) < 0.01f ? -INFINITY : normal(rng);
    for (std::int32_t i = 0; i < n; ++i) c.logits[(first + static_cast<std::size_t>(i)) * o.vocab + static_cast<std::size_t>(i) % o.vocab] = o.scale;
    const auto row = [&](std::int32_t node) {
      return std::span<const float>(c.logits.data() + (first + static_cast<std::size_t>(node)) * o.vocab, o.vocab);
    };
    for (std::int32_t i = 0; i < n; ++i) {
      std::int32_t parent = -1;
      token_id token = any_token(rng);
      if (i > 0) {
        parent = o.chains ? i - 1 : std::uniform_int_distribution<std::int32_t>(0, i - 1)(rng);
        const float pick = unit(rng);
        const auto r = row(parent);
        if (pick < 0.55f) {
          token = argmax(r);
        } else if (pick < 0.8f) {  // a likely but not the top token: the largest of a few random ones
          token = any_token(rng);
          for (int k = 0; k < 8; ++k) {
            const token_id t = any_token(rng);
            if (r[static_cast<std::size_t>(t)] > r[static_cast<std::size_t>(token)]) token = t;
          }
        } else if (pick < 0.9f && i > 1 && c.parents[first + static_cast<std::size_t>(i) - 1] == parent) {
          token = c.tokens[first + static_cast<std::size_t>(i) - 1];  // a duplicate sibling
        }
      }
      const auto sibling_has = [&](token_id t) {
        for (std::size_t j = first; j < c.tokens.size(); ++j) {
          if (c.parents[j] == parent && c.tokens[j] == t) return true;
        }
        return false;
      };
      while (o.distinct_siblings && i > 0 && sibling_has(token)) token = any_token(rng);
      c.tokens.push_back(token);
      c.parents.push_back(parent);
      c.depths.push_back(parent < 0 ? 0 : c.depths[first + static_cast<std::size_t>(parent)] + 1);
    }
    c.offsets.push_back(static_cast<std::int32_t>(c.tokens.size()));
    sampling_params params = sampling_params::make_greedy();
    if (o.sampling) {
      const float temperatures[] = {0.0f, 0.6f, 1.0f, 1.0f, 1.5f};
      params.temperature = temperatures[b % 5];
      params.top_k = (b / 5) % 3 == 1 ? 3 : (b / 5) % 3 == 2 ? 40 : sampling_params::top_k_off;
      params.min_p = (b / 15) % 2 == 1 ? 0.1f : 0.0f;
      params.top_p = (b / 30) % 3 == 1 ? 0.8f : (b / 30) % 3 == 2 ? 0.95f : 1.0f;
    }
    c.params.push_back(params);
    c.addresses.push_back(random_address{o.seed * 1000003 + b, static_cast<std::uint32_t>(b), 17, 0, purpose::accept});
    if (b % 3 == 0 && n > 1) {
      c.stop_tokens.push_back(c.tokens[first + static_cast<std::size_t>(std::uniform_int_distribution<std::int32_t>(1, n - 1)(rng))]);
      c.stop_tokens.push_back(any_token(rng));
    }
    c.stop_offsets.push_back(static_cast<std::int32_t>(c.stop_tokens.size()));
  }
  if (o.chains || o.with_q) {  // q: a perturbed softmax of the target row, renormalised in float
    c.q.resize(c.logits.size());
    for (std::size_t r = 0; r < c.total(); ++r) {
      double sum = 0.0;
      for (std::size_t i = 0; i < o.vocab; ++i) {
        const float l = c.logits[r * o.vocab + i];
        const float w = l == -INFINITY ? 0.0f : std::exp(0.8f * l / o.scale * 3.0f + 0.5f * normal(rng) / o.scale);
        c.q[r * o.vocab + i] = w;
        sum += w;
      }
      for (std::size_t i = 0; i < o.vocab; ++i) c.q[r * o.vocab + i] = static_cast<float>(c.q[r * o.vocab + i] / sum);
    }
  }
  return c;
}

} // namespace specdec::test
