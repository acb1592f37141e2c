//! Umbrella header: every host-side part of specdec. CUDA kernels live behind <specdec/cuda.cuh>.
#pragma once

#include "specdec/version.hpp"

#include "specdec/core/config.hpp"
#include "specdec/core/error.hpp"
#include "specdec/core/matrix_view.hpp"
#include "specdec/core/philox.hpp"
#include "specdec/core/ragged.hpp"
#include "specdec/core/random.hpp"
#include "specdec/core/types.hpp"

#include "specdec/sampling/argmax.hpp"
#include "specdec/sampling/logits_processor.hpp"
#include "specdec/sampling/sample.hpp"
#include "specdec/sampling/sampling_params.hpp"
#include "specdec/sampling/softmax.hpp"

#include "specdec/tree/ancestor_mask.hpp"
#include "specdec/tree/chain_tree.hpp"
#include "specdec/tree/dynamic_tree_builder.hpp"
#include "specdec/tree/parent_rows.hpp"
#include "specdec/tree/position_ids.hpp"
#include "specdec/tree/root_to_leaf_paths.hpp"
#include "specdec/tree/sequence_trie_builder.hpp"
#include "specdec/tree/sequoia_planner.hpp"
#include "specdec/tree/sibling_links.hpp"
#include "specdec/tree/static_tree_builder.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"
#include "specdec/tree/tree_choices.hpp"
#include "specdec/tree/tree_layout_sizes.hpp"

#include "specdec/kv/keep_list.hpp"
#include "specdec/kv/paged_kv_cache.hpp"
#include "specdec/kv/strided_kv_cache.hpp"
