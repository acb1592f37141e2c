"""A PyTorch twin of the llama2.c model (examples/llama's C++ backend), its checkpoint reader and
writer, and llama2.c's tokenizer encode. Computes what the C++ backend computes, in float32:
RMSNorm with eps 1e-5, RoPE on interleaved pairs (i, i+1) with freq = 10000^(-(i mod hs)/hs),
grouped-query attention, SwiGLU feed-forward, final RMSNorm, classifier (shared with the embedding
when the header's vocab_size is positive)."""
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len, shared_classifier=True):
        self.dim, self.hidden_dim, self.n_layers = dim, hidden_dim, n_layers
        self.n_heads, self.n_kv_heads, self.vocab_size, self.seq_len = n_heads, n_kv_heads, vocab_size, seq_len
        self.shared_classifier = shared_classifier

    @property
    def head_size(self):
        return self.dim // self.n_heads

    @property
    def kv_dim(self):
        return self.dim * self.n_kv_heads // self.n_heads

    def header(self):
        v = self.vocab_size if self.shared_classifier else -self.vocab_size
        return struct.pack("<7i", self.dim, self.hidden_dim, self.n_layers, self.n_heads, self.n_kv_heads, v, self.seq_len)


def rmsnorm(x, weight, eps=1e-5):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope_tables(seq_len, head_size):
    """cos and sin [seq_len, head_size / 2] as run.c computes them."""
    j = torch.arange(0, head_size, 2, dtype=torch.float32)
    freq = 1.0 / torch.pow(torch.tensor(10000.0), j / head_size)
    angle = torch.arange(seq_len, dtype=torch.float32)[:, None] * freq[None, :]
    return torch.cos(angle), torch.sin(angle)


def apply_rope(x, cos, sin):
    """x [..., T, heads, head_size]; cos/sin [T, head_size / 2]: rotates pairs (2j, 2j + 1)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)
    return out.flatten(-2)


class Layer(nn.Module):
    """One llama2.c transformer layer (pre-norm attention with RoPE and GQA, pre-norm SwiGLU)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.rms_att = nn.Parameter(torch.ones(c.dim))
        self.wq = nn.Linear(c.dim, c.dim, bias=False)
        self.wk = nn.Linear(c.dim, c.kv_dim, bias=False)
        self.wv = nn.Linear(c.dim, c.kv_dim, bias=False)
        self.wo = nn.Linear(c.dim, c.dim, bias=False)
        self.rms_ffn = nn.Parameter(torch.ones(c.dim))
        self.w1 = nn.Linear(c.dim, c.hidden_dim, bias=False)
        self.w2 = nn.Linear(c.hidden_dim, c.dim, bias=False)
        self.w3 = nn.Linear(c.dim, c.hidden_dim, bias=False)

    def attention(self, xn, cos, sin, cache=None):
        """xn [B, T, dim] (normalised); cache: (k, v) of earlier positions or None. Returns the
        attention output and the new (k, v)."""
        c = self.c
        B, T, _ = xn.shape
        q = apply_rope(self.wq(xn).view(B, T, c.n_heads, c.head_size), cos, sin)
        k = apply_rope(self.wk(xn).view(B, T, c.n_kv_heads, c.head_size), cos, sin)
        v = self.wv(xn).view(B, T, c.n_kv_heads, c.head_size)
        if cache is not None:
            k = torch.cat((cache[0], k), dim=1)
            v = torch.cat((cache[1], v), dim=1)
        group = c.n_heads // c.n_kv_heads
        kk = k.repeat_interleave(group, dim=2).transpose(1, 2)  # [B, H, S, hs]
        vv = v.repeat_interleave(group, dim=2).transpose(1, 2)
        qq = q.transpose(1, 2)
        S = kk.shape[2]
        scores = qq @ kk.transpose(-1, -2) / math.sqrt(c.head_size)
        # causal: query t (absolute S - T + t) sees keys <= its own position
        mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        scores = scores.masked_fill(~mask, float("-inf"))
        out = (torch.softmax(scores, dim=-1) @ vv).transpose(1, 2).reshape(B, T, c.dim)
        return self.wo(out), (k, v)

    def forward(self, x, cos, sin, cache=None):
        a, new_cache = self.attention(rmsnorm(x, self.rms_att), cos, sin, cache)
        x = x + a
        xn = rmsnorm(x, self.rms_ffn)
        x = x + self.w2(F.silu(self.w1(xn)) * self.w3(xn))
        return x, new_cache


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok_embeddings = nn.Embedding(c.vocab_size, c.dim)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.n_layers))
        self.rms_final = nn.Parameter(torch.ones(c.dim))
        self.output = None if c.shared_classifier else nn.Linear(c.dim, c.vocab_size, bias=False)
        cos, sin = rope_tables(c.seq_len, c.head_size)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def classifier(self):
        return self.tok_embeddings.weight if self.output is None else self.output.weight

    def lm_head(self, h):
        return h @ self.classifier().t()

    def forward(self, tokens, start=0, caches=None):
        """tokens [B, T] at positions start..start+T-1. Returns (final-norm hidden [B, T, dim],
        logits [B, T, vocab], new caches). `caches`: a list per layer of (k, v), or None."""
        x = self.tok_embeddings(tokens)
        T = tokens.shape[1]
        cos, sin = self.cos[start:start + T], self.sin[start:start + T]
        new = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cos, sin, None if caches is None else caches[i])
            new.append(kv)
        h = rmsnorm(x, self.rms_final)
        return h, self.lm_head(h), new


def _take(f, n):
    data = f.read(4 * n)
    if len(data) != 4 * n:
        raise ValueError(f"llama2.c checkpoint: truncated (wanted {n} more floats)")
    return torch.frombuffer(bytearray(data), dtype=torch.float32).clone()


def load(path):
    """Reads a llama2.c legacy checkpoint into a frozen `Transformer` (eval mode)."""
    with open(path, "rb") as f:
        h = struct.unpack("<7i", f.read(28))
        shared = h[5] > 0
        c = Config(h[0], h[1], h[2], h[3], h[4], abs(h[5]), h[6], shared)
        m = Transformer(c)
        L, d, kv, hd = c.n_layers, c.dim, c.kv_dim, c.hidden_dim
        emb = _take(f, c.vocab_size * d).view(c.vocab_size, d)
        rms_att = _take(f, L * d).view(L, d)
        wq = _take(f, L * d * d).view(L, d, d)
        wk = _take(f, L * kv * d).view(L, kv, d)
        wv = _take(f, L * kv * d).view(L, kv, d)
        wo = _take(f, L * d * d).view(L, d, d)
        rms_ffn = _take(f, L * d).view(L, d)
        w1 = _take(f, L * hd * d).view(L, hd, d)
        w2 = _take(f, L * d * hd).view(L, d, hd)
        w3 = _take(f, L * hd * d).view(L, hd, d)
        rms_final = _take(f, d)
        _take(f, c.seq_len * c.head_size)  # legacy RoPE tables (recomputed)
        wcls = None if shared else _take(f, c.vocab_size * d).view(c.vocab_size, d)
        if f.read(1):
            raise ValueError(f"{path}: trailing bytes after the weights the header implies")
    with torch.no_grad():
        m.tok_embeddings.weight.copy_(emb)
        for i, layer in enumerate(m.layers):
            layer.rms_att.copy_(rms_att[i])
            layer.wq.weight.copy_(wq[i])
            layer.wk.weight.copy_(wk[i])
            layer.wv.weight.copy_(wv[i])
            layer.wo.weight.copy_(wo[i])
            layer.rms_ffn.copy_(rms_ffn[i])
            layer.w1.weight.copy_(w1[i])
            layer.w2.weight.copy_(w2[i])
            layer.w3.weight.copy_(w3[i])
        m.rms_final.copy_(rms_final)
        if wcls is not None:
            m.output.weight.copy_(wcls)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def save(model, path):
    """Writes `model` as a llama2.c legacy checkpoint (what llama_model::load reads)."""
    c = model.c
    parts = [model.tok_embeddings.weight]
    for name in ("rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3"):
        parts.append(torch.stack([getattr(l, name) if name.startswith("rms") else getattr(l, name).weight for l in model.layers]))
    parts.append(model.rms_final)
    cos, sin = rope_tables(c.seq_len, c.head_size)
    parts += [cos, sin]
    if not c.shared_classifier:
        parts.append(model.output.weight)
    with open(path, "wb") as f:
        f.write(c.header())
        for p in parts:
            f.write(p.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


class Tokenizer:
    """llama2.c's tokenizer.bin: encode (best-score pair merges, byte fallback) as run.c does."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        (self.max_len,) = struct.unpack_from("<i", data, 0)
        at, self.pieces, self.scores = 4, [], []
        while at < len(data):
            score, n = struct.unpack_from("<fi", data, at)
            at += 8
            self.pieces.append(data[at:at + n])
            self.scores.append(score)
            at += n
        self.ids = {p: i for i, p in enumerate(self.pieces)}

    def encode(self, text, bos=True):
        tokens = [1] if bos else []
        if not text:
            return tokens
        out = [self.ids.get(b" ", ord(" ") + 3)]
        for ch in text:
            b = ch.encode("utf-8")
            if b in self.ids:
                out.append(self.ids[b])
            else:
                out += [x + 3 for x in b]
        while True:
            best, best_id, best_at = -1e10, -1, -1
            for i in range(len(out) - 1):
                pid = self.ids.get(self.pieces[out[i]] + self.pieces[out[i + 1]])
                if pid is not None and self.scores[pid] > best:
                    best, best_id, best_at = self.scores[pid], pid, i
            if best_at < 0:
                break
            out[best_at:best_at + 2] = [best_id]
        return tokens + out

    def decode(self, ids):
        out = b""
        prev = 1
        for t in ids:
            p = self.pieces[t]
            if prev == 1 and p.startswith(b" "):
                p = p[1:]
            if p.startswith(b"<0x") and p.endswith(b">") and len(p) == 6:
                p = bytes([int(p[3:5], 16)])
            out += p
            prev = t
        return out.decode("utf-8", errors="replace")


def threads():
    """Torch's thread count, set explicitly by every script (PyTorch starts with 1 here): the
    environment's SPECDEC_TRAIN_THREADS, else 2 (this machine's cores). On a machine that is busy with
    other work use 1: with 2 threads competing for 2 busy cores, each step waits on the slower thread
    (measured here under load: sampling 13x slower with 2 threads than with 1)."""
    import os
    return int(os.environ.get("SPECDEC_TRAIN_THREADS", "2"))
