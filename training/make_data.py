"""Self-distillation data: sequences sampled from the target itself at T = 1, with the target's
final-norm hidden states at every position (what the C++ backend's `last_hidden_states()` gives the
head drafters). Half start from BOS alone, half from short text prompts (through tok512.bin) that are
not among the evaluation prompts of scripts/results or tests/llama. A fixed seed; a seeded split into
train and held-out sequences. Writes a torch file with tokens [N, L] (int64), hidden [N, L, dim]
(float32) and split (bool: held out).

    python3 training/make_data.py --models DIR --out build/training/data.pt [--sequences 2304 --length 160]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama2c  # noqa: E402

TRAIN_PROMPTS = ["The boy", "A girl named Mia", "Once there was a", "In a small town, there lived", "The bird flew",
                 "Mom said,", "It was a rainy day.", "The old tree", "A little mouse", "Anna and her friend",
                 "The dog ran to the", "Tim wanted to"]


@torch.no_grad()
def sample(model, prompts, length, gen):
    """One continuation per prompt to `length` tokens at T = 1, all in one batch with a KV cache:
    row i follows prompts[i] while t < len(prompts[i]) (forced), then samples. Returns tokens
    [N, length] and hidden [N, length, dim] (hidden[:, t] is the state over tokens[:, :t + 1])."""
    n = len(prompts)
    forced = torch.full((n, length), -1, dtype=torch.long)
    for i, p in enumerate(prompts):
        forced[i, :len(p)] = torch.tensor(p)
    tokens = forced[:, :1].clone()
    h, logits, caches = model(tokens, 0, None)
    hidden = [h]
    for t in range(1, length):
        nxt = torch.multinomial(torch.softmax(logits[:, -1], dim=-1), 1, generator=gen)
        nxt = torch.where(forced[:, t:t + 1] >= 0, forced[:, t:t + 1], nxt)
        tokens = torch.cat((tokens, nxt), dim=1)
        h, logits, caches = model(nxt, t, caches)
        hidden.append(h)
    return tokens, torch.cat(hidden, dim=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sequences", type=int, default=2304)
    ap.add_argument("--length", type=int, default=160)
    ap.add_argument("--held-out", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    torch.set_num_threads(llama2c.threads())
    t0 = time.time()
    model = llama2c.load(os.path.join(a.models, "stories260K.bin"))
    tok = llama2c.Tokenizer(os.path.join(a.models, "tok512.bin"))
    gen = torch.Generator().manual_seed(a.seed)
    prompts = [[1]] * len(TRAIN_PROMPTS) + [tok.encode(p) for p in TRAIN_PROMPTS]  # half from BOS alone
    rows = [prompts[i % len(prompts)] for i in range(a.sequences)]
    tokens, hidden = sample(model, rows, a.length, gen)
    order = torch.randperm(tokens.shape[0], generator=gen)
    tokens, hidden = tokens[order], hidden[order]
    held = torch.zeros(tokens.shape[0], dtype=torch.bool)
    held[: int(round(a.held_out * tokens.shape[0]))] = True
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"tokens": tokens, "hidden": hidden, "held_out": held, "seed": a.seed}, a.out)
    print(f"make_data: {tokens.shape[0]} sequences x {a.length} tokens ({int(held.sum())} held out), "
          f"seed {a.seed}, {time.time() - t0:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
