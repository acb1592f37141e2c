// The llama2.c backend on the real stories260K: greedy ids of the model's README, the tokenizer on its
// vocabulary, and the batched tree forward against sequential single-token evaluation (chains, bushy
// trees, ragged batches, after commits through keep-lists), the partial forward and the capabilities.
#include <specdec/specdec.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "llama_draft.hpp"
#include "llama_target.hpp"
#include "model_files.hpp"
#include "support/catch.hpp"

using llama::llama_draft;
using llama::llama_target;
using specdec::index_t;
using specdec::token_id;

namespace {

const std::vector<token_id> readme_ids{403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
                                       315, 421, 395, 317, 426, 338, 401, 396, 267, 337};
const char* const readme_text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

// The next-token logits after `tokens`, evaluated one token at a time (the sequential reference).
std::vector<float> sequential_logits(const std::vector<token_id>& tokens, index_t layers = 0) {
  llama_draft model(llama_test::stories260k(), layers);
  std::vector<float> logits(static_cast<std::size_t>(model.vocab_size()));
  for (const token_id t : tokens) model.extend(0, std::span<const token_id>(&t, 1), logits);
  return logits;
}

double relative_error(std::span<const float> a, std::span<const float> b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

// The tokens from the root to node i (root first).
std::vector<token_id> path_to(const specdec::token_tree_view& tree, std::int32_t node) {
  std::vector<token_id> path;
  for (std::int32_t v = node; v >= 0; v = tree.parent(v)) path.insert(path.begin(), tree.token(v));
  return path;
}

// A flattened batch of trees, as the decoder hands it to the target.
struct flat_batch {
  specdec::token_tree_batch trees;
  std::vector<specdec::request_id> requests;
  std::vector<std::int32_t> committed, positions;
  std::vector<std::uint32_t> mask;
  index_t words = 1;

  specdec::tree_forward_batch view() {
    const specdec::token_tree_batch_view t = trees.view();
    index_t largest = 1;
    for (index_t b = 0; b < t.batch_size(); ++b) largest = std::max(largest, t.offsets().size(b));
    words = (largest + 31) / 32;
    positions.resize(static_cast<std::size_t>(t.total_nodes()));
    mask.assign(static_cast<std::size_t>(t.total_nodes() * words), 0u);
    specdec::position_ids(t, std::span<const std::int32_t>(committed), std::span<std::int32_t>(positions));
    specdec::ancestor_mask_packed(t, specdec::matrix_view<std::uint32_t>(mask.data(), t.total_nodes(), words));
    specdec::tree_forward_batch b;
    b.requests = requests;
    b.trees = t;
    b.committed = committed;
    b.positions = positions;
    b.mask = specdec::const_matrix_view<std::uint32_t>(mask.data(), t.total_nodes(), words);
    return b;
  }
};

// A random tree of `nodes` nodes: each node's parent drawn among the earlier nodes (bushy), or a chain.
specdec::token_tree make_tree(token_id root, index_t nodes, bool chain, std::uint64_t seed) {
  specdec::token_tree tree(root);
  const specdec::random_address a{seed, 0, 0, 0, specdec::purpose::draft_sample};
  for (index_t i = 1; i < nodes; ++i) {
    const auto parent = static_cast<std::int32_t>(chain ? i - 1 : a.word(static_cast<std::uint32_t>(2 * i)) % static_cast<std::uint32_t>(i));
    tree.add_child(parent, static_cast<token_id>(3 + a.word(static_cast<std::uint32_t>(2 * i + 1)) % 509));
  }
  return tree;
}

// Checks every node's logits (rows [first, first + tree size)) against the sequential reference.
void check_tree_logits(const std::vector<token_id>& context, const specdec::token_tree_view& tree, const std::vector<float>& logits,
                       index_t first, index_t vocab, index_t layers = 0) {
  for (std::int32_t i = 0; i < tree.size(); ++i) {
    std::vector<token_id> tokens = context;
    const std::vector<token_id> path = path_to(tree, i);
    tokens.insert(tokens.end(), path.begin(), path.end());
    const std::vector<float> reference = sequential_logits(tokens, layers);
    const double error = relative_error(std::span<const float>(logits).subspan(static_cast<std::size_t>((first + i) * vocab),
                                                                               static_cast<std::size_t>(vocab)),
                                        reference);
    INFO("node " << i << " of " << tree.size() << " (depth " << tree.depth(i) << "), context " << context.size());
    REQUIRE(error < 1e-4);
  }
}

} // namespace

TEST_CASE("stories260K loads with the README's shape") {
  const llama::llama_config& c = llama_test::stories260k().config();
  CHECK(c.dim == 64);
  CHECK(c.hidden_dim == 172);
  CHECK(c.n_layers == 5);
  CHECK(c.n_heads == 8);
  CHECK(c.n_kv_heads == 4);  // grouped-query attention: two query heads per KV head
  CHECK(c.vocab_size == 512);
  CHECK(c.seq_len == 512);
  CHECK(c.shared_classifier);
  CHECK(c.weight_floats() == 264128);  // the README's count; 28 + 4 * 264128 = 1,056,540 bytes
}

TEST_CASE("greedy decoding from BOS reproduces the README's ids and sentence") {
  llama_target target(llama_test::stories260k());
  specdec::autoregressive_decoder<llama_target> decoder(target);
  specdec::request_options options;
  options.params = specdec::sampling_params::make_greedy();
  options.max_new_tokens = 31;
  const std::vector<token_id> bos{1};
  const std::vector<token_id> ids = decoder.generate(bos, options);
  REQUIRE(std::vector<token_id>(ids.begin(), ids.begin() + 20) == readme_ids);
  CHECK(llama_test::tok512().decode(std::span<const token_id>(ids).first(20)) ==
        "Once upon a time, there was a little girl named Lily. She loved to play");
  CHECK(llama_test::tok512().decode(ids) == readme_text);  // the README's sentence is the first 31 tokens
}

TEST_CASE("the tokenizer encodes the README's sentence to its ids and round-trips text") {
  const llama::tokenizer& tok = llama_test::tok512();
  REQUIRE(tok.vocab_size() == 512);
  const std::vector<token_id> encoded = tok.encode(readme_text);
  REQUIRE(encoded.size() == 32);
  CHECK(encoded[0] == 1);
  CHECK(std::vector<token_id>(encoded.begin() + 1, encoded.begin() + 21) == readme_ids);
  for (const char* text : {"Once upon a time", "Tom and Sam went to the big red park!", "x", "  two  spaces\nand a newline",
                           "Caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x99\x82 <0x41> 123", ""}) {
    const std::vector<token_id> ids = tok.encode(text);
    INFO(text);
    CHECK(tok.decode(ids) == text);
    for (const token_id t : ids) CHECK((t >= 0 && t < 512));
  }
  // Byte fallback: a code point outside the vocabulary becomes its UTF-8 bytes (id = byte + 3).
  const std::vector<token_id> snowman = tok.encode("\xe2\x98\x83", false);
  CHECK(snowman == std::vector<token_id>{410, 0xe2 + 3, 0x98 + 3, 0x83 + 3});  // 410 is the dummy-prefix " "
  CHECK(tok.decode(2, 3 + 0x41) == "A");
  REQUIRE_THROWS_AS(tok.decode(1, 512), specdec::invalid_argument);
}

TEST_CASE("the tree forward equals sequential single-token logits, for chains, bushy trees and batches, after commits") {
  const llama::llama_model& model = llama_test::stories260k();
  const index_t vocab = model.config().vocab_size;
  llama_target target(model);
  std::vector<token_id> context0 = llama_test::tok512().encode("Lily and Ben found a shiny key");
  std::vector<token_id> context1{1, 403, 407, 261};
  target.prefill(0, context0);
  target.prefill(3, context1);
  context0.pop_back();
  context1.pop_back();
  token_id root0 = llama_test::tok512().encode("Lily and Ben found a shiny key").back(), root1 = 261;

  for (int step = 0; step < 3; ++step) {
    INFO("step " << step);
    flat_batch batch;
    const specdec::token_tree bushy = make_tree(root0, step == 1 ? 40 : 24, false, 11 + static_cast<std::uint64_t>(step));
    const specdec::token_tree chain = make_tree(root1, 12, true, 21 + static_cast<std::uint64_t>(step));
    batch.trees.push_back(bushy);
    batch.trees.push_back(chain);
    batch.requests = {0, 3};
    batch.committed = {static_cast<std::int32_t>(context0.size()), static_cast<std::int32_t>(context1.size())};
    const specdec::tree_forward_batch forward = batch.view();
    std::vector<float> logits(static_cast<std::size_t>(forward.total_nodes() * vocab));
    target.forward(forward, specdec::matrix_view<float>(logits.data(), forward.total_nodes(), vocab));
    check_tree_logits(context0, bushy, logits, 0, vocab);
    check_tree_logits(context1, chain, logits, bushy.view().size(), vocab);

    // Commit the deepest path of the bushy tree (its nodes are rarely at slot = depth: real moves) and
    // three drafts of the chain; the next roots are arbitrary "bonus" tokens.
    std::int32_t deepest = 0;
    for (std::int32_t i = 0; i < bushy.view().size(); ++i) deepest = bushy.view().depth(i) > bushy.view().depth(deepest) ? i : deepest;
    std::vector<std::int32_t> path;
    for (std::int32_t v = deepest; v != 0; v = bushy.view().parent(v)) path.insert(path.begin(), v);
    std::vector<specdec::kv_move> moves(path.size());
    const index_t count = specdec::keep_list(bushy, path, static_cast<index_t>(context0.size()), moves);
    CHECK(count > 0);
    specdec::kv_commit c;
    c.request = 0;
    c.committed_before = static_cast<index_t>(context0.size());
    c.committed_after = specdec::committed_kv_length(c.committed_before, static_cast<index_t>(path.size()));
    c.moves = std::span<const specdec::kv_move>(moves.data(), static_cast<std::size_t>(count));
    target.commit(c);
    const std::vector<token_id> kept = path_to(bushy, deepest);
    context0.insert(context0.end(), kept.begin(), kept.end());
    root0 = static_cast<token_id>(300 + step);

    const std::vector<std::int32_t> chain_path{1, 2, 3};
    specdec::kv_commit c1;
    c1.request = 3;
    c1.committed_before = static_cast<index_t>(context1.size());
    c1.committed_after = c1.committed_before + 4;
    target.commit(c1);  // a chain's prefix is already in place: no moves
    const std::vector<token_id> kept1 = path_to(chain, 3);
    context1.insert(context1.end(), kept1.begin(), kept1.end());
    root1 = static_cast<token_id>(270 + step);
    REQUIRE(target.length(0) == static_cast<index_t>(context0.size()));
    REQUIRE(target.length(3) == static_cast<index_t>(context1.size()));
  }
}

TEST_CASE("the partial forward equals a layers-deep model and leaves the committed cache alone; capabilities agree") {
  const llama::llama_model& model = llama_test::stories260k();
  const index_t vocab = model.config().vocab_size;
  llama_target target(model);
  std::vector<token_id> context{1, 403, 407, 261, 378};
  target.prefill(0, context);
  const token_id root = context.back();
  context.pop_back();
  flat_batch batch;
  const specdec::token_tree tree = make_tree(root, 10, false, 5);
  batch.trees.push_back(tree);
  batch.requests = {0};
  batch.committed = {static_cast<std::int32_t>(context.size())};
  const specdec::tree_forward_batch forward = batch.view();
  std::vector<float> logits(static_cast<std::size_t>(forward.total_nodes() * vocab));
  const specdec::matrix_view<float> out(logits.data(), forward.total_nodes(), vocab);
  for (const index_t layers : {1, 2, 4}) {
    target.forward_partial(forward, layers, out);
    check_tree_logits(context, tree, logits, 0, vocab, layers);
  }
  REQUIRE(target.length(0) == static_cast<index_t>(context.size()));
  target.forward(forward, out);  // the full forward still sees an intact committed cache
  check_tree_logits(context, tree, logits, 0, vocab);

  // The LM head on the last hidden states reproduces the forward's logits; embeddings are the table rows.
  const specdec::const_matrix_view<float> hidden = target.last_hidden_states();
  REQUIRE(hidden.rows() == forward.total_nodes());
  REQUIRE(hidden.cols() == target.hidden_size());
  std::vector<float> again(logits.size());
  target.apply_lm_head(hidden, specdec::matrix_view<float>(again.data(), forward.total_nodes(), vocab));
  CHECK(relative_error(again, logits) < 1e-6);
  std::vector<float> embedded(2 * 64);
  const std::vector<token_id> two{5, 403};
  target.embed(two, specdec::matrix_view<float>(embedded.data(), 2, 64));
  CHECK(std::equal(embedded.begin() + 64, embedded.end(), model.token_embedding() + 403 * 64));
  REQUIRE_INVALID_ARGUMENT("layers = 6", target.forward_partial(forward, 6, out));
}

TEST_CASE("the draft model's tree evaluation equals sequential logits and rolls back") {
  const llama::llama_model& model = llama_test::stories260k();
  const index_t vocab = model.config().vocab_size;
  llama_draft draft(model, 3);
  const std::vector<token_id> prompt{1, 403, 407, 261};
  std::vector<float> next(static_cast<std::size_t>(vocab));
  draft.extend(2, prompt, next);
  CHECK(relative_error(next, sequential_logits(prompt, 3)) < 1e-4);
  const specdec::token_tree tree = make_tree(261, 20, false, 9);
  std::vector<float> logits(static_cast<std::size_t>(20 * vocab));
  // In two calls, as EAGLE-2 drafting evaluates a tree level by level.
  const specdec::token_tree_view view = tree.view();
  const specdec::token_tree_view top(view.tokens().data(), view.parents().data(), view.depths().data(), 8);
  draft.extend_tree(2, top, 1, specdec::matrix_view<float>(logits.data() + vocab, 7, vocab));
  draft.extend_tree(2, tree, 8, specdec::matrix_view<float>(logits.data() + 8 * vocab, 12, vocab));
  const std::vector<token_id> context(prompt.begin(), prompt.end() - 1);
  for (std::int32_t i = 1; i < 20; ++i) {
    std::vector<token_id> tokens = context;
    const std::vector<token_id> path = path_to(tree, i);
    tokens.insert(tokens.end(), path.begin(), path.end());
    INFO("node " << i);
    CHECK(relative_error(std::span<const float>(logits).subspan(static_cast<std::size_t>(i * vocab), static_cast<std::size_t>(vocab)),
                         sequential_logits(tokens, 3)) < 1e-4);
  }
  CHECK(draft.length(2) == 4 + 19);
  draft.rollback(2, 4);
  const token_id t = 378;
  draft.extend(2, std::span<const token_id>(&t, 1), next);
  CHECK(relative_error(next, sequential_logits({1, 403, 407, 261, 378}, 3)) < 1e-4);
}

TEST_CASE("after prefill the hidden states are the prompt's cached tokens, across prefill chunks") {
  const llama::llama_model& model = llama_test::stories260k();
  const index_t vocab = model.config().vocab_size;
  llama_target target(model);
  std::vector<token_id> prompt{1};
  for (int i = 0; i < 150; ++i) prompt.push_back(static_cast<token_id>(260 + (i * 37) % 250));  // 151 tokens: two chunks
  target.prefill(0, prompt);
  const specdec::const_matrix_view<float> hidden = target.last_hidden_states();
  REQUIRE(hidden.rows() == static_cast<index_t>(prompt.size()) - 1);
  REQUIRE(hidden.cols() == target.hidden_size());
  // Row i through the LM head is the next-token distribution after prompt[0..i].
  std::vector<float> row(static_cast<std::size_t>(vocab));
  for (const index_t i : {0, 1, 127, 128, 149}) {
    target.apply_lm_head(hidden.middle_rows(i, 1), specdec::matrix_view<float>(row.data(), 1, vocab));
    const std::vector<token_id> prefix(prompt.begin(), prompt.begin() + i + 1);
    INFO("row " << i);
    CHECK(relative_error(row, sequential_logits(prefix)) < 1e-4);
  }
  // A one-token prompt caches nothing: no rows.
  target.prefill(1, std::vector<token_id>{1});
  REQUIRE(target.last_hidden_states().rows() == 0);
}
