// specdec demo: every drafter of the library on a toy target, greedy and sampled, in one table.
//
// The target is a Markov model of order 2 over 32 tokens behind a KV cache (specdec::testing::toy_target); the
// draft model is its Markov table mixed 25% with another one (it knows nothing of positions). Each row
// decodes the same batch of prompts with one drafter + verifier pair and reports tokens per step (tau),
// acceptance per depth, the speedup over autoregressive decoding under a toy cost model, and -- for
// greedy rows -- whether the output is token for token that of autoregressive greedy decoding.
//
// A second table runs the head drafters on an order-1 target (where Medusa's toy heads, the k-step
// marginals, are defined): Medusa, Clover, Hydra, EAGLE-style, ReDrafter-style and layer skip, each
// with its method's tree policy. Their heads are derived from the same approximate model (the draft
// Markov table): Medusa's from its marginals, the regressive ones from its transition applied to the
// guessed parent -- so the rows compare the methods, not the quality of a training run.
//
// Toy cost model (stated, not measured): a target forward costs 1 per request plus 0.005 per tree
// node; a draft-model call costs 0.05, a head call 0.01, a layer-skip call 0.25 (a quarter of the
// layers); lookups cost nothing. Autoregressive decoding costs 1.005 per token.
#include <specdec/specdec.hpp>
#include <specdec/testing.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using specdec::draft_scheme;
using specdec::token_id;
using specdec::testing::markov_model;
using specdec::testing::toy_draft_model;
using specdec::testing::toy_target;

constexpr specdec::index_t vocab = 32;
constexpr double node_cost = 0.005;
constexpr double draft_call_cost = 0.05;
constexpr double head_call_cost = 0.01;
constexpr double layer_skip_call_cost = 0.25;

struct settings {
  std::uint64_t seed = 1;
  float temperature = 1.0f;
  specdec::index_t max_tokens = 96;
  std::string drafter;  // empty: every drafter
};

struct outcome {
  std::vector<std::vector<token_id>> tokens;
  specdec::decode_stats stats;
  double cost = 0.0;
};

std::vector<std::vector<token_id>> prompts_for(std::uint64_t seed) {
  std::vector<std::vector<token_id>> prompts;
  const specdec::random_address a{seed, 0, 0, 0, specdec::purpose::draft_sample};
  std::uint32_t word = 0;
  for (int n = 1; n <= 8; ++n) {
    std::vector<token_id> p;
    for (int i = 0; i < 2 * n; ++i) p.push_back(static_cast<token_id>(a.word(word++) % vocab));
    prompts.push_back(p);
  }
  return prompts;
}

// Decodes every prompt as one ragged batch and prices the run with the toy cost model.
// The drafting cost so far under the toy cost model.
using cost_probe = std::function<double()>;

template <class Decoder>
outcome decode(Decoder& decoder, const std::vector<std::vector<token_id>>& prompts, const settings& s, float temperature,
               toy_target& target, const cost_probe& draft_cost) {
  const auto target_nodes = target.calls().nodes;
  const double draft_before = draft_cost ? draft_cost() : 0.0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    specdec::request_options o;
    o.params.temperature = temperature;
    o.seed = s.seed * 1000 + i;
    o.max_new_tokens = s.max_tokens;
    decoder.add_request(static_cast<specdec::request_id>(i), prompts[i], o);
  }
  decoder.run();
  outcome out;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto t = decoder.tokens(static_cast<specdec::request_id>(i));
    out.tokens.emplace_back(t.begin(), t.end());
    decoder.release(static_cast<specdec::request_id>(i));
  }
  out.stats = decoder.stats();
  out.cost = static_cast<double>(out.stats.request_steps) + node_cost * static_cast<double>(target.calls().nodes - target_nodes) +
             (draft_cost ? draft_cost() - draft_before : 0.0);
  return out;
}

void print_row(const char* drafter, const char* verifier, float temperature, const outcome& o, double ar_cost, const char* identical) {
  std::printf("%-24s %-14s %4.1f %6.2f ", drafter, verifier, static_cast<double>(temperature), o.stats.tokens_per_step());
  for (specdec::index_t d = 1; d <= 4; ++d) {
    if (d <= static_cast<specdec::index_t>(o.stats.depth_judged.size())) {
      std::printf(" %4.2f", o.stats.acceptance_at(d));
    } else {
      std::printf("    -");
    }
  }
  std::printf("  %6.2fx  %s\n", ar_cost / o.cost, identical);
}

// One table row per temperature for a drafter + verifier pair.
template <class Drafter, class Verifier>
void run_pair(const char* name, const char* verifier_name, Drafter& drafter, Verifier& verifier, const settings& s,
              toy_target& target, const cost_probe& draft, const std::vector<std::vector<token_id>>& prompts,
              const outcome& ar_greedy, const outcome& ar_sampled) {
  for (const float temperature : {0.0f, s.temperature}) {
    specdec::speculative_decoder decoder(target, drafter, verifier);
    const outcome o = decode(decoder, prompts, s, temperature, target, draft);
    const outcome& ar = temperature == 0.0f ? ar_greedy : ar_sampled;
    const char* identical = temperature == 0.0f ? (o.tokens == ar.tokens ? "yes" : "NO") : "(sampled)";
    print_row(name, verifier_name, temperature, o, ar.cost, identical);
    if (s.temperature == 0.0f) break;
  }
}

// The head drafters' table: an order-1 target over the same vocabulary, heads derived from one
// approximate model (see the header comment).
template <class Wanted>
bool run_head_drafters(const settings& s, const Wanted& wanted) {
  const bool any = wanted("medusa") || wanted("clover") || wanted("hydra") || wanted("eagle") || wanted("redrafter") ||
                   wanted("layer-skip");
  if (!any) return false;
  using specdec::testing::toy_medusa_heads;
  using specdec::testing::toy_regressive_heads;
  const markov_model target_model = markov_model::random(vocab, 1, s.seed + 7, 2.0f);
  const markov_model approximate = target_model.mixed_with(markov_model::random(vocab, 1, s.seed + 108, 2.0f), 0.25f);
  toy_target target(target_model);
  target.set_shallow_model(approximate);
  const auto prompts = prompts_for(s.seed);
  specdec::autoregressive_decoder<toy_target> ar(target);
  const outcome ar_greedy = decode(ar, prompts, s, 0.0f, target, {});
  specdec::autoregressive_decoder<toy_target> ar_t(target);
  const outcome ar_sampled = decode(ar_t, prompts, s, s.temperature, target, {});

  std::printf("\nhead drafters: order-1 target, heads derived from its 25%%-mixed approximation\n");
  std::printf("%-24s %-14s %4s %6s  %-24s %8s  %s\n", "drafter", "verifier", "T", "tau", "acceptance at depth 1-4",
              "speedup", "identical to autoregressive");
  toy_medusa_heads medusa_heads(approximate, 4);
  specdec::medusa_heads<toy_medusa_heads> medusa(medusa_heads);
  toy_regressive_heads regressive(approximate, 8);
  specdec::layer_skip_heads<toy_target> skip(target, 1, 8);
  const cost_probe medusa_cost = [&] { return head_call_cost * static_cast<double>(medusa_heads.calls()); };
  const cost_probe head_cost = [&] { return head_call_cost * static_cast<double>(regressive.calls()); };
  const cost_probe skip_cost = [&] { return layer_skip_call_cost * static_cast<double>(target.calls().partial_forwards); };
  specdec::one_hot_verifier one_hot;
  specdec::rrs_verifier rrs;
  // Medusa's published shape for its 7B heads, cut to 4 heads and 16 nodes.
  const specdec::tree_choices medusa_choices{{0}, {1}, {2}, {3}, {0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {2, 0},
                                             {0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {0, 0, 0, 0}};
  specdec::clover_growth_options clover;
  clover.candidates = 6;
  clover.top_p = 0.9;
  clover.total_nodes = 16;
  clover.max_depth = 5;
  clover.depth_budget = {5, 4, 3, 2, 1};  // shrinking with depth
  specdec::dynamic_tree_params eagle;
  eagle.top_k = 4;
  eagle.max_depth = 5;
  eagle.total_nodes = 16;
  using specdec::head_drafter;
  using regressive_t = toy_regressive_heads;
  using medusa_t = specdec::medusa_heads<toy_medusa_heads>;
  using skip_t = specdec::layer_skip_heads<toy_target>;
  if (wanted("medusa")) {
    head_drafter<medusa_t, specdec::static_growth> d(medusa, specdec::static_growth(medusa_choices));
    run_pair("Medusa, choices (16)", "one-hot", d, one_hot, s, target, medusa_cost, prompts, ar_greedy, ar_sampled);
    head_drafter<medusa_t, specdec::static_growth, draft_scheme::sampled_without_replacement> t(medusa, specdec::static_growth(medusa_choices));
    run_pair("Medusa, sampled (16)", "rrs", t, rrs, s, target, medusa_cost, prompts, ar_greedy, ar_sampled);
  }
  if (wanted("clover")) {
    head_drafter<regressive_t, specdec::clover_growth> d(regressive, specdec::clover_growth(clover));
    run_pair("Clover (16)", "one-hot", d, one_hot, s, target, head_cost, prompts, ar_greedy, ar_sampled);
    head_drafter<regressive_t, specdec::clover_growth, draft_scheme::sampled_without_replacement> t(regressive, specdec::clover_growth(clover));
    run_pair("Clover, sampled (16)", "rrs", t, rrs, s, target, head_cost, prompts, ar_greedy, ar_sampled);
  }
  if (wanted("hydra")) {
    head_drafter<regressive_t, specdec::static_growth> d(regressive, specdec::static_growth(medusa_choices));
    run_pair("Hydra, choices (16)", "one-hot", d, one_hot, s, target, head_cost, prompts, ar_greedy, ar_sampled);
  }
  if (wanted("eagle")) {
    head_drafter<regressive_t, specdec::eagle2_growth> d(regressive, specdec::eagle2_growth(eagle));
    run_pair("EAGLE-style EAGLE-2 (16)", "one-hot", d, one_hot, s, target, head_cost, prompts, ar_greedy, ar_sampled);
  }
  if (wanted("redrafter")) {
    head_drafter<regressive_t, specdec::beam_growth> d(regressive, specdec::beam_growth(3, 5));
    run_pair("ReDrafter-style beam 3x5", "one-hot", d, one_hot, s, target, head_cost, prompts, ar_greedy, ar_sampled);
  }
  if (wanted("layer-skip")) {
    head_drafter<skip_t, specdec::top_k_growth> d(skip, specdec::top_k_growth({1, 1, 1, 1}));
    run_pair("layer skip, chain (4)", "one-hot", d, one_hot, s, target, skip_cost, prompts, ar_greedy, ar_sampled);
  }
  return true;
}

void usage() {
  std::puts(
      "usage: specdec_demo [--seed N] [--temperature T] [--max-tokens N] [--drafter NAME] [--help]\n"
      "  --seed N          seed of the prompts and of every random decision (default 1)\n"
      "  --temperature T   the sampled rows' temperature, > 0 (default 1; 0 prints greedy rows only)\n"
      "  --max-tokens N    tokens generated per prompt (default 96)\n"
      "  --drafter NAME    one of: greedy-chain sampled-chain dynamic-tree tree-with tree-without\n"
      "                    prompt-lookup ngram-cache suffix-tree none\n"
      "                    medusa clover hydra eagle redrafter layer-skip\n"
      "                    (default: all)");
}

bool parse(int argc, char** argv, settings& s) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "specdec_demo: %s needs a value\n", argv[i]);
      return false;
    }
    const char* value = argv[++i];
    char* end = nullptr;
    if (arg == "--seed") {
      s.seed = std::strtoull(value, &end, 10);
    } else if (arg == "--temperature") {
      s.temperature = std::strtof(value, &end);
      if (!(s.temperature >= 0.0f && s.temperature <= 100.0f)) end = nullptr;
    } else if (arg == "--max-tokens") {
      s.max_tokens = std::strtoll(value, &end, 10);
      if (s.max_tokens < 1 || s.max_tokens > 100000) end = nullptr;
    } else if (arg == "--drafter") {
      s.drafter = value;
      continue;
    } else {
      std::fprintf(stderr, "specdec_demo: unknown option %s\n", argv[i - 1]);
      return false;
    }
    if (end == nullptr || *end != '\0') {
      std::fprintf(stderr, "specdec_demo: bad value for %s: %s\n", argv[i - 1], value);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (!parse(argc, argv, s)) {
    usage();
    return 2;
  }
  const markov_model target_model = markov_model::random(vocab, 2, s.seed, 2.0f);
  toy_target target(target_model);
  toy_draft_model draft(target_model.mixed_with(markov_model::random(vocab, 2, s.seed + 101, 2.0f), 0.25f));
  const auto prompts = prompts_for(s.seed);

  specdec::autoregressive_decoder<toy_target> ar(target);
  const outcome ar_greedy = decode(ar, prompts, s, 0.0f, target, {});
  specdec::autoregressive_decoder<toy_target> ar_t(target);
  const outcome ar_sampled = decode(ar_t, prompts, s, s.temperature, target, {});
  const cost_probe draft_cost = [&] { return draft_call_cost * static_cast<double>(draft.calls().forwards); };

  std::printf("specdec demo: %zu prompts x %lld tokens, vocabulary %lld, seed %llu\n", prompts.size(),
              static_cast<long long>(s.max_tokens), static_cast<long long>(vocab), static_cast<unsigned long long>(s.seed));
  std::printf("toy cost: target forward 1 + %.3f per node, draft-model call %.2f; autoregressive 1.005 per token\n\n",
              node_cost, draft_call_cost);
  std::printf("%-24s %-14s %4s %6s  %-24s %8s  %s\n", "drafter", "verifier", "T", "tau", "acceptance at depth 1-4",
              "speedup", "identical to autoregressive");

  const auto wanted = [&](const char* name) { return s.drafter.empty() || s.drafter == name; };
  bool any = false;
  specdec::greedy_verifier greedy;
  specdec::one_hot_verifier one_hot;
  specdec::chain_verifier chain;
  specdec::block_verifier block;
  specdec::multi_draft_verifier multi;
  specdec::rrs_verifier rrs;
  if (wanted("greedy-chain")) {
    specdec::chain_drafter_options o;
    o.gamma = 4;
    specdec::chain_drafter<toy_draft_model, draft_scheme::deterministic> d(draft, o);
    run_pair("greedy chain (4)", "one-hot", d, one_hot, s, target, draft_cost, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("sampled-chain")) {
    specdec::chain_drafter_options o;
    o.gamma = 4;
    specdec::chain_drafter<toy_draft_model, draft_scheme::sampled_chain> d(draft, o);
    run_pair("sampled chain (4)", "chain", d, chain, s, target, draft_cost, prompts, ar_greedy, ar_sampled);
    run_pair("sampled chain (4)", "block", d, block, s, target, draft_cost, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("dynamic-tree")) {
    specdec::dynamic_tree_params p;
    p.top_k = 4;
    p.max_depth = 5;
    p.total_nodes = 16;
    specdec::dynamic_tree_drafter<toy_draft_model> d(draft, p);
    run_pair("EAGLE-2 tree (16)", "one-hot", d, one_hot, s, target, draft_cost, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("tree-with")) {
    specdec::sampled_tree_options o;
    o.branching = {3, 2, 1};
    specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_with_replacement> d(draft, o);
    run_pair("sampled tree, with repl.", "multi-draft", d, multi, s, target, draft_cost, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("tree-without")) {
    specdec::sampled_tree_options o;
    o.branching = {3, 2, 1};
    specdec::sampled_tree_drafter<toy_draft_model, draft_scheme::sampled_without_replacement> d(draft, o);
    run_pair("sampled tree, w/o repl.", "rrs", d, rrs, s, target, draft_cost, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("prompt-lookup")) {
    specdec::prompt_lookup_drafter d;
    run_pair("prompt lookup", "one-hot", d, one_hot, s, target, {}, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("ngram-cache")) {
    specdec::ngram_cache_drafter d;
    run_pair("n-gram cache", "one-hot", d, one_hot, s, target, {}, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("suffix-tree")) {
    specdec::suffix_tree_drafter d;
    run_pair("suffix tree", "one-hot", d, one_hot, s, target, {}, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  if (wanted("none")) {
    specdec::no_drafter d;
    run_pair("none (autoregressive)", "one-hot", d, one_hot, s, target, {}, prompts, ar_greedy, ar_sampled);
    any = true;
  }
  (void)greedy;
  any = run_head_drafters(s, wanted) || any;
  if (!any) {
    std::fprintf(stderr, "specdec_demo: unknown drafter '%s'\n", s.drafter.c_str());
    usage();
    return 2;
  }
  return 0;
}
