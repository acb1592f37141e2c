//! The drafters specdec-generate, the llama tests and scripts/results offer by name, each paired with a
//! verifier that is lossless for how it drafts. Adding a drafter (Medusa or Clover heads, once trained
//! heads exist) is one name in `drafter_names()` and one branch in `with_drafter`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <specdec/specdec.hpp>

#include "llama_draft.hpp"
#include "llama_target.hpp"

namespace llama {

//! What the model-based drafters draft with, and their budgets.
struct drafter_setup {
  llama_draft* draft = nullptr;        //!< draft-chain / draft-tree: an independent checkpoint (or the target's own)
  llama_draft* layer_skip = nullptr;   //!< layer-skip: the target's first layers (a `llama_draft` with fewer layers)
  llama_target* target = nullptr;      //!< layer-skip-tree: the target itself, drafting through `forward_partial`
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
  static const std::vector<std::string> names{"autoregressive", "draft-chain", "draft-tree", "layer-skip", "layer-skip-tree", "lookup", "ngram", "suffix"};
  return names;
}

//! One line per drafter for --help.
inline const char* drafter_help() {
  return "  autoregressive  no drafts: one target forward per token (the baseline)\n"
         "  draft-chain     a draft model's chain (--draft-model; greedy chain + one-hot verification at T = 0,\n"
         "                  sampled chain + speculative sampling at T > 0)\n"
         "  draft-tree      a draft model's tree (EAGLE-2 top-k tree at T = 0; at T > 0 a tree sampled without\n"
         "                  replacement + recursive rejection sampling)\n"
         "  layer-skip      self-speculation: the target's first --draft-layers layers draft a chain\n"
         "  layer-skip-tree self-speculation through the library's head drafter: the target's first\n"
         "                  --draft-layers layers (its own cache, forward_partial) grow a Clover-policy tree;\n"
         "                  sampled without replacement + recursive rejection sampling at T > 0\n"
         "  lookup          prompt lookup (model-free)\n"
         "  ngram           n-gram cache (model-free, learns across requests)\n"
         "  suffix          suffix-tree speculation (model-free, learns across requests)\n";
}

//! Whether `name` needs `setup.draft` / `setup.layer_skip`.
inline bool needs_draft_model(std::string_view name) { return name == "draft-chain" || name == "draft-tree"; }
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
  } else if (name == "draft-tree") {
    llama_draft& model = *require(setup.draft, "draft model");
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
  } else {
    return false;
  }
  return true;
}

} // namespace llama
