#include <specdec/core/ragged.hpp>

#include <array>
#include <vector>

#include "support/catch.hpp"

TEST_CASE("ragged_offsets splits a flat array into segments") {
  const std::array<std::int32_t, 4> offsets{0, 3, 3, 7};
  const specdec::ragged_offsets batch(offsets);
  REQUIRE_NOTHROW(batch.validate("offsets"));
  REQUIRE(batch.batch_size() == 3);
  REQUIRE(batch.begin(0) == 0);
  REQUIRE(batch.size(0) == 3);
  REQUIRE(batch.size(1) == 0);  // empty segments are allowed
  REQUIRE(batch.begin(2) == 3);
  REQUIRE(batch.end(2) == 7);
  REQUIRE(batch.total_size() == 7);
}

TEST_CASE("ragged_offsets::validate rejects malformed offsets") {
  const std::vector<std::int32_t> not_from_zero{1, 3};
  const std::vector<std::int32_t> decreasing{0, 4, 2};
  const std::vector<std::int32_t> none;
  REQUIRE_INVALID_ARGUMENT("offsets[0] = 1", specdec::ragged_offsets(not_from_zero).validate("offsets"));
  REQUIRE_INVALID_ARGUMENT("offsets[2] = 2 violates non-decreasing", specdec::ragged_offsets(decreasing).validate("offsets"));
  REQUIRE_INVALID_ARGUMENT("at least one offset", specdec::ragged_offsets(none).validate("offsets"));
  REQUIRE(specdec::ragged_offsets(none).batch_size() == 0);
}
