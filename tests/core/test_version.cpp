#include <specdec/version.hpp>

#include <string>

#include "support/catch.hpp"

TEST_CASE("SPECDEC_VERSION agrees with the CMake project version") {
  REQUIRE(std::string(SPECDEC_VERSION_STRING) == SPECDEC_CMAKE_PROJECT_VERSION);
  const std::string from_parts = std::to_string(SPECDEC_VERSION_MAJOR) + "." + std::to_string(SPECDEC_VERSION_MINOR) +
                                 "." + std::to_string(SPECDEC_VERSION_PATCH);
  REQUIRE(from_parts == SPECDEC_VERSION_STRING);
  STATIC_REQUIRE(SPECDEC_VERSION == SPECDEC_VERSION_MAJOR * 10000 + SPECDEC_VERSION_MINOR * 100 + SPECDEC_VERSION_PATCH);
}
