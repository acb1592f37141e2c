// The tables of docs/results.md (scripts/results runs it): tau and acceptance per depth for each drafter
// on stories260K over a fixed prompt set, greedy and T = 1; the real wall-clock speedup on stories260K;
// and the speedup each drafter would give at stories110M's shape, derived from the measured tau, tree
// sizes and draft work and the measured tree-forward cost curve (a CSV "nodes,milliseconds").
//
//   specdec_llama_results stories260K.bin tok512.bin cost_curve.csv
#include <specdec/specdec.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "drafter_registry.hpp"
#include "llama_draft.hpp"
#include "llama_target.hpp"
#include "tokenizer.hpp"

namespace {

constexpr specdec::index_t max_tokens = 128;
constexpr specdec::index_t draft_layers = 4;       // draft-chain / draft-tree: the first 4 of 5 layers
constexpr specdec::index_t layer_skip_layers = 2;  // layer-skip: the first 2 of 5 layers

struct row {
  std::string name;
  specdec::decode_stats stats;
  double seconds = 0.0;
  double draft_forwards = 0.0, draft_tokens = 0.0, draft_fraction = 0.0;  // per step; the draft's share of the model's layers
};

// T(N) in ms by linear interpolation of the measured curve.
double cost(const std::map<double, double>& curve, double n) {
  auto hi = curve.lower_bound(n);
  if (hi == curve.end()) return std::prev(hi)->second * n / std::prev(hi)->first;
  if (hi == curve.begin() || hi->first == n) return hi->second;
  auto lo = std::prev(hi);
  return lo->second + (hi->second - lo->second) * (n - lo->first) / (hi->first - lo->first);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: specdec_llama_results stories260K.bin tok512.bin cost_curve.csv [TRAINED_DIR]\n"
                         "  TRAINED_DIR: training/trained (the trained drafters); without it their rows are left out\n");
    return 2;
  }
  const std::string trained = argc == 5 ? argv[4] : "";
  const llama::llama_model model = llama::llama_model::load(argv[1]);
  const llama::tokenizer tok = llama::tokenizer::load(argv[2]);
  std::map<double, double> curve;
  {
    std::ifstream in(argv[3]);
    double n = 0, ms = 0;
    char comma = 0;
    while (in >> n >> comma >> ms) curve[n] = ms;
  }
  std::vector<std::vector<specdec::token_id>> prompts;
  for (const char* text : {"Once upon a time", "Tom had a red ball. He", "The little cat was sad because",
                           "One day, Lily and her mom went to the park. They saw", "Ben liked to", "The sun was shining and",
                           "Sara found a box in the garden.", "There was a big dog named Max. Max"}) {
    prompts.push_back(tok.encode(text));
  }
  const double n_layers = static_cast<double>(model.config().n_layers);
  std::optional<llama::llama_model> distilled_model;
#if SPECDEC_LLAMA_HEADS
  std::optional<llama::safetensors> medusa_file, hydra_file, clover_file, eagle_file;
#endif
  if (!trained.empty()) {
    distilled_model = llama::llama_model::load(trained + "/draft.bin");
#if SPECDEC_LLAMA_HEADS
    medusa_file = llama::safetensors::load(trained + "/medusa.safetensors");
    hydra_file = llama::safetensors::load(trained + "/hydra.safetensors");
    clover_file = llama::safetensors::load(trained + "/clover.safetensors");
    eagle_file = llama::safetensors::load(trained + "/eagle.safetensors");
#endif
  }
  for (const float temperature : {0.0f, 1.0f}) {
    std::vector<row> rows;
    for (const std::string& name : llama::drafter_names()) {
      if (llama::needs_trained(name) && trained.empty()) continue;
      llama::llama_target target(model);
      llama::llama_draft draft(model, draft_layers);
      llama::llama_draft layer_skip(model, layer_skip_layers);
      llama::drafter_setup setup;
      setup.draft = &draft;
      setup.layer_skip = &layer_skip;
      setup.target = &target;
      setup.skip_layers = layer_skip_layers;
      setup.draft_params.temperature = temperature > 0.0f ? temperature : 1.0f;
      std::optional<llama::llama_draft> distilled;
      if (distilled_model) distilled.emplace(*distilled_model);
      setup.distilled = distilled ? &*distilled : nullptr;
#if SPECDEC_LLAMA_HEADS
      std::optional<llama::medusa_backend> medusa;
      std::optional<llama::hydra_backend> hydra;
      if (medusa_file) medusa.emplace(*medusa_file, model);
      if (hydra_file) hydra.emplace(*hydra_file, model);
      std::optional<llama::clover_backend> clover;
      std::optional<llama::eagle_backend> eagle;
      if (clover_file) clover.emplace(*clover_file, model);
      if (eagle_file) eagle.emplace(*eagle_file, model);
      setup.medusa = medusa ? &*medusa : nullptr;
      setup.hydra = hydra ? &*hydra : nullptr;
      setup.clover = clover ? &*clover : nullptr;
      setup.eagle = eagle ? &*eagle : nullptr;
#endif
      row r;
      r.name = name;
      llama::with_drafter(name, temperature > 0.0f, setup, [&](auto& drafter, auto& verifier) {
        specdec::speculative_decoder decoder(target, drafter, verifier);
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < prompts.size(); ++i) {  // one request at a time, as latency-bound serving runs
          specdec::request_options o;
          o.params.temperature = temperature;
          o.seed = 1000 + i;
          o.max_new_tokens = max_tokens;
          decoder.generate(prompts[i], o);
        }
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        r.stats = decoder.stats();
      });
      const llama::llama_draft* used = name == "layer-skip"            ? &layer_skip
                                       : llama::needs_draft_model(name) ? &draft
                                       : name == "draft-model"          ? setup.distilled
                                                                        : nullptr;
      if (llama::needs_target(name)) {  // the target's own first layers, through forward_partial
        const double steps = static_cast<double>(r.stats.request_steps);
        r.draft_forwards = static_cast<double>(target.calls().partial_forwards) / steps;
        r.draft_tokens = static_cast<double>(target.calls().partial_nodes) / std::max(1.0, static_cast<double>(target.calls().partial_forwards));
        r.draft_fraction = static_cast<double>(layer_skip_layers) / n_layers;
      } else if (used != nullptr) {
        const double steps = static_cast<double>(r.stats.request_steps);
        r.draft_forwards = static_cast<double>(used->calls().forwards) / steps;
        r.draft_tokens = static_cast<double>(used->calls().tokens) / std::max(1.0, static_cast<double>(used->calls().forwards));
        r.draft_fraction = static_cast<double>(used->layers()) / n_layers;
      }
      rows.push_back(r);
    }
    const row& ar = rows.front();
    const double ar_rate = static_cast<double>(ar.stats.tokens) / ar.seconds;
    std::printf("\n### %s (T = %g), %zu prompts x %lld tokens, one request at a time\n\n", temperature == 0.0f ? "Greedy" : "Sampled",
                static_cast<double>(temperature), prompts.size(), static_cast<long long>(max_tokens));
    std::printf("| drafter | tau | acc d1 | d2 | d3 | d4 | d5 | nodes/step | draft calls/step | tokens/s (260K) | wall-clock speedup (260K, measured) | speedup at 110M shape (derived) |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const row& r : rows) {
      const specdec::decode_stats& st = r.stats;
      const double nodes = 1.0 + static_cast<double>(st.drafted) / static_cast<double>(st.request_steps);
      // Derived: a step costs the forward over its tree plus the draft's calls (each a fraction of the
      // model's layers over its tokens, priced on the same curve); it emits tau tokens.
      const double step_ms = cost(curve, nodes) + r.draft_forwards * r.draft_fraction * cost(curve, std::max(1.0, r.draft_tokens));
      const double derived = st.tokens_per_step() * cost(curve, 1.0) / step_ms;
      std::printf("| %s | %.2f |", r.name.c_str(), st.tokens_per_step());
      for (specdec::index_t d = 1; d <= 5; ++d) {
        if (d <= static_cast<specdec::index_t>(st.depth_judged.size())) {
          std::printf(" %.2f |", st.acceptance_at(d));
        } else {
          std::printf(" - |");
        }
      }
      const double rate = static_cast<double>(st.tokens) / r.seconds;
      std::printf(" %.1f | %.2f | %.0f | %.2fx | %.2fx |\n", nodes, r.draft_forwards, rate, rate / ar_rate, derived);
    }
  }
  return 0;
}
