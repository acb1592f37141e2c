#include <specdec/core/philox.hpp>

#include <set>

#include "support/catch.hpp"

using specdec::philox4x32_10;
using specdec::philox_key;
using specdec::philox_words;

// Known answers from Random123's tests/kat_vectors (philox4x32 10 rounds): counter, key -> result.
TEST_CASE("philox4x32_10 reproduces Random123's known-answer vectors") {
  STATIC_REQUIRE(philox4x32_10(philox_words{{0, 0, 0, 0}}, philox_key{{0, 0}}) ==
                 philox_words{{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
  REQUIRE(philox4x32_10(philox_words{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
                        philox_key{{0xffffffffu, 0xffffffffu}}) ==
          philox_words{{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
  REQUIRE(philox4x32_10(philox_words{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                        philox_key{{0xa4093822u, 0x299f31d0u}}) ==
          philox_words{{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST_CASE("random_address lays out key and counter as documented") {
  specdec::random_address address;
  address.seed = 0x0123456789abcdefull;
  address.request = 7;
  address.step = 11;
  address = address.at(300, specdec::purpose::residual);

  const philox_key key = address.key();
  REQUIRE(key.k[0] == 0x89abcdefu);  // low word of the seed first
  REQUIRE(key.k[1] == 0x01234567u);
  const philox_words counter = address.counter(5);
  REQUIRE(counter.w[0] == 7u);
  REQUIRE(counter.w[1] == 11u);
  REQUIRE(counter.w[2] == ((300u << 8) | 0x81u));
  REQUIRE(counter.w[3] == 5u);
  REQUIRE(address.block(5) == philox4x32_10(counter, key));
  // Entry i reads word i % 4 of block i / 4.
  REQUIRE(address.word(22) == address.block(5).w[2]);
}

TEST_CASE("drafter and verifier purposes are disjoint, and every field changes the draw") {
  using specdec::purpose;
  STATIC_REQUIRE(specdec::is_draft_purpose(purpose::draft_sample));
  STATIC_REQUIRE(!specdec::is_draft_purpose(purpose::accept));
  STATIC_REQUIRE(!specdec::is_draft_purpose(purpose::residual));
  STATIC_REQUIRE(!specdec::is_draft_purpose(purpose::bonus));

  const specdec::random_address base{42, 1, 2, 3, purpose::accept};
  std::set<std::uint32_t> first_words;
  first_words.insert(base.word(0));
  specdec::random_address changed = base;
  changed.seed = 43;
  first_words.insert(changed.word(0));
  changed = base;
  changed.request = 2;
  first_words.insert(changed.word(0));
  changed = base;
  changed.step = 3;
  first_words.insert(changed.word(0));
  first_words.insert(base.at(4, purpose::accept).word(0));
  first_words.insert(base.at(3, purpose::draft_sample).word(0));
  first_words.insert(base.word(4));  // the next block
  REQUIRE(first_words.size() == 7);
}
