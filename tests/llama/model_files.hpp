//! The real model of the llama tests: stories260K.bin and tok512.bin in SPECDEC_MODEL_DIR, loaded once.
#pragma once

#include <filesystem>
#include <string>

#include "llama_model.hpp"
#include "tokenizer.hpp"

namespace llama_test {

inline std::string model_dir() { return SPECDEC_MODEL_DIR; }
inline std::string model_path() { return model_dir() + "/stories260K.bin"; }
inline std::string tokenizer_path() { return model_dir() + "/tok512.bin"; }

//! Empty when both files exist, else why the real-model tests skip.
inline std::string missing_files() {
  for (const std::string& p : {model_path(), tokenizer_path()}) {
    if (!std::filesystem::is_regular_file(p)) {
      return p + " not found (set -DSPECDEC_MODEL_DIR to the folder of stories260K.bin and tok512.bin; see ../shared/models/README.md)";
    }
  }
  return {};
}

inline const llama::llama_model& stories260k() {
  static const llama::llama_model model = llama::llama_model::load(model_path());
  return model;
}
inline const llama::tokenizer& tok512() {
  static const llama::tokenizer t = llama::tokenizer::load(tokenizer_path());
  return t;
}

} // namespace llama_test
