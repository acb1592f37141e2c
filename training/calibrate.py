"""Acceptance statistics of a trained head drafter, for planning static trees (Sequoia-style), measured
on the TRAINING split of make_data.py's data only (never the held-out sequences, never an evaluation
prompt). Teacher-forced along the stored sampled sequences, with the alignment train.py uses: from
context state h[t] with root x[t+1], depth d's logits are compared with the target's at position
t + 1 + d (its distribution of x[t+2+d] given the true sampled prefix tokens[:t + 2 + d]).

* greedy d r: the fraction of positions where the target's greedy token (argmax of W h[t+1+d], what a
  greedy verifier compares against) has rank r (0-based, 0 = the head's argmax) in the head's
  depth-d logits, r = 0 .. ranks - 1. Every training position.
* sampled d r: Sequoia's positional acceptance vector at T = 1 (Chen et al., 2024, sections 3.1 / 4):
  p = softmax(target logits), q = softmax(head logits); recursive rejection sampling with children
  drawn WITHOUT replacement from q (SpecInfer / Sequoia): child x ~ q, accepted with probability
  min(1, p(x) / q(x)); on rejection p <- norm(max(p - q, 0)), q <- q without x, renormalised; up to
  `children` children. The value is P(child r is the accepted one). A seeded subsample of training
  positions, `sims` draws each. Each draw samples the whole child order at once (Gumbel top-k over
  log q: the same law as drawing children one by one without replacement); the default estimator then
  adds the exact probability that child r is the accepted one given that order
  (prod_{j<r} (1 - a_j) * a_r, a_j = min(1, p_j(x_j) / q_j(x_j))), which has the same expectation as
  simulating the accept / reject coin flips (`--estimator coin`) and lower variance.

Writes a plain text file that C++ reads line by line: '#' comment lines, then `greedy <d> <r> <v>` and
`sampled <d> <r> <v>` (6 significant digits). Deterministic for a given seed and thread count.

    python3 training/calibrate.py --head training/trained/medusa.safetensors --data build/training/data.pt \\
        --models DIR --out training/trained/medusa_acceptance.txt
"""
import argparse
import hashlib
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heads as H  # noqa: E402
import llama2c  # noqa: E402


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@torch.no_grad()
def check_test_vectors(module, target, tests, path):
    """The loaded module reproduces the file's own test vectors (the loader round trip)."""
    tokens = tests["test.tokens"].round().long().unsqueeze(0)
    t = int(tests["test.context"].item())
    hidden, _, _ = target(tokens)
    got = torch.stack([lg[0, t] for lg in module.unroll(tokens, hidden)])
    want = tests["test.logits"]
    err = ((got - want).abs().amax(-1) / want.abs().amax(-1)).max().item()
    if err > 1e-4:
        raise SystemExit(f"calibrate: {path}: the loaded head does not reproduce its test vectors (relative error {err:.2e})")
    return err


def acceptance(p, q, children, gen, estimator):
    """Sum over rows of P(child r is the accepted one), r < children, for one draw per row: rows of p
    (target) and q (draft) are float64 probability vectors [n, V]."""
    n = p.shape[0]
    u = torch.rand(q.shape, generator=gen, dtype=q.dtype).clamp_min(1e-300)
    order = (q.log() - (-u.log()).log()).topk(children, dim=-1).indices  # Gumbel top-k: draws without replacement
    pc, qc = p.clone(), q.clone()
    alive = torch.ones(n, dtype=p.dtype)  # P(no earlier child accepted) (coin: 1 / 0)
    out = torch.zeros(children, dtype=torch.float64)
    for k in range(children):
        x = order[:, k:k + 1]
        px, qx = pc.gather(1, x)[:, 0], qc.gather(1, x)[:, 0]
        a = torch.where(qx > 0, (px / qx.clamp_min(1e-300)).clamp(max=1.0), torch.zeros_like(qx))
        if estimator == "coin":
            a = (torch.rand(n, generator=gen, dtype=p.dtype) < a).to(p.dtype)
        out[k] = (alive * a).sum()
        alive = alive * (1 - a)
        if k + 1 < children:
            r = (pc - qc).clamp_min(0)
            z = r.sum(-1, keepdim=True)
            pc = torch.where(z > 0, r / z.clamp_min(1e-300), pc)  # z = 0 only where p = q: then a = 1 above
            qc.scatter_(1, x, 0.0)
            qc = qc / qc.sum(-1, keepdim=True)
    return out


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--head", required=True, help="a head's safetensors file (heads.export); medusa, hydra or clover")
    ap.add_argument("--data", required=True, help="make_data.py's file; only its training split is read")
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ranks", type=int, default=10)
    ap.add_argument("--children", type=int, default=8)
    ap.add_argument("--positions", type=int, default=65536, help="training positions sampled for the T = 1 vector (0: all)")
    ap.add_argument("--sims", type=int, default=4, help="draws per sampled position")
    ap.add_argument("--estimator", choices=["expected", "coin"], default="expected")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64, help="sequences per forward pass")
    a = ap.parse_args()
    torch.set_num_threads(llama2c.threads())
    t0 = time.time()
    target = llama2c.load(os.path.join(a.models, "stories260K.bin"))
    module, meta, tests = H.load(a.head, target)
    if module.kind == "eagle":
        raise SystemExit("calibrate: EAGLE's deeper depths feed predicted features back; not teacher-forced here")
    err = check_test_vectors(module, target, tests, a.head)
    data = torch.load(a.data)
    train = ~data["held_out"]
    tokens, hidden = data["tokens"][train], data["hidden"][train]
    N, L = tokens.shape
    depth, V = module.depth, module.vocab
    T = L - depth - 1  # context positions t with every depth's target position t + 1 + d inside the sequence
    if T < 1:
        raise SystemExit(f"calibrate: sequences of {L} tokens are too short for depth {depth}")
    gen = torch.Generator().manual_seed(a.seed)
    total = N * T
    npos = total if a.positions <= 0 else min(a.positions, total)
    chosen = torch.zeros(total, dtype=torch.bool)
    chosen[torch.randperm(total, generator=gen)[:npos]] = True
    chosen = chosen.view(N, T)
    greedy = torch.zeros(depth, a.ranks + 1, dtype=torch.float64)  # the last column: rank >= ranks
    sampled = torch.zeros(depth, a.children, dtype=torch.float64)
    for i in range(0, N, a.batch):
        tk, hd = tokens[i:i + a.batch], hidden[i:i + a.batch]
        logits = module.unroll(tk, hd)
        tl = target.lm_head(hd)
        sel = chosen[i:i + a.batch]
        for d, lg in enumerate(logits):
            tgt = tl[:, 1 + d:1 + d + T]  # as train.target_at
            label = tgt.argmax(-1, keepdim=True)
            rank = (lg > lg.gather(-1, label)).sum(-1).clamp(max=a.ranks)
            greedy[d] += torch.bincount(rank.flatten(), minlength=a.ranks + 1).to(torch.float64)
            if sel.any():
                p = torch.softmax(tgt[sel].double(), -1)
                q = torch.softmax(lg[sel].double(), -1)
                for _ in range(a.sims):
                    sampled[d] += acceptance(p, q, a.children, gen, a.estimator)
    greedy /= N * T
    sampled /= npos * a.sims
    mean = sampled.mean(0)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    g = lambda v: f"{v:.6g}"  # noqa: E731
    lines = [
        f"# Acceptance statistics of {os.path.basename(a.head)} ({module.kind}, depth {depth}, sha256 {sha256(a.head)}),",
        f"# written by training/calibrate.py; measured on the TRAINING split of make_data.py's data only (seed "
        f"{int(data.get('seed', -1))}: {N} of {tokens.shape[0] + int(data['held_out'].sum())} sequences x {L} tokens, held-out sequences excluded),",
        "# teacher-forced: from context state h[t] with root x[t+1], depth d (0-based) is compared with the target's",
        "# distribution at position t+1+d (of x[t+2+d] given the true sampled prefix), as train.py aligns Medusa's labels.",
        f"# greedy <d> <r> <v>: fraction of the {N * T} positions (all, {T} per sequence) where the target's argmax token",
        f"#   has rank r (0 = the head's argmax) in the head's depth-d logits; r = 0..{a.ranks - 1}.",
        "# sampled <d> <r> <v>: P(child r is the accepted one) at T = 1 (Sequoia's positional acceptance vector):",
        f"#   recursive rejection sampling, up to {a.children} children drawn without replacement from q = softmax(head),",
        "#   accept x with min(1, p(x)/q(x)), on rejection p <- norm(max(p - q, 0)) and q <- norm(q without x);",
        f"#   {npos} of the positions sampled (seed {a.seed}) x {a.sims} draws each, estimator '{a.estimator}'"
        + (" (per drawn child order, the exact probability that child r is the accepted one)." if a.estimator == "expected"
           else " (simulated accept / reject coin flips)."),
        f"# greedy rank >= {a.ranks}, per depth: " + " ".join(g(v) for v in greedy[:, a.ranks].tolist()),
        "# sampled, none accepted, per depth: " + " ".join(g(v) for v in (1 - sampled.sum(1)).tolist()),
        "# sampled, averaged over depths, r = 0..: " + " ".join(g(v) for v in mean.tolist()),
    ]
    lines += [f"greedy {d} {r} {g(greedy[d, r].item())}" for d in range(depth) for r in range(a.ranks)]
    lines += [f"sampled {d} {r} {g(sampled[d, r].item())}" for d in range(depth) for r in range(a.children)]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"calibrate: {module.kind} loaded (test vectors reproduced, relative error {err:.1e}); "
          f"{N} training sequences, {N * T} positions, {npos} x {a.sims} sampled; {time.time() - t0:.1f} s -> {a.out}")
    for d in range(depth):
        print(f"  d{d}: greedy acc[0..3] " + " ".join(f"{v:.4f}" for v in greedy[d, :4].tolist())
              + "  sampled pos[0..3] " + " ".join(f"{v:.4f}" for v in sampled[d, :4].tolist()))
    print("  depth-averaged sampled pos: " + " ".join(f"{v:.4f}" for v in mean.tolist()))


if __name__ == "__main__":
    main()
