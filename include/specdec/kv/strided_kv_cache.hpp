//! A contiguous KV cache seen through strides, and the application of keep-lists to it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/types.hpp"
#include "specdec/kv/detail/token_slice.hpp"
#include "specdec/kv/kv_axis.hpp"
#include "specdec/kv/keep_list.hpp"

namespace specdec {
inline namespace v0 {

//! A non-owning view of one request's contiguous KV cache of element type `T`: the entry at logical
//! position `p` is the slice `data + p * seq_stride + sum over axes of i_a * stride_a`. Any layout whose
//! sequence axis has a fixed stride fits: `[layers][heads][seq][dim]` is `seq_stride = dim` with axes
//! `{layers, heads * capacity * dim}, {heads, capacity * dim}, {dim, 1}`; `[seq][heads][dim]` is
//! `seq_stride = heads * dim` with axes `{heads, dim}, {dim, 1}`. Up to six axes.
template <class T>
class strided_kv_cache {
public:
  //! Views `capacity` positions. Throws for a negative capacity or stride, or more than six axes.
  strided_kv_cache(T* data, index_t capacity, index_t seq_stride, std::span<const kv_axis> axes)
      : data_(data), capacity_(capacity), seq_stride_(seq_stride), axes_(axes) {
    expects(capacity >= 0, "capacity", capacity, ">= 0");
    expects(seq_stride >= 0, "seq_stride", seq_stride, ">= 0");
    expects(data != nullptr || capacity == 0, "data", "nullptr", "a non-null pointer for a non-empty cache");
  }
  strided_kv_cache(T* data, index_t capacity, index_t seq_stride, std::initializer_list<kv_axis> axes)
      : strided_kv_cache(data, capacity, seq_stride, std::span<const kv_axis>(axes.begin(), axes.size())) {}

  [[nodiscard]] index_t capacity() const noexcept { return capacity_; }
  //! The first element of the entry at logical position `position` (unchecked).
  [[nodiscard]] T* entry(index_t position) const noexcept { return data_ + position * seq_stride_; }
  //! The same cache moved by `elements` (another request's cache in a batched tensor).
  [[nodiscard]] strided_kv_cache shifted(index_t elements) const noexcept {
    strided_kv_cache other = *this;
    other.data_ += elements;
    return other;
  }
  //! The non-sequence axes, as given to the constructor.
  [[nodiscard]] std::span<const kv_axis> axes() const noexcept { return axes_.axes(); }
  //! Copies the whole slice (every element addressed by the axes) at `src` to the slice at `dst`.
  void copy_slice(T* dst, const T* src) const noexcept { axes_.copy(dst, src); }

private:
  T* data_;
  index_t capacity_;
  index_t seq_stride_;
  detail::token_slice_axes axes_;
};

//! Throws unless `moves` can be applied to `cache`: keep-list order and sources below the capacity.
template <class T>
void check_keep_list(std::span<const kv_move> moves, const strided_kv_cache<T>& cache) {
  detail::check_moves(moves);
  for (std::size_t k = 0; k < moves.size(); ++k) {
    expects_element(moves[k].src < cache.capacity(), "moves src", k, moves[k].src, "< cache capacity");
  }
}

//! Applies a keep-list (in its order) to a contiguous cache: each move copies the whole entry (every
//! layer, head and dimension) at `src` to `dst`. Checks every move before touching the cache: positions
//! in `[0, capacity)`, keep-list order (`dst < src`, sources increasing). O(moves * entry size).
template <class T>
void apply_keep_list(std::span<const kv_move> moves, const strided_kv_cache<T>& cache) {
  check_keep_list(moves, cache);
  for (const kv_move& move : moves) cache.copy_slice(cache.entry(move.dst), cache.entry(move.src));
}

//! The batched form: request `b`'s cache is `cache` shifted by `b * batch_stride` elements and its
//! moves are `moves[move_offsets[b], move_offsets[b + 1])` (as the batched `keep_list` writes them).
//! Equal to `apply_keep_list` request by request, except that every request is checked before any is
//! applied.
template <class T>
void apply_keep_list(std::span<const kv_move> moves, std::span<const std::int32_t> move_offsets,
                     const strided_kv_cache<T>& cache, index_t batch_stride) {
  const ragged_offsets offsets(move_offsets);
  offsets.validate("move_offsets");
  expects(offsets.total_size() <= static_cast<index_t>(moves.size()), "moves.size()", moves.size(),
          ">= move_offsets[batch_size]");
  expects(batch_stride >= 0, "batch_stride", batch_stride, ">= 0");
  const auto request_moves = [&](index_t b) {
    return moves.subspan(static_cast<std::size_t>(offsets.begin(b)), static_cast<std::size_t>(offsets.size(b)));
  };
  // Every request is checked before any is applied: a bad request leaves the whole cache untouched.
  for (index_t b = 0; b < offsets.batch_size(); ++b) check_keep_list(request_moves(b), cache.shifted(b * batch_stride));
  for (index_t b = 0; b < offsets.batch_size(); ++b) apply_keep_list(request_moves(b), cache.shifted(b * batch_stride));
}

} // namespace v0
} // namespace specdec
