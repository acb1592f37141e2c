//! Verify inputs through every rule: random trees (chains or not, duplicate siblings or not), logits
//! rows with NaN / +-inf, malformed or valid q, sampling parameters in and out of range, stop tokens.
//! Contract: either `specdec::invalid_argument`, or a result whose path is a root path of the tree,
//! whose tokens are the path's drafts then at most one more token in the vocabulary, with as many
//! log-probabilities (none NaN or positive), per-depth flags consistent with the path, and `stopped`
//! exactly when the last token is a stop token.
#include <fuzzer/FuzzedDataProvider.h>

#include <specdec/specdec.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "fuzz_support.hpp"

namespace {

float logit(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return std::numeric_limits<float>::quiet_NaN();
    case 1: return std::numeric_limits<float>::infinity();
    case 2:
    case 3: return -std::numeric_limits<float>::infinity();
    case 4: return in.ConsumeFloatingPoint<float>();
    default: return in.ConsumeFloatingPointInRange<float>(-8.0f, 8.0f);
  }
}

void check_result(const specdec::verify_input& in, const specdec::verify_result& r) {
  const specdec::index_t vocab = in.target_logits.cols();
  FUZZ_REQUIRE(!r.path.empty() && r.path[0] == 0, "the path starts at the root");
  for (std::size_t d = 1; d < r.path.size(); ++d) {
    FUZZ_REQUIRE(r.path[d] > 0 && r.path[d] < in.tree.size() && in.tree.parent(r.path[d]) == r.path[d - 1], "a root path");
    FUZZ_REQUIRE(r.tokens.size() >= d && r.tokens[d - 1] == in.tree.token(r.path[d]), "tokens start with the path's drafts");
  }
  const auto accepted = r.path.size() - 1;
  FUZZ_REQUIRE(r.tokens.size() == accepted + 1 || (r.stopped && r.tokens.size() == accepted && accepted > 0),
               "the drafts and one more token, unless a draft stopped emission");
  FUZZ_REQUIRE(r.logprobs.size() == r.tokens.size(), "one log-probability per token");
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    FUZZ_REQUIRE(r.tokens[i] >= 0 && r.tokens[i] < vocab, "tokens in the vocabulary");
    FUZZ_REQUIRE(!std::isnan(r.logprobs[i]) && r.logprobs[i] <= 1e-5f, "log-probabilities are <= 0");
  }
  const bool is_stop = std::find(in.stop_tokens.begin(), in.stop_tokens.end(), r.tokens.back()) != in.stop_tokens.end();
  FUZZ_REQUIRE(r.stopped == is_stop, "stopped exactly when the last token is a stop token");
  for (std::size_t i = 0; i + 1 < r.tokens.size(); ++i) {
    FUZZ_REQUIRE(std::find(in.stop_tokens.begin(), in.stop_tokens.end(), r.tokens[i]) == in.stop_tokens.end(),
                 "emission ends at the first stop token");
  }
  FUZZ_REQUIRE(r.depth_accepted.size() == accepted || r.depth_accepted.size() == accepted + 1, "one flag per judged depth");
  for (std::size_t d = 0; d < r.depth_accepted.size(); ++d) {
    FUZZ_REQUIRE(r.depth_accepted[d] == (d < accepted ? 1 : 0), "flags: 1 along the path, then at most one 0");
  }
}

template <class Verifier>
void run(Verifier& verifier, const specdec::verify_input& in) {
  specdec::verify_result result;
  if (completes([&] { verifier.verify(in, result); })) check_result(in, result);
  // A verifier stays usable after a rejected input: the same call again gives the same outcome.
  specdec::verify_result again;
  if (completes([&] { verifier.verify(in, again); })) {
    FUZZ_REQUIRE(again.tokens == result.tokens && again.path == result.path, "deterministic for the same input");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto vocab = in.ConsumeIntegralInRange<specdec::index_t>(1, 8);
  const bool chain = in.ConsumeBool();
  specdec::token_tree tree(in.ConsumeIntegralInRange<specdec::token_id>(0, static_cast<specdec::token_id>(vocab)));  // may be out of range
  const int nodes = in.ConsumeIntegralInRange<int>(1, 12);
  for (int i = 1; i < nodes; ++i) {
    const auto parent = chain ? i - 1 : in.ConsumeIntegralInRange<std::int32_t>(0, i - 1);
    tree.add_child(parent, in.ConsumeIntegralInRange<specdec::token_id>(0, static_cast<specdec::token_id>(vocab - 1)));
  }
  const auto rows = tree.size() - in.ConsumeIntegralInRange<specdec::index_t>(0, 1) * (in.ConsumeIntegralInRange<int>(0, 7) == 0 ? 1 : 0);
  std::vector<float> logits(static_cast<std::size_t>(std::max<specdec::index_t>(rows, 0) * vocab));
  for (float& x : logits) x = in.ConsumeIntegralInRange<int>(0, 31) == 0 ? logit(in) : in.ConsumeFloatingPointInRange<float>(-6.0f, 6.0f);

  // q: a valid distribution per row (the normalised exponentials of random values), sometimes broken.
  std::vector<float> q(static_cast<std::size_t>(tree.size() * vocab));
  for (specdec::index_t r = 0; r < tree.size(); ++r) {
    double sum = 0.0;
    for (specdec::index_t t = 0; t < vocab; ++t) sum += q[static_cast<std::size_t>(r * vocab + t)] = std::exp(in.ConsumeFloatingPointInRange<float>(-4.0f, 4.0f));
    for (specdec::index_t t = 0; t < vocab; ++t) q[static_cast<std::size_t>(r * vocab + t)] = static_cast<float>(q[static_cast<std::size_t>(r * vocab + t)] / sum);
  }
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0 && !q.empty()) q[in.ConsumeIntegralInRange<std::size_t>(0, q.size() - 1)] = logit(in);
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0 && !q.empty()) q[in.ConsumeIntegralInRange<std::size_t>(0, q.size() - 1)] *= 4.0f;

  specdec::sampling_params params;
  const int kind = in.ConsumeIntegralInRange<int>(0, 7);
  params.temperature = kind == 0 ? 0.0f : (kind == 1 ? in.ConsumeFloatingPoint<float>() : in.ConsumeFloatingPointInRange<float>(1e-6f, 3.0f));
  if (in.ConsumeBool()) params.top_k = in.ConsumeIntegralInRange<std::int32_t>(-2, 9);
  if (in.ConsumeBool()) params.top_p = in.ConsumeFloatingPointInRange<float>(-0.1f, 1.1f);
  if (in.ConsumeBool()) params.min_p = in.ConsumeFloatingPointInRange<float>(-0.1f, 1.1f);
  std::vector<specdec::token_id> stops;
  for (int i = in.ConsumeIntegralInRange<int>(0, 2); i > 0; --i) stops.push_back(in.ConsumeIntegralInRange<specdec::token_id>(-1, static_cast<specdec::token_id>(vocab)));

  specdec::verify_input input;
  input.tree = tree;
  input.target_logits = specdec::const_matrix_view<float>(logits.data(), rows, vocab);
  input.draft_probs = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? specdec::const_matrix_view<float>{}
                                                                  : specdec::const_matrix_view<float>(q.data(), tree.size(), vocab);
  input.params = params;
  input.address = specdec::random_address{in.ConsumeIntegral<std::uint64_t>(), in.ConsumeIntegral<std::uint32_t>(), in.ConsumeIntegral<std::uint32_t>(), 0,
                                          specdec::purpose::accept};
  input.stop_tokens = stops;

  static specdec::greedy_verifier greedy;
  static specdec::chain_verifier chain_rule;
  static specdec::block_verifier block;
  static specdec::one_hot_verifier one_hot;
  static specdec::multi_draft_verifier multi;
  static specdec::rrs_verifier rrs;
  static specdec::lossy_typical_acceptance_verifier typical;
  run(greedy, input);
  run(chain_rule, input);
  run(block, input);
  run(one_hot, input);
  run(multi, input);
  run(rrs, input);
  run(typical, input);
  return 0;
}
