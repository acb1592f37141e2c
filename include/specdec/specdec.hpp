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

#include "specdec/tree/sibling_links.hpp"
#include "specdec/tree/token_tree.hpp"
#include "specdec/tree/token_tree_batch.hpp"

#include "specdec/verify/chain_verifier.hpp"
#include "specdec/verify/greedy_verifier.hpp"
#include "specdec/verify/multi_draft_verifier.hpp"
#include "specdec/verify/one_hot_verifier.hpp"
#include "specdec/verify/rrs_verifier.hpp"
#include "specdec/verify/typical_acceptance_verifier.hpp"
#include "specdec/verify/verifier.hpp"
#include "specdec/verify/verify_batch.hpp"
#include "specdec/verify/verify_input.hpp"
#include "specdec/verify/verify_result.hpp"
