// The llama2.c tokenizer on a synthetic vocabulary: best-score pair merging (not left to right), byte
// fallback, decoding of byte tokens and of the space after BOS, and malformed files.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <specdec/core/error.hpp>

#include "support/catch.hpp"
#include "tokenizer.hpp"

namespace {

// <unk>, BOS, EOS, the 256 byte tokens, then the given (piece, score) merges.
std::vector<std::byte> vocabulary(const std::vector<std::pair<std::string, float>>& merges) {
  std::vector<std::pair<std::string, float>> all{{"<unk>", 0.0f}, {"\n<s>\n", 0.0f}, {"\n</s>\n", 0.0f}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    all.emplace_back(name, 0.0f);
  }
  all.insert(all.end(), merges.begin(), merges.end());
  std::vector<std::byte> bytes;
  const auto put = [&](const void* p, std::size_t n) {
    const std::size_t at = bytes.size();
    bytes.resize(at + n);
    if (n > 0) std::memcpy(bytes.data() + at, p, n);
  };
  const std::int32_t max_length = 8;
  put(&max_length, 4);
  for (const auto& [piece, score] : all) {
    const auto length = static_cast<std::int32_t>(piece.size());
    put(&score, 4);
    put(&length, 4);
    put(piece.data(), piece.size());
  }
  return bytes;
}

} // namespace

TEST_CASE("encoding merges the best-scoring pair first and falls back to bytes") {
  // ids: 259 " ", 260 "a", 261 "b", 262 "c", 263 "ab" (score -5), 264 "bc" (score -1), 265 "abc" (-2), 266 " a"
  const llama::tokenizer t = llama::tokenizer::from_bytes(
      vocabulary({{" ", -9.0f}, {"a", -9.0f}, {"b", -9.0f}, {"c", -9.0f}, {"ab", -5.0f}, {"bc", -1.0f}, {"abc", -2.0f}, {" a", -8.0f}}));
  REQUIRE(t.vocab_size() == 267);
  // " abc" starts as " ", "a", "b", "c": of " a" (-8), "ab" (-5) and "bc" (-1), "bc" merges first; then of
  // " a" (-8) and "abc" (-2), "abc"; " abc" is not a piece.
  CHECK(t.encode("abc", false) == std::vector<specdec::token_id>{259, 265});
  CHECK(t.encode("abc", true, true) == std::vector<specdec::token_id>{1, 259, 265, 2});
  // A left-to-right merger would take "ab" first; best score takes "bc".
  CHECK(t.encode("bca", false) == std::vector<specdec::token_id>{259, 264, 260});
  // Byte fallback for characters outside the vocabulary, per UTF-8 byte: 'z' = 0x7a -> 0x7a + 3.
  CHECK(t.encode("z\xc3\xa9", false) == std::vector<specdec::token_id>{259, 0x7a + 3, 0xc3 + 3, 0xa9 + 3});
  CHECK(t.encode("", true) == std::vector<specdec::token_id>{1});
  // Decoding: the space after BOS is dropped, byte tokens are raw bytes.
  CHECK(t.decode(t.encode("abc z\xc3\xa9")) == "abc z\xc3\xa9");
  CHECK(t.decode(1, 266) == "a");
  CHECK(t.decode(260, 266) == " a");
  CHECK(t.decode(5, 3 + 0x41) == "A");
}

TEST_CASE("malformed tokenizer files are errors naming the field") {
  std::vector<std::byte> bytes = vocabulary({{"ab", -1.0f}});
  std::vector<std::byte> truncated(bytes.begin(), bytes.end() - 1);
  REQUIRE_INVALID_ARGUMENT("tokenizer: piece bytes[259]", llama::tokenizer::from_bytes(truncated));
  std::vector<std::byte> bad = bytes;
  const std::int32_t zero = 0;
  std::memcpy(bad.data(), &zero, 4);
  REQUIRE_INVALID_ARGUMENT("tokenizer: max_token_length = 0", llama::tokenizer::from_bytes(bad));
  std::vector<std::byte> few(bytes.begin(), bytes.begin() + 4 + 3 * 14);
  REQUIRE_THROWS_AS(llama::tokenizer::from_bytes(few), specdec::invalid_argument);
  REQUIRE_THROWS_AS(llama::tokenizer::load("/nonexistent/tok.bin"), specdec::runtime_error);
}
