#!/usr/bin/env bash
# The `training` ctest label: a one-minute smoke run of the whole pipeline (training/run_all.sh
# --smoke: tiny data, 20 steps per drafter, into build/training/smoke/) when the distribution's
# PyTorch is importable; exit code 4 (ctest: skipped) otherwise. Checks that every drafter was
# written, re-reads each safetensors file and checks the shape of medusa_acceptance.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "SKIPPED: /usr/bin/python3 cannot import torch (training/install-deps installs python3-torch)"
  exit 4
fi
models="${SPECDEC_MODEL_DIR:-$(cd .. && pwd)/shared/models}"
if [ ! -f "$models/stories260K.bin" ] || [ ! -f "$models/tok512.bin" ]; then
  echo "SKIPPED: stories260K.bin / tok512.bin not found in $models (set SPECDEC_MODEL_DIR)"
  exit 4
fi
SPECDEC_MODEL_DIR="$models" SPECDEC_TRAIN_THREADS="${SPECDEC_TRAIN_THREADS:-1}" training/run_all.sh --smoke
out=build/training/smoke
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
sys.path.insert(0, "training")
import heads
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "report.jsonl"))]
assert [r["kind"] for r in rows] == ["medusa", "hydra", "clover", "eagle", "draft"], rows
for kind in ("medusa", "hydra", "clover", "eagle"):
    tensors, meta = heads.load_safetensors(os.path.join(out, kind + ".safetensors"))
    assert meta["kind"] == kind and "test.logits" in tensors, (kind, meta)
assert os.path.getsize(os.path.join(out, "draft.bin")) > 28
rows = [l.split() for l in open(os.path.join(out, "medusa_acceptance.txt")) if not l.startswith("#")]
table = {(r[0], int(r[1]), int(r[2])): float(r[3]) for r in rows}
assert len(rows) == len(table) == 5 * 10 + 5 * 8 and all(len(r) == 4 for r in rows), rows
for kind, n in (("greedy", 10), ("sampled", 8)):
    for d in range(5):
        row = [table[(kind, d, r)] for r in range(n)]
        assert min(row) >= 0 and sum(row) <= 1 + 1e-5, (kind, d, row)
print("training smoke: every drafter trained, exported and re-read; Medusa's acceptance statistics written")
PY
