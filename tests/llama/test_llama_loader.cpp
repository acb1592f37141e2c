// The llama2.c checkpoint loader on synthetic files: exact sizes load, truncated, oversized and
// inconsistent files are errors that name the field and the value.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "llama_model.hpp"
#include <specdec/core/error.hpp>

#include "support/catch.hpp"

namespace {

// A checkpoint of the given header with `floats` float32 weights of value 0.01.
std::vector<std::byte> checkpoint(std::vector<std::int32_t> header, std::uint64_t floats) {
  std::vector<std::byte> bytes(28 + 4 * floats);
  std::memcpy(bytes.data(), header.data(), 28);
  const float w = 0.01f;
  for (std::uint64_t i = 0; i < floats; ++i) std::memcpy(bytes.data() + 28 + 4 * i, &w, 4);
  return bytes;
}

const std::vector<std::int32_t> small{16, 40, 2, 4, 2, 32, 8};  // dim, hidden, layers, heads, kv heads, vocab, seq

std::uint64_t small_floats(bool shared = true) {
  const std::uint64_t d = 16, h = 40, l = 2, kv = 8, v = 32, s = 8, hs = 4;
  return v * d + l * d + l * d * d + 2 * l * kv * d + l * d * d + l * d + 3 * l * h * d + d + 2 * s * (hs / 2) + (shared ? 0 : v * d);
}

} // namespace

TEST_CASE("a checkpoint of exactly header + weights loads, shared or separate classifier") {
  const llama::llama_model m = llama::llama_model::from_bytes(checkpoint(small, small_floats()));
  CHECK(m.config().dim == 16);
  CHECK(m.config().kv_dim() == 8);
  CHECK(m.config().head_size() == 4);
  CHECK(m.config().weight_floats() == small_floats());
  CHECK(m.classifier() == m.token_embedding());
  std::vector<std::int32_t> separate = small;
  separate[5] = -32;
  const llama::llama_model s = llama::llama_model::from_bytes(checkpoint(separate, small_floats(false)));
  CHECK(s.config().vocab_size == 32);
  CHECK_FALSE(s.config().shared_classifier);
  CHECK(s.classifier() != s.token_embedding());
  // run.c's RoPE: position 3, pair 1 of a head of 4: angle 3 * 10000^(-2/4).
  CHECK(m.rope_cos(3)[1] == Approx(std::cos(3.0 / 100.0)).epsilon(1e-6));
}

TEST_CASE("truncated, oversized and inconsistent checkpoints are errors naming the field and the value") {
  const std::uint64_t n = small_floats();
  std::vector<std::byte> truncated = checkpoint(small, n);
  truncated.resize(truncated.size() - 4);
  REQUIRE_INVALID_ARGUMENT("checkpoint: file size = " + std::to_string(28 + 4 * n - 4) + " violates == " + std::to_string(28 + 4 * n),
                           llama::llama_model::from_bytes(truncated));
  REQUIRE_INVALID_ARGUMENT("truncated", llama::llama_model::from_bytes(truncated));
  std::vector<std::byte> oversized = checkpoint(small, n);
  oversized.resize(oversized.size() + 8);
  REQUIRE_INVALID_ARGUMENT("oversized", llama::llama_model::from_bytes(oversized));
  REQUIRE_INVALID_ARGUMENT("file size = 10", llama::llama_model::from_bytes(std::vector<std::byte>(10)));
  // A separate classifier that is missing: the shared-size file is truncated for vocab_size = -32.
  std::vector<std::int32_t> separate = small;
  separate[5] = -32;
  REQUIRE_INVALID_ARGUMENT("vocab_size -32", llama::llama_model::from_bytes(checkpoint(separate, n)));

  const auto with = [&](std::size_t field, std::int32_t value) {
    std::vector<std::int32_t> h = small;
    h[field] = value;
    return checkpoint(h, n);
  };
  REQUIRE_INVALID_ARGUMENT("dim = -16", llama::llama_model::from_bytes(with(0, -16)));
  REQUIRE_INVALID_ARGUMENT("hidden_dim = 0", llama::llama_model::from_bytes(with(1, 0)));
  REQUIRE_INVALID_ARGUMENT("n_layers = 5000", llama::llama_model::from_bytes(with(2, 5000)));
  REQUIRE_INVALID_ARGUMENT("n_heads = 3", llama::llama_model::from_bytes(with(3, 3)));
  REQUIRE_INVALID_ARGUMENT("n_kv_heads = 3", llama::llama_model::from_bytes(with(4, 3)));
  REQUIRE_INVALID_ARGUMENT("vocab_size = 0", llama::llama_model::from_bytes(with(5, 0)));
  REQUIRE_INVALID_ARGUMENT("seq_len = -1", llama::llama_model::from_bytes(with(6, -1)));
  REQUIRE_INVALID_ARGUMENT("head_size (dim / n_heads) = 1", llama::llama_model::from_bytes(with(3, 16)));
  REQUIRE_INVALID_ARGUMENT("in checkpoint: header", llama::llama_model::from_bytes(with(0, -16)));
  // A huge header never allocates: it fails the size check first.
  REQUIRE_INVALID_ARGUMENT("file size", llama::llama_model::from_bytes(with(1, 200000)));

  std::vector<std::byte> nan = checkpoint(small, n);
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.data() + 28 + 4 * 5, &q, 4);
  REQUIRE_INVALID_ARGUMENT("checkpoint: weights[5] = nan", llama::llama_model::from_bytes(nan));
  REQUIRE_THROWS_AS(llama::llama_model::load("/nonexistent/stories.bin"), specdec::runtime_error);
}

TEST_CASE("random-weight models have the requested shape (the benchmark's stories110M)") {
  const llama::llama_config c = llama::llama_config::stories110m();
  CHECK(c.dim == 768);
  CHECK(c.n_layers == 12);
  CHECK(c.n_heads == 12);
  CHECK(c.vocab_size == 32000);
  const llama::llama_model m = llama::llama_model::random(llama::llama_config::make(16, 40, 2, 4, 2, 32, 8), 7);
  CHECK(m.rms_final()[3] == 1.0f);
  CHECK(std::abs(m.wq(1)[5]) <= 0.02f);
  CHECK(m.wq(1)[5] != m.wq(1)[6]);
}
