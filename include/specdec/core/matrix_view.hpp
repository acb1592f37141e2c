//! Non-owning strided 2-D views (rows x cols with a row stride), usable on host and device.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "specdec/core/config.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"

namespace specdec {
inline namespace v0 {

//! A row-major view of `rows x cols` elements of `T`, row `r` starting at `data + r * row_stride`.
//! `matrix_view<const T>` is the read-only form; a mutable view converts to it implicitly.
//! Logits `[nodes, vocab]` inside a larger padded buffer are the typical use: `row_stride` may exceed
//! `cols`. The view never owns memory and is trivially copyable, so kernels take it by value.
template <class T>
class matrix_view {
public:
  using element_type = T;

  constexpr matrix_view() = default;

  //! Views `rows x cols` elements whose rows are `row_stride` elements apart (`row_stride >= cols`;
  //! host code checks this with `validate`).
  SPECDEC_HD constexpr matrix_view(T* data, index_t rows, index_t cols, index_t row_stride) noexcept
      : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride) {}

  //! Views a dense `rows x cols` block.
  SPECDEC_HD constexpr matrix_view(T* data, index_t rows, index_t cols) noexcept
      : matrix_view(data, rows, cols, cols) {}

  //! `matrix_view<T>` converts to `matrix_view<const T>` (not the other way round).
  template <class U>
    requires(!std::is_same_v<U, T> && std::is_convertible_v<U (*)[], T (*)[]>)
  SPECDEC_HD constexpr matrix_view(const matrix_view<U>& other) noexcept  // NOLINT: implicit by design
      : matrix_view(other.data(), other.rows(), other.cols(), other.row_stride()) {}

  [[nodiscard]] SPECDEC_HD constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] SPECDEC_HD constexpr index_t rows() const noexcept { return rows_; }
  [[nodiscard]] SPECDEC_HD constexpr index_t cols() const noexcept { return cols_; }
  [[nodiscard]] SPECDEC_HD constexpr index_t row_stride() const noexcept { return row_stride_; }
  [[nodiscard]] SPECDEC_HD constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }

  //! The element at row `r`, column `c` (unchecked).
  [[nodiscard]] SPECDEC_HD constexpr T& operator()(index_t r, index_t c) const noexcept {
    return data_[r * row_stride_ + c];
  }

  //! A pointer to the first element of row `r` (unchecked).
  [[nodiscard]] SPECDEC_HD constexpr T* row_data(index_t r) const noexcept { return data_ + r * row_stride_; }

  //! Row `r` as a span of `cols()` elements (host; unchecked).
  [[nodiscard]] constexpr std::span<T> row(index_t r) const noexcept {
    return {row_data(r), static_cast<std::size_t>(cols_)};
  }

  //! Rows `[first, first + count)` as a view with the same columns and stride (unchecked).
  [[nodiscard]] SPECDEC_HD constexpr matrix_view middle_rows(index_t first, index_t count) const noexcept {
    return {row_data(first), count, cols_, row_stride_};
  }

  //! Throws `specdec::invalid_argument` naming the view and the field unless the shape is consistent:
  //! non-negative sizes, `row_stride >= cols` (any stride for a single row, which is never stepped
  //! over), and a non-null pointer whenever the view is not empty. E.g. `target_logits.row_stride() = 7
  //! violates row_stride >= cols (cols = 8)`.
  void validate(std::string_view name) const {
    if (rows_ < 0) [[unlikely]] detail::throw_invalid_argument(field(name, ".rows()"), rows_, "rows >= 0");
    if (cols_ < 0) [[unlikely]] detail::throw_invalid_argument(field(name, ".cols()"), cols_, "cols >= 0");
    if (row_stride_ < cols_ && rows_ > 1) [[unlikely]] {
      detail::throw_invalid_argument(field(name, ".row_stride()"), row_stride_,
                                     "row_stride >= cols (cols = " + std::to_string(cols_) + ")");
    }
    if (data_ == nullptr && !empty()) [[unlikely]] {
      detail::throw_invalid_argument(field(name, ".data()"), "nullptr", "a non-null data pointer for a non-empty view");
    }
  }

private:
  [[gnu::cold]] static std::string field(std::string_view name, std::string_view member) {
    std::string out(name);
    out += member;
    return out;
  }

  T* data_ = nullptr;
  index_t rows_ = 0;
  index_t cols_ = 0;
  index_t row_stride_ = 0;
};

template <class T>
matrix_view(T*, index_t, index_t) -> matrix_view<T>;
template <class T>
matrix_view(T*, index_t, index_t, index_t) -> matrix_view<T>;

//! Shorthand for the read-only view.
template <class T>
using const_matrix_view = matrix_view<const T>;

} // namespace v0
} // namespace specdec
