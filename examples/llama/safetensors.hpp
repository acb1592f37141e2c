//! A reader of safetensors files (the format head checkpoints ship in: an 8-byte little-endian header
//! length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian
//! tensor data), with every field validated: a truncated or corrupt file is an error naming the field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <specdec/core/types.hpp>

namespace llama {

//! One tensor's header entry: dtype ("F32", "BF16", ...), shape, and its byte range [begin, end)
//! within the data that follows the header.
struct tensor_info {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  [[nodiscard]] std::int64_t elements() const noexcept;
};

class safetensors {
public:
  //! Reads and validates `path`. Throws `specdec::runtime_error` when it cannot be read and
  //! `specdec::invalid_argument` naming the field for anything malformed: a file shorter than its
  //! header length, a header that is not a JSON object, an unknown dtype, a negative or non-integer
  //! shape, data offsets that are reversed, out of the data, of a size other than
  //! elements x dtype size, overlapping or leaving gaps (as the reference implementation requires),
  //! and `__metadata__` values that are not strings.
  static safetensors load(const std::string& path);
  static safetensors from_bytes(std::span<const std::byte> bytes, const std::string& source = "safetensors");

  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] const std::map<std::string, tensor_info>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  [[nodiscard]] bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

  //! The entry of `name`; `specdec::invalid_argument` naming it when the file has no such tensor.
  [[nodiscard]] const tensor_info& info(const std::string& name) const;
  //! The float32 values of `name`, checked to have dtype F32 and exactly `shape`.
  [[nodiscard]] std::vector<float> f32(const std::string& name, std::initializer_list<std::int64_t> shape) const;
  //! `__metadata__[key]`; `specdec::invalid_argument` naming the key when absent.
  [[nodiscard]] const std::string& meta(const std::string& key) const;
  //! `__metadata__[key]` as an integer in [lo, hi]; `specdec::invalid_argument` naming the key otherwise.
  [[nodiscard]] std::int64_t meta_int(const std::string& key, std::int64_t lo, std::int64_t hi) const;

private:
  std::string source_;
  std::map<std::string, tensor_info> tensors_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::byte> data_;
};

} // namespace llama
