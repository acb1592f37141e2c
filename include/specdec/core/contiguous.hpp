//! Concepts for the contiguous ranges host APIs take as outputs, so `std::vector`, `std::array` and
//! `std::span` all work where a function writes a flat array.
#pragma once

#include <concepts>
#include <cstdint>
#include <ranges>
#include <span>
#include <type_traits>

namespace specdec {
inline namespace v0 {

//! A contiguous, sized range whose elements can be written: `std::vector<T>`, `std::array<T, N>`,
//! `std::span<T>`, a C array.
template <class R>
concept writable_contiguous_range =
    std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;

//! A writable contiguous range of `T`.
template <class R, class T>
concept writable_contiguous_range_of = writable_contiguous_range<R> && std::same_as<std::ranges::range_value_t<R>, T>;

//! The index types engines use for flattened layouts (paths, links, rows, accept indices): int32 for
//! TensorRT-LLM, FlashInfer and SGLang, int64 for PyTorch-side buffers (vLLM, Medusa, EAGLE).
template <class T>
concept layout_index = std::same_as<T, std::int32_t> || std::same_as<T, std::int64_t>;

//! A writable contiguous range of a `layout_index` type.
template <class R>
concept layout_index_output = writable_contiguous_range<R> && layout_index<std::ranges::range_value_t<R>>;

//! A contiguous, sized range of a `layout_index` type, read only (engines' parent lists, links, accept
//! indices).
template <class R>
concept layout_index_input = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                             layout_index<std::ranges::range_value_t<R>>;

//! The span over a contiguous range.
template <std::ranges::contiguous_range R>
  requires std::ranges::sized_range<R>
[[nodiscard]] constexpr auto as_span(R&& range) noexcept {
  return std::span<std::remove_reference_t<std::ranges::range_reference_t<R>>>(std::ranges::data(range), std::ranges::size(range));
}

} // namespace v0
} // namespace specdec
