"""Trains one drafter for the frozen stories260K target on the self-distillation data of make_data.py
and exports it: heads (medusa, hydra, clover, eagle) as safetensors, the draft model (draft) as a
llama2.c checkpoint. Fixed seed; AdamW with a cosine schedule; soft labels (the target's own
distribution at each position). Reports the trainable parameter count and, on the held-out
sequences, per depth the top-1 agreement with the target's argmax and E[sum min(p, q)] (the chance
that one draft sampled from q is accepted against p).

    python3 training/train.py --kind clover --data build/training/data.pt --models DIR --out training/trained/clover.safetensors
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heads as H  # noqa: E402
import llama2c  # noqa: E402

KINDS = {"medusa": H.Medusa, "hydra": H.Hydra, "clover": H.Clover, "eagle": H.Eagle}


class DraftModel(torch.nn.Module):
    """A small llama2.c model distilled from the target: its embedding (shared with the classifier),
    `layers` layers initialised from the target's first and last layers, its final norm."""

    kind = "draft"

    def __init__(self, target, layers):
        super().__init__()
        c = target.c
        self.depth = 1
        self.model = llama2c.Transformer(llama2c.Config(c.dim, c.hidden_dim, layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len))
        src = [0, c.n_layers - 1] if layers == 2 else list(range(layers))
        with torch.no_grad():
            self.model.tok_embeddings.weight.copy_(target.tok_embeddings.weight)
            for i, j in enumerate(src):
                self.model.layers[i].load_state_dict(target.layers[j].state_dict())
            self.model.rms_final.copy_(target.rms_final)
        for p in self.model.parameters():
            p.requires_grad_(True)

    def unroll(self, tokens, hidden):
        """Next-token logits after tokens[:, :t + 2] for t < L - 2: the depth-0 target position t + 1."""
        _, logits, _ = self.model(tokens)
        return [logits[:, 1:tokens.shape[1] - 1]]

    def tensors(self):
        return dict(self.model.named_parameters())


def soft_ce(logits, target_probs):
    return -(target_probs * torch.log_softmax(logits, -1)).sum(-1)


def target_at(target_x, d, T):
    """The target's row at position t + 1 + d for t < T (logits or probabilities [B, L, V])."""
    return target_x[:, 1 + d:1 + d + T]


def loss_of(model, tokens, hidden, target, decay):
    with torch.no_grad():
        tp = torch.softmax(target.lm_head(hidden), -1)
    if model.kind == "eagle":
        pred = model.teacher_forced(tokens, hidden)  # f[t+1] for t < L - 1
        reg = F.smooth_l1_loss(pred, hidden[:, 1:])
        ce = soft_ce(target.lm_head(pred), tp[:, 1:]).mean()
        return reg + 0.1 * ce
    logits = model.unroll(tokens, hidden)
    total, weights = 0.0, 0.0
    for d, lg in enumerate(logits):
        total = total + decay ** d * soft_ce(lg, target_at(tp, d, lg.shape[1])).mean()
        weights += decay ** d
    return total / weights


@torch.no_grad()
def evaluate(model, target, tokens, hidden, batch=32):
    model.eval()
    top1, accept, n = None, None, 0
    for i in range(0, tokens.shape[0], batch):
        tk, hd = tokens[i:i + batch], hidden[i:i + batch]
        logits = model.unroll(tk, hd)
        tp = torch.softmax(target.lm_head(hd), -1)
        a = torch.zeros(len(logits))
        m = torch.zeros(len(logits))
        for d, lg in enumerate(logits):
            p = target_at(tp, d, lg.shape[1])
            a[d] = (lg.argmax(-1) == p.argmax(-1)).float().sum()
            m[d] = torch.minimum(torch.softmax(lg, -1), p).sum()
        top1 = a if top1 is None else top1 + a
        accept = m if accept is None else accept + m
        n += logits[0].shape[0] * logits[0].shape[1]
    model.train()
    return (top1 / n).tolist(), (accept / n).tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True, choices=sorted(KINDS) + ["draft"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--draft-layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--decay", type=float, default=0.8, help="loss weight of depth d: decay^d (Medusa's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-regressive", action="store_true", help="clover ablation: no token embeddings after depth 0")
    ap.add_argument("--no-augment", action="store_true", help="clover ablation: no augmenting layer")
    ap.add_argument("--report", help="append a JSON line with the results here")
    a = ap.parse_args()
    torch.set_num_threads(llama2c.threads())
    torch.manual_seed(a.seed)
    t0 = time.time()
    target = llama2c.load(os.path.join(a.models, "stories260K.bin"))
    data = torch.load(a.data)
    held = data["held_out"]
    train_tokens, train_hidden = data["tokens"][~held], data["hidden"][~held]
    test_tokens, test_hidden = data["tokens"][held], data["hidden"][held]
    if a.kind == "draft":
        model = DraftModel(target, a.draft_layers)
    elif a.kind == "clover":
        model = H.Clover(target, a.depth, regressive=not a.no_regressive, augment=not a.no_augment)
    else:
        model = KINDS[a.kind](target, a.depth)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / a.steps)))
    gen = torch.Generator().manual_seed(a.seed)
    for step in range(a.steps):
        idx = torch.randint(0, train_tokens.shape[0], (a.batch,), generator=gen)
        loss = loss_of(model, train_tokens[idx], train_hidden[idx], target, a.decay)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == a.steps - 1:
            print(f"train[{a.kind}] step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    top1, accept = evaluate(model, target, test_tokens, test_hidden)
    n = H.count(model) if a.kind != "draft" else sum(p.numel() for p in model.model.parameters())
    seconds = time.time() - t0
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    if a.kind == "draft":
        llama2c.save(model.model, a.out)
    else:
        meta = {"kind": a.kind, "depth": a.depth, "dim": target.c.dim, "vocab_size": target.c.vocab_size,
                "n_heads": target.c.n_heads, "n_kv_heads": target.c.n_kv_heads, "hidden_dim": target.c.hidden_dim,
                "seed": a.seed, "steps": a.steps}
        if a.kind == "clover":
            meta.update({"regressive": int(not a.no_regressive), "augment": int(not a.no_augment)})
        H.export(model, a.out, meta, H.test_vectors(model, test_tokens[0], test_hidden[0]))
    result = {"kind": a.kind, "out": os.path.basename(a.out), "params": n, "steps": a.steps, "seed": a.seed, "seconds": round(seconds, 1),
              "heldout_top1": [round(x, 4) for x in top1], "heldout_accept": [round(x, 4) for x in accept]}
    if a.kind == "clover":
        result.update({"regressive": not a.no_regressive, "augment": not a.no_augment})
    print("train:", json.dumps(result), flush=True)
    if a.report:
        with open(a.report, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
