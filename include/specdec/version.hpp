//! The library version; CMake reads its project version from this file, so the two always agree.
#pragma once

#define SPECDEC_VERSION_MAJOR 0
#define SPECDEC_VERSION_MINOR 1
#define SPECDEC_VERSION_PATCH 0

//! The version as one integer, major * 10000 + minor * 100 + patch, for `#if` comparisons.
#define SPECDEC_VERSION (SPECDEC_VERSION_MAJOR * 10000 + SPECDEC_VERSION_MINOR * 100 + SPECDEC_VERSION_PATCH)
//! The version as "major.minor.patch".
#define SPECDEC_VERSION_STRING "0.1.0"
