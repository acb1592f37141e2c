//! Umbrella header for the conformance kit: statistics and toy models for proving an integration
//! lossless. Host only; not part of <specdec/specdec.hpp>, since engines need it in tests alone.
#pragma once

#include "specdec/specdec.hpp"

#include "specdec/testing/check_integration.hpp"
#include "specdec/testing/chi_square.hpp"
#include "specdec/testing/exact_step.hpp"
#include "specdec/testing/faults.hpp"
#include "specdec/testing/markov_model.hpp"
#include "specdec/testing/monte_carlo.hpp"
#include "specdec/testing/toy_backends.hpp"
#include "specdec/testing/toy_drafters.hpp"
#include "specdec/testing/toy_heads.hpp"
