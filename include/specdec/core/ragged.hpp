//! Ragged batches: CSR offsets that split one flat array into per-request segments.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "specdec/core/config.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! CSR offsets of a ragged batch: segment `i` (request `i`'s tree nodes, say) is the half-open range
//! `[offsets[i], offsets[i + 1])` of a flat array. `batch_size() + 1` offsets, `offsets[0] == 0`,
//! non-decreasing (empty segments are allowed). `int32_t`, as engines pass them (`cu_seqlens`, CSR
//! indptr). Non-owning and trivially copyable, so kernels take it by value.
class ragged_offsets {
public:
  constexpr ragged_offsets() = default;

  //! Wraps `count` offsets, i.e. a batch of `count - 1` segments.
  SPECDEC_HD constexpr ragged_offsets(const std::int32_t* offsets, index_t count) noexcept
      : offsets_(offsets), count_(count) {}

  //! Wraps a span of offsets (host).
  constexpr explicit ragged_offsets(std::span<const std::int32_t> offsets) noexcept
      : ragged_offsets(offsets.data(), static_cast<index_t>(offsets.size())) {}

  //! The number of segments.
  [[nodiscard]] SPECDEC_HD constexpr index_t batch_size() const noexcept { return count_ > 0 ? count_ - 1 : 0; }
  //! The first flat index of segment `i`.
  [[nodiscard]] SPECDEC_HD constexpr index_t begin(index_t i) const noexcept { return offsets_[i]; }
  //! One past the last flat index of segment `i`.
  [[nodiscard]] SPECDEC_HD constexpr index_t end(index_t i) const noexcept { return offsets_[i + 1]; }
  //! The length of segment `i`.
  [[nodiscard]] SPECDEC_HD constexpr index_t size(index_t i) const noexcept { return end(i) - begin(i); }
  //! The length of the flat array: the sum of all segment lengths.
  [[nodiscard]] SPECDEC_HD constexpr index_t total_size() const noexcept {
    return count_ > 0 ? offsets_[count_ - 1] : 0;
  }
  [[nodiscard]] SPECDEC_HD constexpr const std::int32_t* data() const noexcept { return offsets_; }

  //! Throws `specdec::invalid_argument` naming `name` unless there is at least one offset, the first is
  //! 0 and they never decrease.
  void validate(std::string_view name) const {
    expects(count_ >= 1, name, count_, "at least one offset (batch_size + 1 offsets)");
    expects(offsets_ != nullptr, name, "nullptr", "a non-null offsets pointer");
    expects_element(offsets_[0] == 0, name, 0, offsets_[0], "offsets[0] == 0");
    for (index_t i = 1; i < count_; ++i) {
      expects_element(offsets_[i] >= offsets_[i - 1], name, i, offsets_[i],
                      "non-decreasing offsets (offsets[i] >= offsets[i - 1])");
    }
  }

private:
  const std::int32_t* offsets_ = nullptr;
  index_t count_ = 0;
};

} // namespace v0
} // namespace specdec
