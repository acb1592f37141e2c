#include <specdec/core/error.hpp>

#include <stdexcept>
#include <string>

#include "support/catch.hpp"

TEST_CASE("expects passes silently and throws specdec::invalid_argument naming argument, value, requirement") {
  REQUIRE_NOTHROW(specdec::expects(true, "top_p", 0.5, "0 < top_p <= 1"));
  try {
    specdec::expects(false, "top_p", 1.5, "0 < top_p <= 1");
    FAIL("expects(false, ...) returned");
  } catch (const std::invalid_argument& e) {  // catchable as the standard base type
    REQUIRE(std::string(e.what()) == "specdec: top_p = 1.5 violates 0 < top_p <= 1");
  }
}

TEST_CASE("expects_element names the element, and bytes print as numbers") {
  REQUIRE_INVALID_ARGUMENT("logits[17] = 2.5 violates finite", specdec::expects_element(false, "logits", 17, 2.5f, "finite"));
  REQUIRE_INVALID_ARGUMENT("purpose = 65 violates", specdec::expects(false, "purpose", static_cast<unsigned char>(65), "< 128"));
  REQUIRE_INVALID_ARGUMENT("flag = false violates", specdec::expects(false, "flag", false, "true"));
}
