//! Internal: the non-sequence axes of a KV cache and the copy of one token's slice across them.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/kv/kv_axis.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

//! Up to six axes that, together with one token's base pointer, address that token's whole slice.
class token_slice_axes {
public:
  static constexpr std::size_t max_axes = 6;

  token_slice_axes() = default;
  explicit token_slice_axes(std::span<const kv_axis> axes) {
    expects(axes.size() <= max_axes, "axes.size()", axes.size(), "at most 6 non-sequence axes");
    for (std::size_t a = 0; a < axes.size(); ++a) {
      expects_element(axes[a].extent >= 1, "axes extent", a, axes[a].extent, ">= 1");
      expects_element(axes[a].stride >= 0, "axes stride", a, axes[a].stride, ">= 0");
      axes_[a] = axes[a];
    }
    rank_ = axes.size();
  }

  //! Copies every element of the slice at `src` to the slice at `dst`; the innermost axis is copied as
  //! a run when contiguous. O(slice elements).
  template <class T>
  void copy(T* dst, const T* src) const noexcept {
    copy_axis(dst, src, 0);
  }

  //! The axes, in the order given.
  [[nodiscard]] std::span<const kv_axis> axes() const noexcept { return {axes_.data(), rank_}; }

  //! The largest element offset of the slice (for bounds reasoning in tests and checks).
  [[nodiscard]] index_t span_elements() const noexcept {
    index_t last = 0;
    for (std::size_t a = 0; a < rank_; ++a) last += (axes_[a].extent - 1) * axes_[a].stride;
    return last + 1;
  }

private:
  template <class T>
  void copy_axis(T* dst, const T* src, std::size_t a) const noexcept {
    if (a == rank_) {
      *dst = *src;
      return;
    }
    const kv_axis axis = axes_[a];
    if (a + 1 == rank_ && axis.stride == 1) {
      std::copy_n(src, axis.extent, dst);
      return;
    }
    for (index_t i = 0; i < axis.extent; ++i) copy_axis(dst + i * axis.stride, src + i * axis.stride, a + 1);
  }

  std::array<kv_axis, max_axes> axes_{};
  std::size_t rank_ = 0;
};

} // namespace detail
} // namespace v0
} // namespace specdec
