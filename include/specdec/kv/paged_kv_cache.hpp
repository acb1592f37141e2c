//! A paged KV cache (fixed-size blocks, a block table per request), and the application of keep-lists
//! to it.
#pragma once

#include <cstdint>
#include <limits>
#include <initializer_list>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/ragged.hpp"
#include "specdec/core/types.hpp"
#include "specdec/kv/detail/token_slice.hpp"
#include "specdec/kv/kv_axis.hpp"
#include "specdec/kv/keep_list.hpp"

namespace specdec {
inline namespace v0 {

//! The physical slot of logical position `position` of a request whose blocks are `block_table`:
//! `block_table[position / block_size] * block_size + position % block_size` (vLLM's slot mapping).
//! Throws when the position lies beyond the table or the table names a negative block. O(1).
[[nodiscard]] inline index_t physical_slot(std::span<const std::int32_t> block_table, index_t block_size, index_t position) {
  expects(block_size >= 1, "block_size", block_size, ">= 1");
  expects(position >= 0 && position / block_size < static_cast<index_t>(block_table.size()), "position", position,
          "a logical position covered by the block table (position / block_size < block_table.size())");
  const std::int32_t block = block_table[static_cast<std::size_t>(position / block_size)];
  expects_element(block >= 0, "block_table", position / block_size, block, ">= 0");
  // block * block_size + (block_size - 1) must fit index_t.
  expects_element(block < std::numeric_limits<index_t>::max() / block_size, "block_table", position / block_size, block,
                  "a block whose slots fit index_t (block < 2^63 / block_size)");
  return static_cast<index_t>(block) * block_size + position % block_size;
}

//! A non-owning view of a paged KV cache of element type `T` with `num_blocks` blocks of `block_size`
//! slots: slot `s` (block `s / block_size`, offset `s % block_size`) starts at
//! `data + (s / block_size) * block_stride + (s % block_size) * slot_stride`, and the remaining axes
//! address the slot's elements. vLLM's `[blocks][block_size][heads][dim]` is `block_stride =
//! block_size * heads * dim`, `slot_stride = heads * dim`, axes `{heads, dim}, {dim, 1}`; FlashInfer's
//! HND `[blocks][heads][block_size][dim]` is `slot_stride = dim`, axes `{heads, block_size * dim}, {dim, 1}`.
template <class T>
class paged_kv_cache {
public:
  paged_kv_cache(T* data, index_t num_blocks, index_t block_size, index_t block_stride, index_t slot_stride,
                 std::span<const kv_axis> axes)
      : data_(data), num_blocks_(num_blocks), block_size_(block_size), block_stride_(block_stride),
        slot_stride_(slot_stride), axes_(axes) {
    expects(num_blocks >= 0, "num_blocks", num_blocks, ">= 0");
    expects(block_size >= 1, "block_size", block_size, ">= 1");
    expects(block_stride >= 0 && slot_stride >= 0, "block_stride", block_stride, ">= 0 (and slot_stride >= 0)");
    expects(data != nullptr || num_blocks == 0, "data", "nullptr", "a non-null pointer for a non-empty cache");
  }
  paged_kv_cache(T* data, index_t num_blocks, index_t block_size, index_t block_stride, index_t slot_stride,
                 std::initializer_list<kv_axis> axes)
      : paged_kv_cache(data, num_blocks, block_size, block_stride, slot_stride,
                       std::span<const kv_axis>(axes.begin(), axes.size())) {}

  [[nodiscard]] index_t num_blocks() const noexcept { return num_blocks_; }
  [[nodiscard]] index_t block_size() const noexcept { return block_size_; }
  //! The first element of physical slot `slot` (unchecked).
  [[nodiscard]] T* slot(index_t slot) const noexcept {
    return data_ + (slot / block_size_) * block_stride_ + (slot % block_size_) * slot_stride_;
  }
  //! The non-sequence axes, as given to the constructor.
  [[nodiscard]] std::span<const kv_axis> axes() const noexcept { return axes_.axes(); }
  //! Copies the whole slice (every element addressed by the axes) at `src` to the slice at `dst`.
  void copy_slice(T* dst, const T* src) const noexcept { axes_.copy(dst, src); }

private:
  T* data_;
  index_t num_blocks_;
  index_t block_size_;
  index_t block_stride_;
  index_t slot_stride_;
  detail::token_slice_axes axes_;
};

//! Throws unless a keep-list (logical positions of one request) can be applied to a paged cache through
//! the request's block table: keep-list order, positions covered by the table, blocks in
//! `[0, num_blocks)`. O(moves).
template <class T>
void check_keep_list(std::span<const kv_move> moves, std::span<const std::int32_t> block_table, const paged_kv_cache<T>& cache) {
  detail::check_moves(moves);
  for (const kv_move& move : moves) {
    for (const index_t position : {move.src, move.dst}) {
      const index_t slot = physical_slot(block_table, cache.block_size(), position);
      expects(slot / cache.block_size() < cache.num_blocks(), "block of position", position, "a block id < num_blocks");
    }
  }
}

//! Applies a keep-list through the request's block table (after `check_keep_list`). The block table must
//! not map two logical blocks to one physical block (engines never do); that is not checked.
template <class T>
void apply_keep_list(std::span<const kv_move> moves, std::span<const std::int32_t> block_table, const paged_kv_cache<T>& cache) {
  check_keep_list(moves, block_table, cache);
  for (const kv_move& move : moves) {
    cache.copy_slice(cache.slot(physical_slot(block_table, cache.block_size(), move.dst)),
                      cache.slot(physical_slot(block_table, cache.block_size(), move.src)));
  }
}

//! The batched form: request `b`'s moves are `moves[move_offsets[b], move_offsets[b + 1])` and its block
//! table is row `b` of `block_tables` (`[batch, max_blocks]`, vLLM's layout). Equal to
//! `apply_keep_list` request by request, except that every request is checked before any is applied.
template <class T>
void apply_keep_list(std::span<const kv_move> moves, std::span<const std::int32_t> move_offsets,
                     const_matrix_view<std::int32_t> block_tables, const paged_kv_cache<T>& cache) {
  const ragged_offsets offsets(move_offsets);
  offsets.validate("move_offsets");
  block_tables.validate("block_tables");
  expects(offsets.total_size() <= static_cast<index_t>(moves.size()), "moves.size()", moves.size(),
          ">= move_offsets[batch_size]");
  expects(block_tables.rows() >= offsets.batch_size(), "block_tables.rows()", block_tables.rows(), ">= batch_size");
  const auto request_moves = [&](index_t b) {
    return moves.subspan(static_cast<std::size_t>(offsets.begin(b)), static_cast<std::size_t>(offsets.size(b)));
  };
  // Every request is checked before any is applied: a bad request leaves the whole cache untouched.
  for (index_t b = 0; b < offsets.batch_size(); ++b) check_keep_list(request_moves(b), block_tables.row(b), cache);
  for (index_t b = 0; b < offsets.batch_size(); ++b) apply_keep_list(request_moves(b), block_tables.row(b), cache);
}

} // namespace v0
} // namespace specdec
