// The safetensors reader: header parsing (nlohmann-json) and validation.
#include "safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include <specdec/core/error.hpp>

namespace llama {

namespace {

// Bytes per element of the dtypes the format defines.
std::int64_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, std::int64_t> sizes{{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                                                         {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
                                                         {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

} // namespace

std::int64_t tensor_info::elements() const noexcept {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

safetensors safetensors::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw specdec::runtime_error("safetensors: cannot open '" + path + "'");
  const std::streamoff size = in.tellg();
  std::vector<std::byte> bytes(static_cast<std::size_t>(std::max<std::streamoff>(size, 0)));
  in.seekg(0);
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw specdec::runtime_error("safetensors: cannot read '" + path + "'");
  }
  return from_bytes(bytes, path);
}

safetensors safetensors::from_bytes(std::span<const std::byte> bytes, const std::string& source) {
  using specdec::expects;
  expects(bytes.size() >= 8, source + ": file size", bytes.size(), ">= 8 bytes (the header length): the file is truncated");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);  // little-endian
  expects(n <= bytes.size() - 8, source + ": header length", n, "<= file size - 8: the file is truncated or not safetensors");
  expects(n <= (std::uint64_t{100} << 20), source + ": header length", n, "<= 100 MiB");
  const std::string text(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<std::size_t>(n));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // syntax errors, and numbers out of range (406)
    throw specdec::invalid_argument(source + ": header is not JSON (" + e.what() + ")");
  }
  expects(header.is_object(), source + ": header", header.type_name(), "a JSON object");
  safetensors f;
  f.source_ = source;
  const std::uint64_t data_size = bytes.size() - 8 - n;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      expects(entry.is_object(), source + ": __metadata__", entry.type_name(), "a JSON object of strings");
      for (const auto& [key, value] : entry.items()) {
        expects(value.is_string(), source + ": __metadata__." + key, value.dump(), "a string");
        f.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string field = source + ": tensor '" + name + "'";
    expects(entry.is_object(), field, entry.dump(), "an object with dtype, shape and data_offsets");
    expects(entry.contains("dtype") && entry["dtype"].is_string(), field + " dtype", entry.value("dtype", nlohmann::json()).dump(),
            "a dtype string");
    tensor_info t;
    t.dtype = entry["dtype"].get<std::string>();
    const std::int64_t element = dtype_size(t.dtype);
    expects(element > 0, field + " dtype", t.dtype, "one of F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2");
    expects(entry.contains("shape") && entry["shape"].is_array(), field + " shape", entry.value("shape", nlohmann::json()).dump(),
            "an array of dimensions");
    std::int64_t elements = 1;
    for (const auto& d : entry["shape"]) {
      expects(d.is_number_integer() && d.get<std::int64_t>() >= 0 && d.get<std::int64_t>() <= (std::int64_t{1} << 40), field + " shape",
              entry["shape"].dump(), "non-negative integer dimensions (each <= 2^40)");
      t.shape.push_back(d.get<std::int64_t>());
      expects(t.shape.back() == 0 || elements <= std::numeric_limits<std::int64_t>::max() / 16 / t.shape.back(), field + " shape",
              entry["shape"].dump(), "a tensor of fewer than 2^59 elements");
      elements *= t.shape.back();
    }
    const auto& offsets = entry.contains("data_offsets") ? entry["data_offsets"] : nlohmann::json();
    expects(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
            field + " data_offsets", offsets.dump(), "[begin, end], two non-negative integers");
    t.begin = offsets[0].get<std::uint64_t>();
    t.end = offsets[1].get<std::uint64_t>();
    expects(t.begin <= t.end, field + " data_offsets", offsets.dump(), "begin <= end");
    expects(t.end <= data_size, field + " data_offsets", offsets.dump(),
            "within the " + std::to_string(data_size) + " data bytes after the header: the file is truncated");
    expects(t.end - t.begin == static_cast<std::uint64_t>(elements * element), field + " data_offsets", offsets.dump(),
            "a range of " + std::to_string(elements * element) + " bytes (shape " + shape_text(t.shape) + " of " + t.dtype + ")");
    f.tensors_.emplace(name, std::move(t));
  }
  // The ranges tile the data exactly: sorted by begin, each starts where the previous ended.
  std::vector<std::pair<std::uint64_t, std::string>> order;
  for (const auto& [name, t] : f.tensors_) order.emplace_back(t.begin, name);
  std::sort(order.begin(), order.end());
  std::uint64_t at = 0;
  for (const auto& [begin, name] : order) {
    const tensor_info& t = f.tensors_.at(name);
    expects(begin == at, source + ": tensor '" + name + "' data_offsets", begin,
            begin < at ? "not overlapping another tensor's bytes (begins at " + std::to_string(at) + " or later)"
                       : "contiguous with the tensor before it (begins at " + std::to_string(at) + "): a gap in the data");
    at = t.end;
  }
  expects(at == data_size, source + ": data size", data_size,
          "== the end of the last tensor (" + std::to_string(at) + "): trailing bytes after the tensors");
  f.data_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(8 + n), bytes.end());
  return f;
}

const tensor_info& safetensors::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  specdec::expects(it != tensors_.end(), source_ + ": tensor", name, "present in the file");
  return it->second;
}

std::vector<float> safetensors::f32(const std::string& name, std::initializer_list<std::int64_t> shape) const {
  const tensor_info& t = info(name);
  specdec::expects(t.dtype == "F32", source_ + ": tensor '" + name + "' dtype", t.dtype, "F32");
  const std::vector<std::int64_t> want(shape);
  specdec::expects(t.shape == want, source_ + ": tensor '" + name + "' shape", shape_text(t.shape), "== " + shape_text(want));
  std::vector<float> out(static_cast<std::size_t>(t.elements()));
  // The data is little-endian float32; so is every host this builds for (x86-64, AArch64).
  static_assert(sizeof(float) == 4);
  if (!out.empty()) std::memcpy(out.data(), data_.data() + t.begin, out.size() * sizeof(float));
  for (std::size_t i = 0; i < out.size(); ++i) {
    specdec::expects_element(std::isfinite(out[i]), source_ + ": tensor '" + name + "'", i, out[i], "finite float32 values");
  }
  return out;
}

const std::string& safetensors::meta(const std::string& key) const {
  const auto it = metadata_.find(key);
  specdec::expects(it != metadata_.end(), source_ + ": __metadata__ key", key, "present in the file");
  return it->second;
}

std::int64_t safetensors::meta_int(const std::string& key, std::int64_t lo, std::int64_t hi) const {
  const std::string& text = meta(key);
  std::int64_t value = 0;
  std::size_t used = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  specdec::expects(used == text.size() && !text.empty() && value >= lo && value <= hi, source_ + ": __metadata__." + key, text,
                   "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return value;
}

} // namespace llama
