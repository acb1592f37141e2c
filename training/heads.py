"""The head drafters, in PyTorch, for a frozen llama2.c target (`llama2c.Transformer`), and their
safetensors export. Conventions shared with the C++ backends (examples/llama):

* `h[t]` is the target's final-norm hidden state over tokens[:t + 1]; `W` its classifier (frozen,
  shared with the embedding `E` for stories260K).
* Drafting from context state h[t] with root x[t+1] (the token the target just emitted): the depth-d
  node is x[t+1+d]; its logits are the distribution of x[t+2+d], trained towards the target's own
  distribution softmax(W h[t+1+d]) (self-distillation with soft labels).
* `depth` heads: depths 0 .. depth - 1.

Each module has `unroll(tokens, hidden)`: teacher-forced logits, a list over depths of [B, T, V] for
every context position t < T (T = L - depth - 1, so that target position t + 1 + d is inside the
sequence), and
`tensors()`: the name -> tensor map that `export` writes and the C++ readers expect.
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

import llama2c


def rmsnorm(x, w, eps=1e-5):
    return llama2c.rmsnorm(x, w, eps)


def shifted(x, d, T):
    """x[:, d : d + T]."""
    return x[:, d:d + T]


class Medusa(nn.Module):
    """Medusa-1 (Cai et al., 2024): head k = a residual SiLU block on h[t] and its own LM head,
    initialised from the target's classifier; head k predicts x[t+2+k] from h[t] alone."""

    kind = "medusa"

    def __init__(self, target, depth):
        super().__init__()
        c = target.c
        self.depth, self.dim, self.vocab = depth, c.dim, c.vocab_size
        self.block = nn.ModuleList(nn.Linear(c.dim, c.dim) for _ in range(depth))
        for b in self.block:  # identity at start, as Medusa's ResBlock
            nn.init.zeros_(b.weight)
            nn.init.zeros_(b.bias)
        self.lm_head = nn.Parameter(target.classifier().detach().clone().unsqueeze(0).repeat(depth, 1, 1))

    def unroll(self, tokens, hidden):
        T = tokens.shape[1] - self.depth - 1
        h = hidden[:, :T]
        return [(h + F.silu(self.block[k](h))) @ self.lm_head[k].t() for k in range(self.depth)]

    def tensors(self):
        t = {}
        for k in range(self.depth):
            t[f"medusa.{k}.block.weight"] = self.block[k].weight
            t[f"medusa.{k}.block.bias"] = self.block[k].bias
            t[f"medusa.{k}.lm_head.weight"] = self.lm_head[k]
        return t


class Hydra(nn.Module):
    """Hydra (Ankner et al., 2024), sequentially dependent heads in recurrent form: s[-1] = h[t];
    s[d] = s[d-1] + MLP_d([s[d-1]; E x[t+1+d]]) with MLP_d = Linear(2D, D) -> SiLU -> Linear(D, D);
    logits = W s[d] (the target's classifier, frozen). Each depth has its own MLP."""

    kind = "hydra"

    def __init__(self, target, depth):
        super().__init__()
        c = target.c
        self.depth, self.dim, self.vocab = depth, c.dim, c.vocab_size
        self.target = [target]  # not a submodule: frozen, not exported
        self.fc1 = nn.ModuleList(nn.Linear(2 * c.dim, c.dim) for _ in range(depth))
        self.fc2 = nn.ModuleList(nn.Linear(c.dim, c.dim) for _ in range(depth))
        for f in self.fc2:
            nn.init.zeros_(f.weight)
            nn.init.zeros_(f.bias)

    def step(self, d, s, e):
        return s + self.fc2[d](F.silu(self.fc1[d](torch.cat((s, e), dim=-1))))

    def unroll(self, tokens, hidden):
        tgt = self.target[0]
        T = tokens.shape[1] - self.depth - 1
        s, out = hidden[:, :T], []
        for d in range(self.depth):
            s = self.step(d, s, tgt.tok_embeddings(shifted(tokens, 1 + d, T)))
            out.append(tgt.lm_head(s))
        return out

    def tensors(self):
        t = {}
        for d in range(self.depth):
            t[f"hydra.{d}.fc1.weight"] = self.fc1[d].weight
            t[f"hydra.{d}.fc1.bias"] = self.fc1[d].bias
            t[f"hydra.{d}.fc2.weight"] = self.fc2[d].weight
            t[f"hydra.{d}.fc2.bias"] = self.fc2[d].bias
        return t


class ResAttention(nn.Module):
    """Clover-2's attention decoder in RNN form: x + v(y) * cos(q(norm(x)), k(y)) per attention head
    (one key: the cosine similarity of the head's query and key weighs the head's value)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hs = heads, dim // heads
        self.norm = nn.Parameter(torch.ones(dim))
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():  # the public code's init: q, k = I + U(0, 0.01); v = U(0, 0.01); zero biases
            for lin, eye in ((self.q, True), (self.k, True), (self.v, False)):
                lin.weight.copy_(torch.rand(dim, dim, generator=g) * 0.01 + (torch.eye(dim) if eye else 0))
                nn.init.zeros_(lin.bias)

    def forward(self, x, y):
        shape = x.shape[:-1] + (self.heads, self.hs)
        q = self.q(rmsnorm(x, self.norm)).view(shape)
        k = self.k(y).view(shape)
        # cosine similarity per head (the norms' product clamped at eps, as F.cosine_similarity)
        att = (q * k).sum(-1, keepdim=True) / (q.norm(dim=-1, keepdim=True) * k.norm(dim=-1, keepdim=True)).clamp_min(1e-5)
        return x + (self.v(y).view(shape) * att).flatten(-2)

    def tensors(self, p):
        return {f"{p}.norm": self.norm, f"{p}.q.weight": self.q.weight, f"{p}.q.bias": self.q.bias,
                f"{p}.k.weight": self.k.weight, f"{p}.k.bias": self.k.bias, f"{p}.v.weight": self.v.weight, f"{p}.v.bias": self.v.bias}


def layer_tensors(layer, p):
    return {f"{p}.rms_att": layer.rms_att, f"{p}.wq": layer.wq.weight, f"{p}.wk": layer.wk.weight, f"{p}.wv": layer.wv.weight,
            f"{p}.wo": layer.wo.weight, f"{p}.rms_ffn": layer.rms_ffn, f"{p}.w1": layer.w1.weight, f"{p}.w2": layer.w2.weight,
            f"{p}.w3": layer.w3.weight}


def copy_layer(target, index):
    layer = llama2c.Layer(target.c)
    layer.load_state_dict(target.layers[index].state_dict())
    for p in layer.parameters():
        p.requires_grad_(True)
    return layer


class Clover(nn.Module):
    """Clover-2 (Xiao et al., 2024, arXiv 2408.00264; the public code's Clover2Model), at this model's
    size: regressive connection (the embedding of each drafted token enters the next head), attention
    decoder (`ResAttention`) and augmenting block (one llama layer over the whole context, causal,
    initialised from the target's last layer):
      u[t]  = attn1(h[t], E x[t+1])              per context position (the root's embedding included)
      a     = norm_aug(layer(u))                 causal over the sequence, RoPE at position t
      depth 0: s = a[t];                         logits = W norm_head(mlp(s))
      depth d: s = attn2(s, E x[t+1+d]);         logits = W norm_head(mlp2([s; E x[t+1+d]]))
    `regressive` False drops the token embeddings after depth 0 (ablation); `augment` False drops the
    augmenting layer (a = u)."""

    kind = "clover"

    def __init__(self, target, depth, regressive=True, augment=True):
        super().__init__()
        c = target.c
        self.depth, self.dim, self.vocab = depth, c.dim, c.vocab_size
        self.regressive, self.augment = regressive, augment
        self.target = [target]
        self.attn1, self.attn2 = ResAttention(c.dim, c.n_heads), ResAttention(c.dim, c.n_heads)
        self.layer = copy_layer(target, c.n_layers - 1) if augment else None
        self.norm_aug = nn.Parameter(target.rms_final.detach().clone())
        self.norm_head = nn.Parameter(target.rms_final.detach().clone())
        self.mlp = nn.Linear(c.dim, c.dim)
        self.mlp2 = nn.Linear(2 * c.dim, c.dim)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            self.mlp.weight.copy_(torch.eye(c.dim) + torch.rand(c.dim, c.dim, generator=g) * 0.01)
            self.mlp2.weight.copy_(torch.cat((torch.eye(c.dim), torch.zeros(c.dim, c.dim)), dim=1)
                                   + torch.rand(c.dim, 2 * c.dim, generator=g) * 0.01)
            nn.init.zeros_(self.mlp.bias)
            nn.init.zeros_(self.mlp2.bias)

    def augmented(self, tokens, hidden):
        """a[t] for t < L - 1 (each needs the root x[t+1])."""
        tgt = self.target[0]
        L = tokens.shape[1]
        u = self.attn1(hidden[:, :L - 1], tgt.tok_embeddings(tokens[:, 1:]))
        if self.layer is not None:
            u, _ = self.layer(u, tgt.cos[:L - 1], tgt.sin[:L - 1])
        return rmsnorm(u, self.norm_aug)

    def head(self, d, s, e):
        x = self.mlp(s) if d == 0 else self.mlp2(torch.cat((s, e if self.regressive else torch.zeros_like(e)), dim=-1))
        return self.target[0].lm_head(rmsnorm(x, self.norm_head))

    def unroll(self, tokens, hidden):
        tgt = self.target[0]
        T = tokens.shape[1] - self.depth - 1
        s = self.augmented(tokens, hidden)[:, :T]
        out = [self.head(0, s, None)]
        for d in range(1, self.depth):
            e = tgt.tok_embeddings(shifted(tokens, 1 + d, T))
            if self.regressive:
                s = self.attn2(s, e)
            out.append(self.head(d, s, e))
        return out

    def tensors(self):
        t = {"clover.norm_aug": self.norm_aug, "clover.norm_head": self.norm_head, "clover.mlp.weight": self.mlp.weight,
             "clover.mlp.bias": self.mlp.bias, "clover.mlp2.weight": self.mlp2.weight, "clover.mlp2.bias": self.mlp2.bias}
        t.update(self.attn1.tensors("clover.attn1"))
        t.update(self.attn2.tensors("clover.attn2"))
        if self.layer is not None:
            t.update(layer_tensors(self.layer, "clover.layer"))
        return t


class Eagle(nn.Module):
    """An EAGLE-1 style feature drafter (Li et al., 2024): one llama layer over
    fc([E x[t+1]; f[t]]) at position t + 1, causal over the sequence, predicts the feature f[t+1];
    logits = W f (the target's classifier, frozen). Features are the target's final-norm states (what
    the C++ backend exposes), so no further norm is applied. Trained teacher-forced on the target's
    features, with uniform feature noise as EAGLE does, loss = smooth-L1 regression + 0.1 x the
    distillation cross-entropy; drafting feeds the predicted feature back in."""

    kind = "eagle"

    def __init__(self, target, depth, noise=0.1):
        super().__init__()
        c = target.c
        self.depth, self.dim, self.vocab, self.noise = depth, c.dim, c.vocab_size, noise
        self.target = [target]
        self.fc = nn.Linear(2 * c.dim, c.dim)
        self.layer = copy_layer(target, c.n_layers - 1)

    def features(self, tokens, feats, start):
        """Predicted features for inputs (feats[:, i], tokens[:, i]) at positions start + i."""
        tgt = self.target[0]
        x = self.fc(torch.cat((tgt.tok_embeddings(tokens), feats), dim=-1))
        T = tokens.shape[1]
        x, _ = self.layer(x, tgt.cos[start:start + T], tgt.sin[start:start + T])
        return x

    def teacher_forced(self, tokens, hidden):
        """Predicted f[t+1] for t < L - 1 from the true features (noised while training)."""
        L = tokens.shape[1]
        f = hidden[:, :L - 1]
        if self.training and self.noise > 0:
            f = f + (torch.rand_like(f) - 0.5) * 2 * self.noise * f.abs().mean()
        return self.features(tokens[:, 1:], f, 1)

    def unroll(self, tokens, hidden):
        """Depth-0 logits [[B, L - 2, V]] from the true features. Deeper depths feed predicted
        features back and attend to them: measured by the C++ drafter (tau), not here."""
        tgt = self.target[0]
        T = tokens.shape[1] - 2
        pred = self.features(tokens[:, 1:], hidden[:, :tokens.shape[1] - 1], 1)
        return [tgt.lm_head(pred[:, :T])]

    def chain_logits(self, tokens, hidden, t):
        """Drafting as the C++ backend does, along tokens[t + 1 ...]: depth d's input at position
        t + 1 + d is (E x[t+1+d], feature) with the target's f[t] at depth 0 and the predicted
        feature after; every input attends to the committed inputs at positions 1 .. t and to the
        chain before it. Returns [depth, V] for one sequence (tokens [L], hidden [L, D])."""
        tgt = self.target[0]
        feats = [hidden[i] for i in range(t + 1)]  # f[0 .. t]: true
        out = []
        for d in range(self.depth):
            n = t + 1 + d  # inputs at positions 1 .. n
            pred = self.features(tokens[1:n + 1].unsqueeze(0), torch.stack(feats[:n]).unsqueeze(0), 1)[0, -1]
            feats.append(pred)
            out.append(tgt.lm_head(pred))
        return torch.stack(out)

    def tensors(self):
        t = {"eagle.fc.weight": self.fc.weight, "eagle.fc.bias": self.fc.bias}
        t.update(layer_tensors(self.layer, "eagle.layer"))
        return t


def count(module):
    """Trainable parameters (the target's frozen embedding and classifier are not counted)."""
    return sum(p.numel() for p in module.tensors().values())


def test_vectors(module, tokens, hidden, context=12):
    """Reference outputs for the C++ backends' tests: the first `context + depth + 2` tokens of one
    held-out sequence (`test.tokens`, as float32), the context position t (`test.context`) and the
    logits of every depth along that sequence's own continuation from context state h[t] with root
    x[t+1] (`test.logits` [depth, V]), which a C++ backend reproduces by prefilling tokens[:t + 2] and
    stepping a chain through tokens[t + 2 ...]."""
    n = context + module.depth + 2
    tk, hd = tokens[:n].unsqueeze(0), hidden[:n].unsqueeze(0)
    was = module.training
    module.eval()
    with torch.no_grad():
        if module.kind == "eagle":
            logits = module.chain_logits(tk[0], hd[0], context)
        else:
            logits = torch.stack([lg[0, context] for lg in module.unroll(tk, hd)])
    module.train(was)
    return {"test.tokens": tk[0].to(torch.float32), "test.context": torch.tensor([float(context)]), "test.logits": logits}


def export(module, path, metadata, extra=None):
    """Writes `module.tensors()` (and `extra`) as safetensors: 8-byte little-endian header length, the JSON header
    (dtype, shape, data_offsets per tensor, plus __metadata__ strings), the raw little-endian float32
    data in header order."""
    header, blobs, offset = {}, [], 0
    for name, tensor in list(module.tensors().items()) + list((extra or {}).items()):
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # align the data to 8 bytes, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Reads a float32 safetensors file back (for tests): (tensors, metadata)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).view(h["shape"]) if b > a else torch.zeros(h["shape"])
    return out, meta


def load(path, target):
    """A head module rebuilt from a file that `export` wrote: the kind, depth and (Clover) ablation
    flags from `__metadata__`, every tensor of `tensors()` copied in (names and shapes checked; the
    `test.*` vectors are returned, not loaded). Returns (module in eval mode, metadata, test vectors)."""
    tensors, meta = load_safetensors(path)
    kinds = {"medusa": Medusa, "hydra": Hydra, "clover": Clover, "eagle": Eagle}
    kind = meta.get("kind")
    if kind not in kinds:
        raise ValueError(f"{path}: unknown head kind {kind!r}")
    c = target.c
    for key, want in (("dim", c.dim), ("vocab_size", c.vocab_size)):
        if key in meta and int(meta[key]) != want:
            raise ValueError(f"{path}: {key} {meta[key]} but the target has {want}")
    depth = int(meta["depth"])
    if kind == "clover":
        module = Clover(target, depth, regressive=meta.get("regressive", "1") == "1", augment=meta.get("augment", "1") == "1")
    else:
        module = kinds[kind](target, depth)
    own = module.tensors()
    tests = {k: v for k, v in tensors.items() if k.startswith("test.")}
    stored = {k: v for k, v in tensors.items() if not k.startswith("test.")}
    if set(own) != set(stored):
        raise ValueError(f"{path}: tensors differ from a {kind} head's: missing {sorted(set(own) - set(stored))}, "
                         f"unexpected {sorted(set(stored) - set(own))}")
    with torch.no_grad():
        for name, dst in own.items():  # parameters or views of them (Medusa's lm_head[k]): copied in place
            if list(dst.shape) != list(stored[name].shape):
                raise ValueError(f"{path}: {name} has shape {list(stored[name].shape)}, expected {list(dst.shape)}")
            dst.copy_(stored[name])
    module.eval()
    return module, meta, tests
