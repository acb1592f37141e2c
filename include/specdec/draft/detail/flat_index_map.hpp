//! An open-addressing map from 64-bit keys to non-negative 32-bit indices, and the token fingerprints
//! the model-free drafters key it with.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {
namespace detail {

//! The splitmix64 finaliser (Steele et al., 2014): a bijective 64-bit mix.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

//! The fingerprint of the empty sequence; `extend_fingerprint` prepends one token. Extending from the
//! most recent token backwards gives the fingerprints of the 1-, 2-, ... n-grams ending at a position in
//! one pass.
inline constexpr std::uint64_t empty_fingerprint = 0x243f6a8885a308d3ULL;
[[nodiscard]] constexpr std::uint64_t extend_fingerprint(std::uint64_t fingerprint, token_id token) noexcept {
  return mix64(fingerprint ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(token)) + 0x9e3779b97f4a7c15ULL));
}

//! A linear-probing hash map from `std::uint64_t` keys to `std::int32_t` values >= 0 (-1 marks an
//! empty slot), with backward-shift deletion (no tombstones). The load factor stays <= 1/2: the table
//! doubles when it would pass it, so it allocates only while it grows, and `clear` keeps the storage.
//! Expected O(1) per operation.
class flat_index_map {
public:
  //! Makes room for `entries` entries without further allocation.
  void reserve(std::size_t entries) {
    std::size_t capacity = 16;
    while (capacity < 2 * entries) capacity *= 2;
    if (capacity > values_.size()) rehash(capacity);
  }

  //! The value stored for `key`, or -1.
  [[nodiscard]] std::int32_t find(std::uint64_t key) const noexcept {
    if (values_.empty()) return -1;
    for (std::size_t slot = home(key);; slot = (slot + 1) & mask_) {
      if (values_[slot] < 0) return -1;
      if (keys_[slot] == key) return values_[slot];
    }
  }

  //! The value stored for `key`, inserting `value` first when `key` is absent. The reference is valid
  //! until the next insertion or erasure.
  std::int32_t& find_or_insert(std::uint64_t key, std::int32_t value) {
    if (2 * (size_ + 1) > values_.size()) rehash(std::max<std::size_t>(16, 2 * values_.size()));
    std::size_t slot = home(key);
    for (; values_[slot] >= 0; slot = (slot + 1) & mask_) {
      if (keys_[slot] == key) return values_[slot];
    }
    keys_[slot] = key;
    values_[slot] = value;
    ++size_;
    return values_[slot];
  }

  //! Stores `value` for `key`, replacing any earlier value.
  void assign(std::uint64_t key, std::int32_t value) { find_or_insert(key, value) = value; }

  //! Removes `key` if present; the entries after it in its probe run shift back to keep runs unbroken.
  void erase(std::uint64_t key) noexcept {
    if (values_.empty()) return;
    std::size_t hole = home(key);
    for (;; hole = (hole + 1) & mask_) {
      if (values_[hole] < 0) return;
      if (keys_[hole] == key) break;
    }
    values_[hole] = -1;
    --size_;
    for (std::size_t next = (hole + 1) & mask_; values_[next] >= 0; next = (next + 1) & mask_) {
      // An entry may fill the hole unless its home lies cyclically in (hole, next].
      const std::size_t want = home(keys_[next]);
      const bool stays = hole < next ? (want > hole && want <= next) : (want > hole || want <= next);
      if (stays) continue;
      keys_[hole] = keys_[next];
      values_[hole] = values_[next];
      values_[next] = -1;
      hole = next;
    }
  }

  //! Removes every entry; keeps the storage.
  void clear() noexcept {
    std::fill(values_.begin(), values_.end(), -1);
    size_ = 0;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  //! Bytes of storage held.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return keys_.capacity() * sizeof(std::uint64_t) + values_.capacity() * sizeof(std::int32_t);
  }

private:
  [[nodiscard]] std::size_t home(std::uint64_t key) const noexcept { return static_cast<std::size_t>(mix64(key)) & mask_; }

  void rehash(std::size_t capacity) {
    std::vector<std::uint64_t> keys(capacity, 0);
    std::vector<std::int32_t> values(capacity, -1);
    keys_.swap(keys);
    values_.swap(values);
    mask_ = capacity - 1;
    size_ = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] >= 0) find_or_insert(keys[i], values[i]);
    }
  }

  std::vector<std::uint64_t> keys_;
  std::vector<std::int32_t> values_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

} // namespace detail
} // namespace v0
} // namespace specdec
