// The tables of docs/results.md (scripts/results runs it): for each drafter on stories260K over a fixed
// prompt set, greedy and T = 1, at node budgets 8, 16, 32 and 64: tau, acceptance per depth, the
// library's time per step, the real wall-clock speedup on stories260K, and the speedup the drafter would
// give at stories110M's shape, derived from the measured tau, tree sizes and draft work and the measured
// tree-forward cost curve (a CSV "nodes,milliseconds"). With a CSV path, also writes
// "temperature,budget,drafter,tau" rows for the plot.
//
//   specdec_llama_results stories260K.bin tok512.bin cost_curve.csv [TRAINED_DIR [TAU_CSV]]
#include <specdec/specdec.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "drafter_registry.hpp"
#include "llama_draft.hpp"
#include "llama_target.hpp"
#include "tokenizer.hpp"

namespace {

constexpr specdec::index_t max_tokens = 128;
constexpr specdec::index_t max_depth = 5;          // every drafter: at most 5 deep (the trained heads' depth)
constexpr specdec::index_t draft_layers = 4;       // draft-chain / draft-tree: the first 4 of 5 layers
constexpr specdec::index_t layer_skip_layers = 2;  // layer-skip: the first 2 of 5 layers
constexpr int budgets[] = {8, 16, 32, 64};

// stories110M's shape, for pricing the heads' work there: a head call touching P parameters over n rows
// costs P / P_target of a target forward over n rows (the forwards are memory-bound at this shape).
constexpr double dim = 768, ffn = 2048, vocab = 32000, layers = 12;
constexpr double layer_params = 4 * dim * dim + 3 * dim * ffn;
constexpr double target_params = layers * layer_params + dim * vocab;

struct row {
  std::string name;
  specdec::decode_stats stats;
  double seconds = 0.0;
  double draft_forwards = 0.0, draft_tokens = 0.0, draft_fraction = 0.0;  // per step; the draft's share of the model's layers
  double head_ms_110m = 0.0;                                              // per step: the heads' work priced at 110M's shape
};

// T(N) in ms by linear interpolation of the measured curve.
double cost(const std::map<double, double>& curve, double n) {
  auto hi = curve.lower_bound(n);
  if (hi == curve.end()) return std::prev(hi)->second * n / std::prev(hi)->first;
  if (hi == curve.begin() || hi->first == n) return hi->second;
  auto lo = std::prev(hi);
  return lo->second + (hi->second - lo->second) * (n - lo->first) / (hi->first - lo->first);
}

#if SPECDEC_LLAMA_HEADS
// Parameters each kind of head call touches at stories110M's shape (see trained_heads.hpp for the
// structures): context calls, root calls, deeper-node calls.
struct head_prices {
  double context = 0, root = 0, node = 0;
};

double head_cost(const llama::head_call_counts& c, const head_prices& p, double steps, const std::map<double, double>& curve) {
  const auto part = [&](std::uint64_t calls, std::uint64_t rows, double params) {
    if (calls == 0) return 0.0;
    const double n = static_cast<double>(rows) / static_cast<double>(calls);
    return static_cast<double>(calls) / steps * params / target_params * cost(curve, std::max(1.0, n));
  };
  return part(c.context_calls, c.context_rows, p.context) + part(c.root_calls, c.root_rows, p.root) + part(c.node_calls, c.node_rows, p.node);
}
#endif

// Medusa's measured acceptance (training/calibrate.py): "greedy d r value" and "sampled d r value" lines.
struct acceptance_table {
  std::vector<std::vector<double>> greedy, sampled;
};

std::optional<acceptance_table> read_acceptance(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  acceptance_table t;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind;
    std::size_t d = 0, r = 0;
    double v = 0;
    if (!(fields >> kind >> d >> r >> v)) throw std::runtime_error(path + ": malformed line '" + line + "'");
    auto& table = kind == "greedy" ? t.greedy : t.sampled;
    if (table.size() <= d) table.resize(d + 1);
    if (table[d].size() <= r) table[d].resize(r + 1, 0.0);
    table[d][r] = v;
  }
  return t;
}

// The depth-averaged vector, Sequoia's position-only acceptance model.
std::vector<double> depth_average(const std::vector<std::vector<double>>& table) {
  std::vector<double> out;
  for (const auto& row : table) {
    if (out.size() < row.size()) out.resize(row.size(), 0.0);
    for (std::size_t r = 0; r < row.size(); ++r) out[r] += row[r] / static_cast<double>(table.size());
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) {
    std::fprintf(stderr, "usage: specdec_llama_results stories260K.bin tok512.bin cost_curve.csv [TRAINED_DIR [TAU_CSV]]\n"
                         "  TRAINED_DIR: training/trained (the trained drafters); without it their rows are left out\n"
                         "  TAU_CSV: also write temperature,budget,drafter,tau rows there (the plot's data)\n");
    return 2;
  }
  const std::string trained = argc >= 5 ? argv[4] : "";
  std::ofstream tau_csv;
  if (argc == 6) {
    tau_csv.open(argv[5]);
    tau_csv << "temperature,budget,drafter,tau\n";
  }
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
  std::optional<acceptance_table> medusa_acceptance;
#if SPECDEC_LLAMA_HEADS
  std::optional<llama::safetensors> medusa_file, hydra_file, clover_file, eagle_file, no_regressive_file, no_augment_file;
#endif
  if (!trained.empty()) {
    distilled_model = llama::llama_model::load(trained + "/draft.bin");
    medusa_acceptance = read_acceptance(trained + "/medusa_acceptance.txt");
#if SPECDEC_LLAMA_HEADS
    medusa_file = llama::safetensors::load(trained + "/medusa.safetensors");
    hydra_file = llama::safetensors::load(trained + "/hydra.safetensors");
    clover_file = llama::safetensors::load(trained + "/clover.safetensors");
    eagle_file = llama::safetensors::load(trained + "/eagle.safetensors");
    if (std::filesystem::exists(trained + "/ablations/clover-no-regressive.safetensors")) {
      no_regressive_file = llama::safetensors::load(trained + "/ablations/clover-no-regressive.safetensors");
      no_augment_file = llama::safetensors::load(trained + "/ablations/clover-no-augment.safetensors");
    }
#endif
  }

  // The rows: every registered drafter, then Medusa's heads in the two planned static shapes and the
  // two Clover ablations. `name` is the registry's drafter, `label` the row.
  struct spec {
    std::string label, name;
  };
  std::vector<spec> specs;
  for (const std::string& name : llama::drafter_names()) {
    if (llama::needs_trained(name) && trained.empty()) continue;
    specs.push_back({name, name});
#if SPECDEC_LLAMA_HEADS
    if (name == "medusa" && medusa_acceptance) {
      specs.push_back({"medusa-choices", name});
      specs.push_back({"medusa-sequoia", name});
    }
    if (name == "clover" && no_regressive_file) {
      specs.push_back({"clover-no-regressive", name});
      specs.push_back({"clover-no-augment", name});
    }
#endif
  }

  std::printf("Every drafter drafts at most %lld deep and at most N nodes per step, root included (the decoder's max_nodes).\n",
              static_cast<long long>(max_depth));
  for (const float temperature : {0.0f, 1.0f}) {
    const bool sampled = temperature > 0.0f;
    std::map<std::string, std::map<int, double>> tau_by_budget;
    std::vector<std::string> order;
    std::optional<row> autoregressive;
    std::ostringstream details;
    for (const int budget : budgets) {
      std::vector<row> rows;
      for (const spec& s : specs) {
        if (s.name == "autoregressive" && autoregressive) {
          rows.push_back(*autoregressive);
          continue;
        }
        llama::llama_target target(model);
        llama::llama_draft draft(model, draft_layers);
        llama::llama_draft layer_skip(model, layer_skip_layers);
        llama::drafter_setup setup;
        setup.draft = &draft;
        setup.layer_skip = &layer_skip;
        setup.target = &target;
        setup.skip_layers = layer_skip_layers;
        setup.draft_params.temperature = sampled ? temperature : 1.0f;
        setup.tree_nodes = budget;
        setup.tree_depth = max_depth;
        setup.gamma = std::min<specdec::index_t>(budget - 1, max_depth);
        std::optional<llama::llama_draft> distilled;
        if (distilled_model) distilled.emplace(*distilled_model);
        setup.distilled = distilled ? &*distilled : nullptr;
#if SPECDEC_LLAMA_HEADS
        const llama::head_call_counts* head_calls = nullptr;
        std::optional<llama::medusa_backend> medusa;
        std::optional<llama::hydra_backend> hydra;
        std::optional<llama::clover_backend> clover;
        std::optional<llama::eagle_backend> eagle;
        head_prices prices;
        if (s.name == "medusa") {
          medusa.emplace(*medusa_file, model);
          setup.medusa = &*medusa;
          head_calls = &medusa->calls();
          prices.root = static_cast<double>(medusa->num_heads()) * (dim * dim + dim * vocab);
          if (s.label == "medusa-choices") {  // Medusa's choices from the heads' measured rank accuracies
            setup.medusa_choices = specdec::plan_medusa_tree(medusa_acceptance->greedy, budget, max_depth).choices;
          } else if (s.label == "medusa-sequoia") {  // Sequoia's plan from the measured positional acceptance
            const std::vector<double> a = depth_average(sampled ? medusa_acceptance->sampled : medusa_acceptance->greedy);
            setup.medusa_choices = specdec::plan_sequoia_tree(a, budget, max_depth).choices;
          }
        } else if (s.name == "hydra") {
          hydra.emplace(*hydra_file, model);
          setup.hydra = &*hydra;
          head_calls = &hydra->calls();
          prices.node = 3 * dim * dim + dim * vocab;
        } else if (s.name == "clover") {
          const llama::safetensors& file = s.label == "clover-no-regressive" ? *no_regressive_file
                                           : s.label == "clover-no-augment"  ? *no_augment_file
                                                                              : *clover_file;
          clover.emplace(file, model);
          setup.clover = &*clover;
          head_calls = &clover->calls();
          prices.context = 3 * dim * dim + (clover->augmented() ? layer_params : 0.0);
          prices.root = dim * dim + dim * vocab;
          prices.node = (clover->regressive() ? 5 : 2) * dim * dim + dim * vocab;
        } else if (s.name == "eagle") {
          eagle.emplace(*eagle_file, model);
          setup.eagle = &*eagle;
          head_calls = &eagle->calls();
          prices.context = 2 * dim * dim + layer_params;
          prices.node = 2 * dim * dim + layer_params + dim * vocab;
        }
#endif
        row r;
        r.name = s.label;
        llama::with_drafter(s.name, sampled, setup, [&](auto& drafter, auto& verifier) {
          specdec::speculation_options options;
          options.max_nodes = budget;
          options.max_depth = max_depth;
          specdec::speculative_decoder decoder(target, drafter, verifier, options);
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
        const double steps = static_cast<double>(r.stats.request_steps);
        const llama::llama_draft* used = s.name == "layer-skip"            ? &layer_skip
                                         : llama::needs_draft_model(s.name) ? &draft
                                         : s.name == "draft-model" || s.name == "draft-model-chain" ? setup.distilled
                                                                            : nullptr;
        if (llama::needs_target(s.name)) {  // the target's own first layers, through forward_partial
          r.draft_forwards = static_cast<double>(target.calls().partial_forwards) / steps;
          r.draft_tokens = static_cast<double>(target.calls().partial_nodes) / std::max(1.0, static_cast<double>(target.calls().partial_forwards));
          r.draft_fraction = static_cast<double>(layer_skip_layers) / n_layers;
        } else if (used != nullptr) {
          r.draft_forwards = static_cast<double>(used->calls().forwards) / steps;
          r.draft_tokens = static_cast<double>(used->calls().tokens) / std::max(1.0, static_cast<double>(used->calls().forwards));
          r.draft_fraction = static_cast<double>(used->layers()) / n_layers;
        }
#if SPECDEC_LLAMA_HEADS
        if (head_calls != nullptr) r.head_ms_110m = head_cost(*head_calls, prices, steps, curve);
#endif
        if (s.name == "autoregressive") autoregressive = r;
        rows.push_back(r);
      }

      const row& ar = rows.front();
      const double ar_rate = static_cast<double>(ar.stats.tokens) / ar.seconds;
      details << "\n#### " << (sampled ? "T = 1" : "Greedy") << ", budget N = " << budget << "\n\n";
      details << "| drafter | tau | acc d1 | d2 | d3 | d4 | d5 | nodes/step | draft calls/step | library us/step | draft us/step | tokens/s (260K) "
                 "| wall-clock speedup (260K, measured) | speedup at 110M shape (derived) |\n";
      details << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
      char buffer[512];
      for (const row& r : rows) {
        const specdec::decode_stats& st = r.stats;
        const double steps = static_cast<double>(st.request_steps);
        const double nodes = 1.0 + static_cast<double>(st.drafted) / steps;
        // Derived: a step costs the forward over its tree, the draft's calls (each a fraction of the model's
        // layers over its tokens, priced on the same curve) and the heads' work priced at 110M's shape.
        const double step_ms = cost(curve, nodes) + r.draft_forwards * r.draft_fraction * cost(curve, std::max(1.0, r.draft_tokens)) + r.head_ms_110m;
        const double derived = st.tokens_per_step() * cost(curve, 1.0) / step_ms;
        details << "| " << r.name;
        std::snprintf(buffer, sizeof buffer, " | %.2f |", st.tokens_per_step());
        details << buffer;
        for (specdec::index_t d = 1; d <= max_depth; ++d) {
          if (d <= static_cast<specdec::index_t>(st.depth_judged.size()) && st.depth_judged[static_cast<std::size_t>(d - 1)] > 0) {
            std::snprintf(buffer, sizeof buffer, " %.2f |", st.acceptance_at(d));
            details << buffer;
          } else {
            details << " - |";
          }
        }
        const double rate = static_cast<double>(st.tokens) / r.seconds;
        const double library_us = 1e6 * (st.verify_seconds + st.bookkeeping_seconds) / steps;
        const double draft_us = 1e6 * st.draft_seconds / steps;
        std::snprintf(buffer, sizeof buffer, " %.1f | %.2f | %.1f | %.0f | %.0f | %.2fx | %.2fx |\n", nodes, r.draft_forwards, library_us, draft_us, rate,
                      rate / ar_rate, derived);
        details << buffer;
        if (tau_by_budget.find(r.name) == tau_by_budget.end()) order.push_back(r.name);
        tau_by_budget[r.name][budget] = st.tokens_per_step();
        if (tau_csv) tau_csv << temperature << ',' << budget << ',' << r.name << ',' << st.tokens_per_step() << '\n';
      }
    }

    // The summary: tau per budget, and the goal's ratio of extra tokens per step.
    std::printf("\n### %s: tau against the node budget N, %zu prompts x %lld tokens\n\n", sampled ? "Sampled (T = 1)" : "Greedy (T = 0)", prompts.size(),
                static_cast<long long>(max_tokens));
    std::printf("| drafter |");
    for (const int b : budgets) std::printf(" N = %d |", b);
    std::printf("\n|---|");
    for (std::size_t i = 0; i < std::size(budgets); ++i) std::printf("---|");
    std::printf("\n");
    for (const std::string& name : order) {
      std::printf("| %s |", name.c_str());
      for (const int b : budgets) std::printf(" %.2f |", tau_by_budget[name][b]);
      std::printf("\n");
    }
    if (tau_by_budget.count("clover") && tau_by_budget.count("medusa")) {
      std::printf("\nClover's extra tokens per step over Medusa's, (tau - 1) / (tau - 1), against Medusa's heads in each shape and the best of them:\n\n");
      std::printf("| N | clover / medusa (top-k) | clover / medusa-choices | clover / medusa-sequoia | clover / best Medusa |\n|---|---|---|---|---|\n");
      for (const int b : budgets) {
        const double clover = tau_by_budget["clover"][b] - 1.0;
        double best = 0.0;
        std::printf("| %d |", b);
        for (const char* m : {"medusa", "medusa-choices", "medusa-sequoia"}) {
          if (!tau_by_budget.count(m)) {
            std::printf(" - |");
            continue;
          }
          const double extra = tau_by_budget[m][b] - 1.0;
          best = std::max(best, extra);
          std::printf(" %.2f |", clover / extra);
        }
        std::printf(" %.2f |\n", clover / best);
      }
    }
    std::printf("%s", details.str().c_str());
  }
  return 0;
}
