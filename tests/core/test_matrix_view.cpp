#include <specdec/core/matrix_view.hpp>

#include <array>
#include <type_traits>

#include "support/catch.hpp"

using specdec::const_matrix_view;
using specdec::matrix_view;

TEST_CASE("matrix_view addresses rows through the row stride") {
  std::array<int, 12> storage{};
  for (int i = 0; i < 12; ++i) storage[static_cast<std::size_t>(i)] = i;
  const matrix_view<int> view(storage.data(), 3, 3, 4);  // 3x3 inside a 3x4 buffer
  REQUIRE(view.rows() == 3);
  REQUIRE(view.cols() == 3);
  REQUIRE(view(0, 0) == 0);
  REQUIRE(view(1, 0) == 4);
  REQUIRE(view(2, 2) == 10);
  REQUIRE(view.row(1).size() == 3);
  REQUIRE(view.row(1)[2] == 6);
  view(2, 1) = 99;
  REQUIRE(storage[9] == 99);

  const auto middle = view.middle_rows(1, 2);
  REQUIRE(middle.rows() == 2);
  REQUIRE(middle(0, 0) == 4);
  REQUIRE(middle(1, 1) == 99);

  const const_matrix_view<int> read_only = view;  // mutable converts to const
  REQUIRE(read_only(1, 1) == 5);
  STATIC_REQUIRE(std::is_convertible_v<matrix_view<int>, const_matrix_view<int>>);
  STATIC_REQUIRE(!std::is_convertible_v<const_matrix_view<int>, matrix_view<int>>);
  STATIC_REQUIRE(std::is_trivially_copyable_v<matrix_view<float>>);
}

TEST_CASE("matrix_view::validate rejects inconsistent shapes with the argument's name") {
  std::array<float, 8> storage{};
  REQUIRE_NOTHROW(matrix_view<float>(storage.data(), 2, 4).validate("logits"));
  REQUIRE_NOTHROW(matrix_view<float>(nullptr, 0, 4).validate("logits"));
  REQUIRE_INVALID_ARGUMENT("logits.row_stride() = 3 violates row_stride >= cols (cols = 4)", matrix_view<float>(storage.data(), 2, 4, 3).validate("logits"));
  REQUIRE_INVALID_ARGUMENT("q.rows() = -1 violates rows >= 0", matrix_view<float>(storage.data(), -1, 4).validate("q"));
  REQUIRE_INVALID_ARGUMENT("non-null", matrix_view<float>(nullptr, 2, 4).validate("q"));
}
