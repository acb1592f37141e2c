// specdec-generate: speculative decoding of a llama2.c checkpoint from the command line.
//
//   specdec-generate --model stories260K.bin --tokenizer tok512.bin --drafter draft-tree --prompt "Once upon a time" --stats
//
// Prints the continuation (text with a tokenizer, else ids) as it is generated, a progress line on
// stderr during long runs, and with --stats a table: tokens per step (tau), acceptance per depth,
// tokens/s and where the time went.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <specdec/specdec.hpp>

#include "drafter_registry.hpp"
#include "llama_draft.hpp"
#include "llama_model.hpp"
#include "llama_target.hpp"
#include "tokenizer.hpp"

namespace {

struct settings {
  std::string model, draft_model, tokenizer, drafter = "draft-tree", prompt, trained = SPECDEC_TRAINED_DIR;
  float temperature = 0.0f, top_p = 1.0f;
  int top_k = 0;
  std::uint64_t seed = 1;
  specdec::index_t max_tokens = 256, gamma = 4, draft_layers = 0;
  bool stats = false;
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: specdec-generate --model PATH [options]\n"
               "  --model PATH         llama2.c checkpoint (the target)\n"
               "  --draft-model PATH   llama2.c checkpoint that drafts for draft-chain / draft-tree (same\n"
               "                       tokenizer; default: the target itself)\n"
               "  --draft-layers N     layer-skip: draft with the target's first N layers (default: half)\n"
               "  --trained DIR        the trained drafters (medusa, hydra, clover, eagle, draft-model) (default: the source\n"
               "                       tree's training/trained)\n"
               "  --tokenizer PATH     llama2.c tokenizer.bin: text prompts and text output (else ids)\n"
               "  --drafter NAME       one of (default draft-tree):\n%s"
               "  --gamma N            chain length of draft-chain / layer-skip (default 4)\n"
               "  --temperature T      0 is greedy (default 0)\n"
               "  --top-p P            nucleus filter, (0, 1] (default 1: off)\n"
               "  --top-k K            top-k filter (default 0: off)\n"
               "  --seed N             Philox key of every random decision (default 1)\n"
               "  --max-tokens N       tokens to generate (default 256; a generated BOS ends the story)\n"
               "  --prompt TEXT|IDS    text (needs --tokenizer) or comma-separated ids; BOS is prepended to\n"
               "                       text; default: BOS alone\n"
               "  --stats              print tau, acceptance per depth, tokens/s and the time split\n"
               "  --help               this text\n",
               llama::drafter_help());
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "specdec-generate: %s\n", message.c_str());
  std::exit(2);
}

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg + " needs a value (see --help)");
      return argv[++i];
    };
    const auto number = [&](const std::string& v) {
      try {
        std::size_t used = 0;
        const double x = std::stod(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return x;
      } catch (const std::exception&) {
        fail(arg + " = '" + v + "' is not a number");
      }
    };
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--model") {
      s.model = value();
    } else if (arg == "--draft-model") {
      s.draft_model = value();
    } else if (arg == "--trained") {
      s.trained = value();
    } else if (arg == "--tokenizer") {
      s.tokenizer = value();
    } else if (arg == "--drafter") {
      s.drafter = value();
    } else if (arg == "--prompt") {
      s.prompt = value();
    } else if (arg == "--temperature") {
      s.temperature = static_cast<float>(number(value()));
    } else if (arg == "--top-p") {
      s.top_p = static_cast<float>(number(value()));
    } else if (arg == "--top-k") {
      s.top_k = static_cast<int>(number(value()));
    } else if (arg == "--seed") {
      s.seed = static_cast<std::uint64_t>(number(value()));
    } else if (arg == "--max-tokens") {
      s.max_tokens = static_cast<specdec::index_t>(number(value()));
    } else if (arg == "--gamma") {
      s.gamma = static_cast<specdec::index_t>(number(value()));
    } else if (arg == "--draft-layers") {
      s.draft_layers = static_cast<specdec::index_t>(number(value()));
    } else if (arg == "--stats") {
      s.stats = true;
    } else {
      fail("unknown option '" + arg + "' (see --help)");
    }
  }
  if (s.model.empty()) fail("--model is required (see --help)");
  return s;
}

// Comma-separated ids, or nothing when `text` is not such a list.
std::optional<std::vector<specdec::token_id>> parse_ids(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789, ") != std::string::npos) return std::nullopt;
  std::vector<specdec::token_id> ids;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, end - at);
    if (item.find_first_of("0123456789") == std::string::npos) return std::nullopt;
    ids.push_back(static_cast<specdec::token_id>(std::stol(item)));
    at = end + 1;
  }
  return ids;
}

void print_stats(const specdec::decode_stats& st, double seconds) {
  std::printf("\n---- stats\n");
  std::printf("tokens %llu in %llu steps: tau = %.3f tokens per target forward; draft acceptance %.3f\n",
              static_cast<unsigned long long>(st.tokens), static_cast<unsigned long long>(st.request_steps), st.tokens_per_step(),
              st.draft_acceptance());
  std::printf("acceptance per depth:");
  for (std::size_t d = 1; d <= st.depth_judged.size(); ++d) std::printf(" %zu:%.2f", d, st.acceptance_at(static_cast<specdec::index_t>(d)));
  std::printf("\n%.1f tokens/s (%.3f s)\n", static_cast<double>(st.tokens) / seconds, seconds);
  const double total = st.draft_seconds + st.target_seconds + st.verify_seconds + st.bookkeeping_seconds;
  const auto share = [&](double x) { return total > 0 ? 100.0 * x / total : 0.0; };
  std::printf("time split: draft %.1f%%  target %.1f%%  verify %.1f%%  commit+bookkeeping %.1f%%\n", share(st.draft_seconds),
              share(st.target_seconds), share(st.verify_seconds), share(st.bookkeeping_seconds));
}

} // namespace

int main(int argc, char** argv) {
  const settings s = parse(argc, argv);
  try {
    const llama::llama_model model = llama::llama_model::load(s.model);
    std::optional<llama::tokenizer> tok;
    if (!s.tokenizer.empty()) {
      tok = llama::tokenizer::load(s.tokenizer);
      specdec::expects(tok->vocab_size() == model.config().vocab_size, "tokenizer vocab_size", tok->vocab_size(),
                       "== the model's vocab_size");
    }
    std::vector<specdec::token_id> prompt{llama::tokenizer::bos};
    if (const auto ids = parse_ids(s.prompt)) {
      prompt = *ids;
    } else if (!s.prompt.empty()) {
      if (!tok) fail("a text prompt needs --tokenizer (or pass comma-separated ids)");
      prompt = tok->encode(s.prompt);
    }
    std::optional<llama::llama_model> draft_checkpoint;
    if (!s.draft_model.empty()) draft_checkpoint = llama::llama_model::load(s.draft_model);
    const llama::llama_model& draft_weights = draft_checkpoint ? *draft_checkpoint : model;
    const specdec::index_t skip_layers = s.draft_layers > 0 ? s.draft_layers : std::max<specdec::index_t>(1, model.config().n_layers / 2);

    llama::llama_target target(model);
    llama::llama_draft draft(draft_weights);
    llama::llama_draft layer_skip(model, std::min(skip_layers, model.config().n_layers));
    llama::drafter_setup setup;
    setup.draft = &draft;
    setup.layer_skip = &layer_skip;
    setup.target = &target;
    setup.skip_layers = std::min(skip_layers, model.config().n_layers);
    setup.gamma = s.gamma;
    std::optional<llama::llama_model> distilled_model;
    std::optional<llama::llama_draft> distilled;
    if (s.drafter == "draft-model" || s.drafter == "draft-model-chain") {
      distilled_model = llama::llama_model::load(s.trained + "/draft.bin");
      distilled.emplace(*distilled_model);
      setup.distilled = &*distilled;
    }
#if SPECDEC_LLAMA_HEADS
    std::optional<llama::medusa_backend> medusa;
    std::optional<llama::hydra_backend> hydra;
    if (s.drafter == "medusa") medusa.emplace(llama::safetensors::load(s.trained + "/medusa.safetensors"), model);
    if (s.drafter == "hydra") hydra.emplace(llama::safetensors::load(s.trained + "/hydra.safetensors"), model);
    std::optional<llama::clover_backend> clover;
    std::optional<llama::eagle_backend> eagle;
    if (s.drafter == "clover") clover.emplace(llama::safetensors::load(s.trained + "/clover.safetensors"), model);
    if (s.drafter == "eagle") eagle.emplace(llama::safetensors::load(s.trained + "/eagle.safetensors"), model);
    setup.medusa = medusa ? &*medusa : nullptr;
    setup.hydra = hydra ? &*hydra : nullptr;
    setup.clover = clover ? &*clover : nullptr;
    setup.eagle = eagle ? &*eagle : nullptr;
#endif

    specdec::request_options options;
    options.params.temperature = s.temperature;
    options.params.top_p = s.top_p;
    if (s.top_k > 0) options.params.top_k = s.top_k;
    options.seed = s.seed;
    options.max_new_tokens = std::min(s.max_tokens, target.max_context_length() - static_cast<specdec::index_t>(prompt.size()));
    options.stop_tokens = {llama::tokenizer::bos};
    setup.draft_params = options.params;
    const bool sampled = s.temperature > 0.0f;

    if (tok) std::printf("%s", tok->decode(prompt).c_str());
    std::fflush(stdout);
    const bool known = llama::with_drafter(s.drafter, sampled, setup, [&](auto& drafter, auto& verifier) {
      specdec::speculative_decoder decoder(target, drafter, verifier);
      const auto start = std::chrono::steady_clock::now();
      auto last_progress = start;
      decoder.add_request(0, prompt, options);
      std::size_t printed = 0;
      specdec::token_id previous = prompt.back();
      while (decoder.status(0) == specdec::finish_reason::running) {
        decoder.step();
        const std::span<const specdec::token_id> out = decoder.tokens(0);
        for (; printed < out.size(); ++printed) {
          if (tok) {
            std::printf("%s", tok->decode(previous, out[printed]).c_str());
          } else {
            std::printf("%s%d", printed == 0 ? "" : ",", out[printed]);
          }
          previous = out[printed];
        }
        std::fflush(stdout);
        const auto now = std::chrono::steady_clock::now();
        if (now - last_progress > std::chrono::seconds(2)) {
          const double t = std::chrono::duration<double>(now - start).count();
          std::fprintf(stderr, "\r[%zu tokens, %.1f tokens/s, tau %.2f]", out.size(), static_cast<double>(out.size()) / t,
                       decoder.stats().tokens_per_step());
          last_progress = now;
        }
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("\n");
      if (s.stats) print_stats(decoder.stats(), seconds);
      decoder.release(0);
    });
    if (!known) fail("unknown drafter '" + s.drafter + "' (see --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "specdec-generate: %s\n", e.what());
    return 1;
  }
  return 0;
}
