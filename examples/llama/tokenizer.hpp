//! The llama2.c tokenizer (`tokenizer.bin`): sentencepiece-style best-score pair merging with byte
//! fallback for encoding, and decoding with the byte tokens `<0xHH>` mapped back to raw bytes.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <specdec/core/types.hpp>

namespace llama {

using specdec::token_id;

class tokenizer {
public:
  static constexpr token_id bos = 1;  //!< "\n<s>\n" in llama2.c's vocabularies
  static constexpr token_id eos = 2;  //!< "\n</s>\n"

  //! Reads `tokenizer.bin`: int32 max_token_length, then per token float32 score, int32 byte length,
  //! the bytes, up to the end of the file. Throws `specdec::invalid_argument` naming the field for a
  //! truncated or malformed file, `specdec::runtime_error` when it cannot be read.
  static tokenizer load(const std::string& path);
  static tokenizer from_bytes(std::span<const std::byte> bytes, const std::string& source = "tokenizer");

  [[nodiscard]] specdec::index_t vocab_size() const noexcept { return static_cast<specdec::index_t>(pieces_.size()); }
  [[nodiscard]] const std::string& piece(token_id id) const { return pieces_.at(static_cast<std::size_t>(id)); }

  //! llama2.c's encode: optional BOS, the dummy-prefix space (for non-empty text), one token per UTF-8
  //! code point found in the vocabulary (else its bytes as byte tokens, id byte + 3), then repeatedly
  //! merge the adjacent pair whose concatenation is the vocabulary entry of highest score (the leftmost
  //! on ties) until no pair merges; optional EOS. O(n^2) lookups for n initial tokens, as run.c.
  [[nodiscard]] std::vector<token_id> encode(std::string_view text, bool add_bos = true, bool add_eos = false) const;

  //! The text of one token after `previous`: the leading space after BOS is dropped, `<0xHH>` is the
  //! byte HH. Throws `specdec::invalid_argument` for an id outside the vocabulary.
  [[nodiscard]] std::string decode(token_id previous, token_id token) const;
  //! The text of a sequence (each token decoded after the one before; BOS and EOS decode to nothing
  //! when they start the sequence, as the story boundaries they are).
  [[nodiscard]] std::string decode(std::span<const token_id> tokens, token_id previous = bos) const;

private:
  [[nodiscard]] token_id lookup(std::string_view piece) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, token_id> ids_;
  int max_token_length_ = 0;
};

} // namespace llama
