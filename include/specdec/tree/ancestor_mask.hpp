//! The tree attention mask (node i attends to node j iff j is i or an ancestor of i) in the three
//! layouts engines take: dense bool, TensorRT-LLM's packed 32-bit words, FlashInfer's bit-packed
//! custom mask over context + tree.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/types.hpp"
#include "specdec/tree/detail/tree_shape.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"
#include "specdec/tree/tree_layout_sizes.hpp"

namespace specdec {
inline namespace v0 {

namespace detail {

// Sets bits [first, first + count) of a little-bit-order byte stream (bit b lives in byte b / 8 at
// bit b % 8): the partial head and tail bytes bit by bit, whole bytes in between at once.
inline void set_bit_run(std::uint8_t* bits, index_t first, index_t count) noexcept {
  index_t b = first;
  const index_t end = first + count;
  for (; b < end && (b & 7) != 0; ++b) bits[b >> 3] = static_cast<std::uint8_t>(bits[b >> 3] | (1u << (b & 7)));
  const index_t whole_bytes = (end - b) >> 3;
  if (whole_bytes > 0) {
    std::memset(bits + (b >> 3), 0xff, static_cast<std::size_t>(whole_bytes));
    b += whole_bytes << 3;
  }
  for (; b < end; ++b) bits[b >> 3] = static_cast<std::uint8_t>(bits[b >> 3] | (1u << (b & 7)));
}

inline void check_batch_inputs(const token_tree_batch_view& batch) { batch.offsets().validate("tree_offsets"); }

} // namespace detail

//! Dense ancestor mask: `mask(i, j) = true` iff node `j` is node `i` or one of its ancestors, for
//! `i, j < N`; columns `[N, mask.cols())` of the first `N` rows are cleared, other rows untouched.
//! `mask` must be at least `[N, N]`. O(N * cols + sum of depths).
inline void ancestor_mask_dense(const token_tree_view& tree, matrix_view<bool> mask) {
  detail::check_tree_shape(tree);
  mask.validate("mask");
  expects(mask.rows() >= tree.size(), "mask.rows()", mask.rows(), ">= tree.size()");
  expects(mask.cols() >= tree.size(), "mask.cols()", mask.cols(), ">= tree.size()");
  for (index_t i = 0; i < tree.size(); ++i) {
    bool* row = mask.row_data(i);
    std::memset(row, 0, static_cast<std::size_t>(mask.cols()) * sizeof(bool));
    for (index_t j = i; j >= 0; j = tree.parent(j)) row[j] = true;
  }
}

//! TensorRT-LLM's packed mask (`spec_decoding_packed_mask`): row `i` is `ceil(N / 32)` 32-bit words,
//! bit `j % 32` (least significant first) of word `j / 32` set iff node `j` is `i` or an ancestor of
//! `i`. Every word of the first `N` rows, up to `mask.cols()`, is written. `mask` must be at least
//! `[N, ceil(N / 32)]`. O(N * cols + sum of depths).
inline void ancestor_mask_packed(const token_tree_view& tree, matrix_view<std::uint32_t> mask) {
  detail::check_tree_shape(tree);
  mask.validate("mask");
  expects(mask.rows() >= tree.size(), "mask.rows()", mask.rows(), ">= tree.size()");
  expects(mask.cols() >= (tree.size() + 31) / 32, "mask.cols()", mask.cols(), ">= ceil(tree.size() / 32) words");
  for (index_t i = 0; i < tree.size(); ++i) {
    std::uint32_t* row = mask.row_data(i);
    std::memset(row, 0, static_cast<std::size_t>(mask.cols()) * sizeof(std::uint32_t));
    for (index_t j = i; j >= 0; j = tree.parent(j)) row[j >> 5] |= std::uint32_t{1} << (j & 31);
  }
}

//! FlashInfer's custom mask for one request: the boolean matrix `[N, context + N]` (row `i` = query
//! node `i`; columns = the `context_length` cached tokens, all visible, then the tree nodes, visible
//! iff ancestor-or-self) flattened row-major and packed into bytes like
//! `numpy.packbits(mask.ravel(), bitorder="little")`: element `k` of the flattened matrix is bit `k % 8`
//! of byte `k / 8`. Rows are not byte-aligned; the last byte is zero-padded. Writes exactly
//! `flashinfer_mask_bytes(N, context_length)` bytes; `bits` must hold that many.
//! O(N * (context + N) / 8 + sum of depths).
inline void ancestor_mask_flashinfer(const token_tree_view& tree, index_t context_length, std::span<std::uint8_t> bits) {
  detail::check_tree_shape(tree);
  detail::check_context_length(context_length);
  const index_t bytes = flashinfer_mask_bytes(tree.size(), context_length);
  expects(static_cast<index_t>(bits.size()) >= bytes, "mask_bytes.size()", bits.size(),
          ">= ceil(N * (context_length + N) / 8) (see flashinfer_mask_bytes)");
  std::memset(bits.data(), 0, static_cast<std::size_t>(bytes));
  const index_t row_bits = context_length + tree.size();
  for (index_t i = 0; i < tree.size(); ++i) {
    const index_t row = i * row_bits;  // flattened index of element (i, 0)
    detail::set_bit_run(bits.data(), row, context_length);
    for (index_t j = i; j >= 0; j = tree.parent(j)) {
      const index_t k = row + context_length + j;  // element (i, context + j)
      bits[static_cast<std::size_t>(k >> 3)] = static_cast<std::uint8_t>(bits[static_cast<std::size_t>(k >> 3)] | (1u << (k & 7)));
    }
  }
}

//! The batched dense mask: row `r` of `mask` is flat node `r` of the batch, and its columns are the
//! node indices local to its own tree (the block-diagonal mask with each block moved to column 0).
//! `mask` must be at least `[total nodes, largest tree]`. Equal to `ancestor_mask_dense` tree by tree.
//! Every tree is checked before anything is written (as for all batched flatteners).
inline void ancestor_mask_dense(const token_tree_batch_view& batch, matrix_view<bool> mask) {
  detail::check_batch_inputs(batch);
  expects(mask.rows() >= batch.total_nodes(), "mask.rows()", mask.rows(), ">= total nodes of the batch");
  mask.validate("mask");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      detail::check_tree_shape(batch.tree(b));
      expects(mask.cols() >= batch.offsets().size(b), "mask.cols()", mask.cols(), ">= tree.size()");
    });
  }
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    ancestor_mask_dense(batch.tree(b), mask.middle_rows(batch.offsets().begin(b), batch.offsets().size(b)));
  }
}

//! The batched TensorRT-LLM mask: row `r` is flat node `r`, bits index nodes local to its tree; `mask`
//! must be at least `[total nodes, ceil(largest tree / 32)]`. Equal to `ancestor_mask_packed` tree by tree.
inline void ancestor_mask_packed(const token_tree_batch_view& batch, matrix_view<std::uint32_t> mask) {
  detail::check_batch_inputs(batch);
  expects(mask.rows() >= batch.total_nodes(), "mask.rows()", mask.rows(), ">= total nodes of the batch");
  mask.validate("mask");
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    detail::in_element("trees", b, [&] {
      detail::check_tree_shape(batch.tree(b));
      expects(mask.cols() >= (batch.offsets().size(b) + 31) / 32, "mask.cols()", mask.cols(), ">= ceil(tree.size() / 32) words");
    });
  }
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    ancestor_mask_packed(batch.tree(b), mask.middle_rows(batch.offsets().begin(b), batch.offsets().size(b)));
  }
}

//! The batched FlashInfer mask, as FlashInfer's `segment_packbits(..., bitorder="little")` lays it out:
//! request `b`'s mask is packed on its own into bytes `[mask_offsets[b], mask_offsets[b + 1])`, each
//! segment starting on a byte boundary. Writes `batch_size + 1` offsets (FlashInfer's packed-mask
//! indptr); `bits` must hold `layout_sizes(batch, context_lengths).flashinfer_mask_bytes` bytes.
inline void ancestor_mask_flashinfer(const token_tree_batch_view& batch, std::span<const std::int32_t> context_lengths,
                                     std::span<std::uint8_t> bits, std::span<std::int32_t> mask_offsets) {
  detail::check_batch_inputs(batch);
  expects(static_cast<index_t>(context_lengths.size()) >= batch.batch_size(), "context_lengths.size()",
          context_lengths.size(), ">= batch_size");
  expects(static_cast<index_t>(mask_offsets.size()) >= batch.batch_size() + 1, "mask_offsets.size()",
          mask_offsets.size(), ">= batch_size + 1");
  index_t total = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const std::int32_t context = context_lengths[static_cast<std::size_t>(b)];
    expects_element(context >= 0, "context_lengths", b, context, ">= 0");
    detail::in_element("trees", b, [&] { detail::check_tree_shape(batch.tree(b)); });
    total += flashinfer_mask_bytes(batch.offsets().size(b), context);
  }
  expects(static_cast<index_t>(bits.size()) >= total, "mask_bytes.size()", bits.size(),
          ">= the sum of the per-request packed segments (see layout_sizes)");
  expects(total <= INT32_MAX, "packed mask bytes", total, "< 2^31 (int32 offsets)");
  index_t offset = 0;
  mask_offsets[0] = 0;
  for (index_t b = 0; b < batch.batch_size(); ++b) {
    const std::int32_t context = context_lengths[static_cast<std::size_t>(b)];
    const index_t bytes = flashinfer_mask_bytes(batch.offsets().size(b), context);
    ancestor_mask_flashinfer(batch.tree(b), context, bits.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(bytes)));
    offset += bytes;
    mask_offsets[static_cast<std::size_t>(b + 1)] = static_cast<std::int32_t>(offset);
  }
}

} // namespace v0
} // namespace specdec
