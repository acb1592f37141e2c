//! The drafters specdec-generate, the llama tests and scripts/results offer by name, each paired with a
//! verifier that is lossless for how it drafts. Adding a drafter is one name in `drafter_names()` and
//! one branch in `with_drafter`. The trained drafters (training/trained: `medusa`, `hydra`,
//! `draft-model`) need their files in `drafter_setup`; the head drafters exist when the build found
//! nlohmann-json (SPECDEC_LLAMA_HEADS).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <specdec/specdec.hpp>

#include "llama_draft.hpp"
#include "llama_target.hpp"
#if SPECDEC_LLAMA_HEADS
#include "trained_heads.hpp"
#endif

namespace llama {

//! What the model-based drafters draft with, and their budgets.
struct drafter_setup {
  llama_draft* draft = nullptr;        //!< draft-chain / draft-tree: an independent checkpoint (or the target's own)
  llama_draft* layer_skip = nullptr;   //!< layer-skip: the target's first layers (a `llama_draft` with fewer layers)
  llama_target* target = nullptr;      //!< layer-skip-tree: the target itself, drafting through `forward_partial`
  llama_draft* distilled = nullptr;    //!< draft-model: the draft model distilled from the target (training/trained/draft.bin)
#if SPECDEC_LLAMA_HEADS
  medusa_backend* medusa = nullptr;    //!< medusa: trained Medusa-1 heads (training/trained/medusa.safetensors)
  hydra_backend* hydra = nullptr;      //!< hydra: trained Hydra heads (training/trained/hydra.safetensors)
  clover_backend* clover = nullptr;    //!< clover: trained Clover-2 heads (training/trained/clover.safetensors)
  eagle_backend* eagle = nullptr;      //!< eagle: the trained EAGLE-1 feature drafter (training/trained/eagle.safetensors)
  std::vector<std::int32_t> head_branching{4, 2, 2, 1, 1};  //!< medusa, hydra: children per depth (top-k growth)
  //! medusa: a static shape instead of top-k growth (`plan_medusa_tree` or `plan_sequoia_tree` choices).
  std::optional<specdec::tree_choices> medusa_choices;
#endif
  specdec::index_t skip_layers = 2;    //!< layer-skip-tree: how many of the target's layers draft
  specdec::index_t gamma = 4;          //!< chain length
  std::int32_t tree_top_k = 4;         //!< draft-tree at temperature 0: EAGLE-2 top-k, depth and size
  std::int32_t tree_depth = 5;
  std::int32_t tree_nodes = 24;
  std::vector<int> branching{3, 2, 2, 1, 1};  //!< draft-tree at temperature > 0: children per depth
  specdec::sampling_params draft_params;      //!< sampled drafters' own processing (q)
};

//! Every name `with_drafter` accepts, in the order tables list them.
inline const std::vector<std::string>& drafter_names() {
  static const std::vector<std::string> names{
      "autoregressive", "draft-chain", "draft-tree", "draft-model-chain", "draft-model", "layer-skip", "layer-skip-tree", "lookup", "ngram", "suffix",
#if SPECDEC_LLAMA_HEADS
      "medusa", "hydra", "clover", "eagle",
#endif
  };
  return names;
}

//! One line per drafter for --help.
inline const char* drafter_help() {
  return "  autoregressive  no drafts: one target forward per token (the baseline)\n"
         "  draft-chain     a draft model's chain (--draft-model; greedy chain + one-hot verification at T = 0,\n"
         "                  sampled chain + speculative sampling at T > 0)\n"
         "  draft-tree      a draft model's tree (EAGLE-2 top-k tree at T = 0; at T > 0 a tree sampled without\n"
         "                  replacement + recursive rejection sampling)\n"
         "  draft-model-chain draft-chain with the 2-layer draft model distilled from stories260K\n"
         "                  (training/trained/draft.bin, --trained DIR)\n"
         "  draft-model     draft-tree with the 2-layer draft model distilled from stories260K\n"
         "                  (training/trained/draft.bin, --trained DIR)\n"
         "  layer-skip      self-speculation: the target's first --draft-layers layers draft a chain\n"
         "  layer-skip-tree self-speculation through the library's head drafter: the target's first\n"
         "                  --draft-layers layers (its own cache, forward_partial) grow a Clover-policy tree;\n"
         "                  sampled without replacement + recursive rejection sampling at T > 0\n"
         "  lookup          prompt lookup (model-free)\n"
         "  ngram           n-gram cache (model-free, learns across requests)\n"
         "  suffix          suffix-tree speculation (model-free, learns across requests)\n"
#if SPECDEC_LLAMA_HEADS
         "  medusa          trained Medusa-1 heads (training/trained/medusa.safetensors): top-k tree, greedy rule at\n"
         "                  T = 0, sampled without replacement + recursive rejection sampling at T > 0\n"
         "  hydra           trained Hydra heads (training/trained/hydra.safetensors), the same tree and rules\n"
         "  clover          trained Clover-2 heads (training/trained/clover.safetensors): Clover's growth (top-p 0.9,\n"
         "                  4 candidates per node), the same rules\n"
         "  eagle           the trained EAGLE-1 feature drafter (training/trained/eagle.safetensors): EAGLE-2's\n"
         "                  dynamic tree (top-k 4), the same rules\n"
#endif
      ;
}

//! Whether `name` needs `setup.draft` / `setup.layer_skip`.
inline bool needs_draft_model(std::string_view name) { return name == "draft-chain" || name == "draft-tree"; }
//! Whether `name` drafts with a trained file of training/trained (`setup.distilled`, `.medusa`, `.hydra`).
inline bool needs_trained(std::string_view name) {
  return name == "draft-model" || name == "draft-model-chain" || name == "medusa" || name == "hydra" || name == "clover" || name == "eagle";
}
inline bool needs_layer_skip(std::string_view name) { return name == "layer-skip"; }
inline bool needs_target(std::string_view name) { return name == "layer-skip-tree"; }

//! Builds the drafter `name` and its lossless verifier for a target sampled (`sampled`) or greedy, and
//! calls `f(drafter, verifier)`. Returns false for an unknown name. The model-based drafters need the
//! draft model of `setup` (checked: `specdec::invalid_argument` names it).
template <class F>
bool with_drafter(std::string_view name, bool sampled, drafter_setup& setup, F&& f) {
  using specdec::draft_scheme;
  const auto require = [](llama_draft* model, const char* what) {
    specdec::expects(model != nullptr, what, "none", "a draft model for this drafter");
    return model;
  };
  const auto chain = [&](llama_draft& model) {
    specdec::chain_drafter_options o;
    o.gamma = setup.gamma;
    o.params = setup.draft_params;
    if (sampled) {
      specdec::chain_drafter<llama_draft, draft_scheme::sampled_chain> d(model, o);
      specdec::chain_verifier v;
      f(d, v);
    } else {
      specdec::chain_drafter<llama_draft, draft_scheme::deterministic> d(model, o);
      specdec::one_hot_verifier v;
      f(d, v);
    }
  };
  if (name == "autoregressive") {
    specdec::no_drafter d;
    specdec::one_hot_verifier v;
    f(d, v);
  } else if (name == "draft-chain") {
    chain(*require(setup.draft, "draft model"));
  } else if (name == "draft-model-chain") {
    chain(*require(setup.distilled, "distilled draft model"));
  } else if (name == "layer-skip") {
    chain(*require(setup.layer_skip, "layer-skip model"));
  } else if (name == "layer-skip-tree") {
    llama_target* target = setup.target;
    specdec::expects(target != nullptr, "target", "none", "the target model (setup.target) for layer-skip-tree");
    specdec::layer_skip_heads<llama_target> heads(*target, std::min(setup.skip_layers, target->num_layers()), 8);
    specdec::clover_growth_options o;
    o.candidates = 4;
    o.top_p = 0.9;
    o.total_nodes = setup.tree_nodes;
    o.max_depth = setup.tree_depth;
    specdec::head_drafter_options h;
    h.params = setup.draft_params;
    if (sampled) {
      specdec::head_drafter<specdec::layer_skip_heads<llama_target>, specdec::clover_growth, draft_scheme::sampled_without_replacement> d(
          heads, specdec::clover_growth(o), h);
      specdec::rrs_verifier v;
      f(d, v);
    } else {
      specdec::head_drafter<specdec::layer_skip_heads<llama_target>, specdec::clover_growth> d(heads, specdec::clover_growth(o), h);
      specdec::greedy_verifier v;
      f(d, v);
    }
  } else if (name == "draft-tree" || name == "draft-model") {
    llama_draft& model = name == "draft-tree" ? *require(setup.draft, "draft model") : *require(setup.distilled, "distilled draft model");
    if (sampled) {
      specdec::sampled_tree_options o;
      o.branching = setup.branching;
      o.params = setup.draft_params;
      specdec::sampled_tree_drafter<llama_draft, draft_scheme::sampled_without_replacement> d(model, o);
      specdec::rrs_verifier v;
      f(d, v);
    } else {
      specdec::dynamic_tree_params p;
      p.top_k = setup.tree_top_k;
      p.max_depth = setup.tree_depth;
      p.total_nodes = setup.tree_nodes;
      specdec::dynamic_tree_drafter<llama_draft> d(model, p);
      specdec::greedy_verifier v;
      f(d, v);
    }
  } else if (name == "lookup") {
    specdec::prompt_lookup_drafter d;
    specdec::one_hot_verifier v;
    f(d, v);
  } else if (name == "ngram") {
    specdec::ngram_cache_drafter d;
    specdec::one_hot_verifier v;
    f(d, v);
  } else if (name == "suffix") {
    specdec::suffix_tree_drafter d;
    specdec::one_hot_verifier v;
    f(d, v);
#if SPECDEC_LLAMA_HEADS
  } else if (name == "medusa" || name == "hydra" || name == "clover" || name == "eagle") {
    const auto run = [&](auto& heads, auto growth) {
      using heads_type = std::remove_reference_t<decltype(heads)>;
      using growth_type = decltype(growth);
      specdec::head_drafter_options h;
      h.params = setup.draft_params;
      if (sampled) {
        specdec::head_drafter<heads_type, growth_type, draft_scheme::sampled_without_replacement> d(heads, growth, h);
        specdec::rrs_verifier v;
        f(d, v);
      } else {
        specdec::head_drafter<heads_type, growth_type> d(heads, growth, h);
        specdec::greedy_verifier v;
        f(d, v);
      }
    };
    const auto need = [](auto* backend, const char* what) {
      specdec::expects(backend != nullptr, what, "none", "trained heads for this drafter (see training/README.md)");
      return backend;
    };
    if (name == "medusa") {
      specdec::medusa_heads<medusa_backend> heads(*need(setup.medusa, "setup.medusa"));
      if (setup.medusa_choices) {
        run(heads, specdec::static_growth(*setup.medusa_choices));
      } else {
        run(heads, specdec::top_k_growth(setup.head_branching, setup.tree_nodes));
      }
    } else if (name == "hydra") {
      run(*need(setup.hydra, "setup.hydra"), specdec::top_k_growth(setup.head_branching, setup.tree_nodes));
    } else if (name == "clover") {
      specdec::clover_growth_options o;
      o.candidates = 4;
      o.top_p = 0.9;
      o.total_nodes = setup.tree_nodes;
      o.max_depth = setup.tree_depth;
      run(*need(setup.clover, "setup.clover"), specdec::clover_growth(o));
    } else {
      specdec::dynamic_tree_params p;
      p.top_k = setup.tree_top_k;
      p.max_depth = setup.tree_depth;
      p.total_nodes = setup.tree_nodes;
      run(*need(setup.eagle, "setup.eagle"), specdec::eagle2_growth(p));
    }
#endif
  } else {
    return false;
  }
  return true;
}

} // namespace llama
