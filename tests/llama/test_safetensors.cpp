// The safetensors reader on synthetic files: a valid file reads back exactly; truncated, corrupt and
// inconsistent files are errors that name the field.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <specdec/core/error.hpp>

#include "safetensors.hpp"
#include "support/catch.hpp"

namespace {

// A file of `header` (JSON text) followed by `data`; `declared` overrides the header length.
std::vector<std::byte> file(const std::string& header, const std::vector<float>& data, std::int64_t declared = -1) {
  const std::uint64_t n = declared < 0 ? header.size() : static_cast<std::uint64_t>(declared);
  std::vector<std::byte> bytes(8 + header.size() + 4 * data.size());
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(bytes.data() + 8 + header.size(), data.data(), 4 * data.size());
  return bytes;
}

const std::string good =
    R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
    R"("__metadata__":{"kind":"medusa","depth":"5"}})";
const std::vector<float> values{1, 2, 3, 4, 5, 6, -7.5f, 8.25f};

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    (void)llama::safetensors::from_bytes(bytes, "f.safetensors");
  } catch (const specdec::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

} // namespace

TEST_CASE("safetensors: a valid file reads back its tensors, shapes and metadata") {
  const llama::safetensors f = llama::safetensors::from_bytes(file(good, values), "f.safetensors");
  CHECK(f.tensors().size() == 2);
  CHECK(f.f32("a", {2, 3}) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(f.f32("b", {2}) == std::vector<float>{-7.5f, 8.25f});
  CHECK(f.meta("kind") == "medusa");
  CHECK(f.meta_int("depth", 1, 8) == 5);
  CHECK(f.info("a").elements() == 6);
}

TEST_CASE("safetensors: wrong requests name the tensor, the shape or the key") {
  const llama::safetensors f = llama::safetensors::from_bytes(file(good, values), "f.safetensors");
  CHECK_THROWS_WITH(f.f32("c", {2}), contains_text("tensor") && contains_text("c"));
  CHECK_THROWS_WITH(f.f32("a", {3, 2}), contains_text("'a' shape") && contains_text("[2, 3]"));
  CHECK_THROWS_WITH(f.meta("seed"), contains_text("seed"));
  CHECK_THROWS_WITH(f.meta_int("depth", 6, 8), contains_text("__metadata__.depth"));
}

TEST_CASE("safetensors: truncated and corrupt files are errors naming the field") {
  CHECK_THROWS_WITH(llama::safetensors::from_bytes(std::vector<std::byte>(5)), contains_text("file size") && contains_text("truncated"));
  // Header length beyond the file.
  CHECK(error_of(file(good, values, 100000)).find("header length") != std::string::npos);
  // Data cut short: the last tensor's range leaves the file.
  std::vector<std::byte> cut = file(good, values);
  cut.resize(cut.size() - 4);
  CHECK(error_of(cut).find("'b' data_offsets") != std::string::npos);
  // Trailing bytes after the tensors.
  std::vector<float> more = values;
  more.push_back(0.0f);
  CHECK(error_of(file(good, more)).find("trailing bytes") != std::string::npos);
  CHECK(error_of(file("{not json", values)).find("not JSON") != std::string::npos);
  // A number JSON cannot hold (nlohmann reports it as out_of_range, not as a parse error; found by fuzzing).
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,8]}})", {1, 2})).find("not JSON") != std::string::npos);
  CHECK(error_of(file("[1, 2]", {})).find("a JSON object") != std::string::npos);
  CHECK(error_of(file(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", {1, 2})).find("'a' dtype") != std::string::npos);
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", {1, 2})).find("'a' shape") != std::string::npos);
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", {1, 2})).find("a range of 12 bytes") != std::string::npos);
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", {1, 2})).find("begin <= end") != std::string::npos);
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", {1, 2})).find("'a' data_offsets") != std::string::npos);
  // Overlapping and gapped ranges.
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", {1, 2}))
            .find("overlapping") != std::string::npos);
  CHECK(error_of(file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", {1, 2})).find("gap") != std::string::npos);
  CHECK(error_of(file(R"({"__metadata__":{"depth":5}})", {})).find("__metadata__.depth") != std::string::npos);
  // A float tensor read as F32 must be F32.
  const llama::safetensors f = llama::safetensors::from_bytes(file(R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", {1, 2}));
  CHECK_THROWS_WITH(f.f32("a", {2}), contains_text("'a' dtype") && contains_text("I32"));
}
