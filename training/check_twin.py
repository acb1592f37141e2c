"""Checks the PyTorch twin against the C++ backend: the final-norm hidden states and logits of fixed
prompts, computed by `specdec-llama-logits` (examples/llama/logits.cpp) and by `llama2c.Transformer`,
must agree to a small relative error (float32 sums in a different order). Also checks the twin's greedy
continuation from BOS against the reference ids of ../shared/models/README.md.

    python3 training/check_twin.py --models DIR --logits-tool BUILD/examples/llama/specdec-llama-logits
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama2c  # noqa: E402

PROMPTS = ["Once upon a time", "Tom had a red ball. He", "The little cat was sad because",
           "One day, Lily and her mom went to the park. They saw"]
GREEDY_FROM_BOS = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--logits-tool", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max relative error allowed")
    a = ap.parse_args()
    torch.set_num_threads(llama2c.threads())
    model = llama2c.load(os.path.join(a.models, "stories260K.bin"))
    tok = llama2c.Tokenizer(os.path.join(a.models, "tok512.bin"))
    c = model.c
    # One long prompt too: 200 tokens of the model's own greedy story crosses prefill's 128-row chunks.
    ids = [1]
    with torch.no_grad():
        for _ in range(199):
            _, logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    if ids[1:21] != GREEDY_FROM_BOS:
        print(f"check_twin: greedy continuation from BOS differs from the reference: {ids[1:21]}")
        return 1
    worst = {"hidden": 0.0, "logits": 0.0}
    for prompt in [tok.encode(p) for p in PROMPTS] + [ids]:
        with tempfile.NamedTemporaryFile(suffix=".bin") as out:
            subprocess.run([a.logits_tool, os.path.join(a.models, "stories260K.bin"), ",".join(map(str, prompt)), out.name], check=True)
            raw = torch.frombuffer(bytearray(open(out.name, "rb").read()), dtype=torch.float32)
        rows = raw.view(len(prompt), c.dim + c.vocab_size)
        with torch.no_grad():
            h, logits, _ = model(torch.tensor([prompt]))
        for name, ref, mine in (("hidden", rows[:, :c.dim], h[0]), ("logits", rows[:, c.dim:], logits[0])):
            # relative to each row's largest magnitude (a logit near zero has no meaningful relative error)
            err = ((mine - ref).abs().amax(-1) / ref.abs().amax(-1)).max().item()
            worst[name] = max(worst[name], err)
        if not torch.equal(rows[:, c.dim:].argmax(-1), logits[0].argmax(-1)):
            print("check_twin: argmax differs on prompt", prompt[:8], "...")
            return 1
    print(f"check_twin: {len(PROMPTS) + 1} prompts (up to {len(ids)} tokens): max relative error hidden "
          f"{worst['hidden']:.2e}, logits {worst['logits']:.2e} (row-wise, over the row's max |value|); greedy from BOS matches")
    return 0 if max(worst.values()) <= a.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
