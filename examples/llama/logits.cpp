// specdec-llama-logits: the C++ backend's final-norm hidden states and logits for given token ids, as
// raw float32 -- what training/check_twin.py compares the PyTorch twin against.
//
//   specdec-llama-logits MODEL IDS OUT
//
// IDS is a comma-separated list of token ids (n of them). OUT receives n rows, row i being the state
// and logits after ids[0..i]: `dim` floats of the final-norm hidden state, then `vocab_size` logits
// (little-endian float32, row-major). The ids go through one causal prefill, as decoding does.
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include <specdec/core/error.hpp>

#include "llama_model.hpp"
#include "llama_target.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: specdec-llama-logits MODEL IDS OUT (IDS: comma-separated token ids)\n");
    return 2;
  }
  try {
    const llama::llama_model model = llama::llama_model::load(argv[1]);
    std::vector<specdec::token_id> ids;
    const std::string list = argv[2];
    std::size_t at = 0;
    while (at <= list.size()) {
      const std::size_t end = std::min(list.find(',', at), list.size());
      const std::string item = list.substr(at, end - at);
      specdec::expects(!item.empty() && item.find_first_not_of("0123456789") == std::string::npos, "IDS item", item,
                       "a non-negative integer");
      ids.push_back(static_cast<specdec::token_id>(std::stol(item)));
      at = end + 1;
    }
    const auto n = static_cast<specdec::index_t>(ids.size());
    // Prefill caches every token but the last and keeps one state per cached token: append a dummy
    // token so that every given id gets its state.
    ids.push_back(0);
    llama::llama_target target(model);
    target.prefill(0, ids);
    const specdec::const_matrix_view<float> hidden = target.last_hidden_states();
    const specdec::index_t dim = target.hidden_size(), vocab = target.vocab_size();
    std::vector<float> logits(static_cast<std::size_t>(n * vocab));
    target.apply_lm_head(hidden, specdec::matrix_view<float>(logits.data(), n, vocab));
    std::ofstream out(argv[3], std::ios::binary);
    if (!out) throw specdec::runtime_error(std::string("specdec-llama-logits: cannot write '") + argv[3] + "'");
    for (specdec::index_t r = 0; r < n; ++r) {
      out.write(reinterpret_cast<const char*>(hidden.row_data(r)), static_cast<std::streamsize>(dim * sizeof(float)));
      out.write(reinterpret_cast<const char*>(logits.data() + r * vocab), static_cast<std::streamsize>(vocab * sizeof(float)));
    }
    if (!out) throw specdec::runtime_error(std::string("specdec-llama-logits: write to '") + argv[3] + "' failed");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "specdec-llama-logits: %s\n", e.what());
    return 1;
  }
  return 0;
}
