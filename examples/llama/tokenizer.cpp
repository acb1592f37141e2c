// The llama2.c tokenizer: loading, encoding by best-score pair merging, decoding.
#include "tokenizer.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>

#include <specdec/core/error.hpp>

namespace llama {

tokenizer tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw specdec::runtime_error("llama: cannot open tokenizer '" + path + "'");
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(raw.size());
  if (!raw.empty()) std::memcpy(bytes.data(), raw.data(), raw.size());
  return from_bytes(bytes, path);
}

tokenizer tokenizer::from_bytes(std::span<const std::byte> bytes, const std::string& source) {
  tokenizer t;
  std::size_t at = 0;
  const auto read_i32 = [&](const char* field, std::size_t index) {
    if (at + 4 > bytes.size()) specdec::expects_element(false, source + ": " + field, index, bytes.size() - at, "4 bytes left: the file is truncated");
    std::int32_t v = 0;
    std::memcpy(&v, bytes.data() + at, 4);
    at += 4;
    return v;
  };
  t.max_token_length_ = read_i32("max_token_length", 0);
  specdec::expects(t.max_token_length_ >= 1 && t.max_token_length_ <= 4096, source + ": max_token_length", t.max_token_length_,
                   "in [1, 4096]");
  while (at < bytes.size()) {
    const std::size_t id = t.pieces_.size();
    float score = 0.0f;
    if (at + 4 > bytes.size()) specdec::expects_element(false, source + ": score", id, bytes.size() - at, "4 bytes left: the file is truncated");
    std::memcpy(&score, bytes.data() + at, 4);
    at += 4;
    const std::int32_t length = read_i32("length", id);
    specdec::expects_element(length >= 0 && length <= t.max_token_length_ * 4, source + ": length", id, length,
                             "in [0, 4 * max_token_length]");
    if (at + static_cast<std::size_t>(length) > bytes.size()) {
      specdec::expects_element(false, source + ": piece bytes", id, bytes.size() - at, "the piece's length left: the file is truncated");
    }
    t.pieces_.emplace_back(reinterpret_cast<const char*>(bytes.data() + at), static_cast<std::size_t>(length));
    t.scores_.push_back(score);
    at += static_cast<std::size_t>(length);
    t.ids_.emplace(t.pieces_.back(), static_cast<token_id>(id));  // the first of equal pieces wins
  }
  specdec::expects(t.pieces_.size() > 258, source + ": tokens", t.pieces_.size(), "> 258 (<unk>, BOS, EOS and 256 byte tokens)");
  return t;
}

token_id tokenizer::lookup(std::string_view piece) const {
  const auto it = ids_.find(std::string(piece));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<token_id> tokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<token_id> tokens;
  if (add_bos) tokens.push_back(bos);
  if (!text.empty()) {
    const token_id space = lookup(" ");
    tokens.push_back(space >= 0 ? space : static_cast<token_id>(' ') + 3);
  }
  // One token per UTF-8 code point (at most 4 bytes), else byte fallback.
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t n = 1;
    while (i + n < text.size() && n < 4 && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    const std::string_view cp = text.substr(i, n);
    const token_id id = lookup(cp);
    if (id >= 0) {
      tokens.push_back(id);
    } else {
      for (const char c : cp) tokens.push_back(static_cast<token_id>(static_cast<unsigned char>(c)) + 3);
    }
    i += n;
  }
  // Merge the best-scoring adjacent pair until none is in the vocabulary.
  std::string pair;
  for (;;) {
    float best_score = -1e10f;
    token_id best_id = -1;
    std::size_t best_index = 0;
    for (std::size_t k = 0; k + 1 < tokens.size(); ++k) {
      pair = pieces_[static_cast<std::size_t>(tokens[k])];
      pair += pieces_[static_cast<std::size_t>(tokens[k + 1])];
      const token_id id = lookup(pair);
      if (id >= 0 && scores_[static_cast<std::size_t>(id)] > best_score) {
        best_score = scores_[static_cast<std::size_t>(id)];
        best_id = id;
        best_index = k;
      }
    }
    if (best_id < 0) break;
    tokens[best_index] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }
  if (add_eos) tokens.push_back(eos);
  return tokens;
}

std::string tokenizer::decode(token_id previous, token_id token) const {
  specdec::expects(token >= 0 && token < vocab_size(), "token", token, "a token id in [0, vocab_size)");
  std::string_view piece = pieces_[static_cast<std::size_t>(token)];
  if (previous == bos && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  // "<0xHH>": the raw byte HH.
  if (piece.size() == 6 && piece.substr(0, 3) == "<0x" && piece[5] == '>') {
    const auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    const int hi = hex(piece[3]), lo = hex(piece[4]);
    if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
  }
  return std::string(piece);
}

std::string tokenizer::decode(std::span<const token_id> tokens, token_id previous) const {
  std::string out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const token_id t = tokens[i];
    if (i == 0 && (t == bos || t == eos)) {
      previous = t;
      continue;
    }
    out += decode(previous, t);
    previous = t;
  }
  return out;
}

} // namespace llama
