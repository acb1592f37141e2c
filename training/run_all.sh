#!/usr/bin/env bash
# The whole training pipeline, one command: self-distillation data from stories260K, then Medusa,
# Hydra, Clover and EAGLE heads (safetensors) and a 2-layer draft model (llama2.c format), each with a
# fixed seed, into training/trained/ with SHA256SUMS and report.jsonl (parameter counts, held-out
# agreement, seconds), and the Medusa heads' acceptance statistics on the training split
# (calibrate.py: medusa_acceptance.txt). Heavy work runs under nice -n 19.
#
#   training/run_all.sh [--smoke] [--reuse-data]
#     --smoke       tiny data and 20 steps per drafter (about a minute), into build/training/smoke/, for
#                   the `training` ctest label
#     --reuse-data  keep build/training/data.pt when it exists (same seed and sizes: the same data)
#
# Environment: SPECDEC_MODEL_DIR (default ../shared/models), SPECDEC_TRAIN_THREADS (default 2; use 1
# on a machine busy with other work), STEPS (default 600), ABLATIONS=0 to skip the Clover ablations
# (regressive connection off, augmenting block off; same seed, data and steps) that otherwise go to
# training/trained/ablations/ with their own SHA256SUMS and report.jsonl (not in --smoke runs).
set -euo pipefail
cd "$(dirname "$0")/.."
models="${SPECDEC_MODEL_DIR:-$(cd .. && pwd)/shared/models}"
py=/usr/bin/python3
run=(nice -n 19 "$py")
smoke=0
reuse=0
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --reuse-data) reuse=1 ;;
    *) echo "run_all: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ $smoke = 1 ]; then
  out=build/training/smoke; data=$out/data.pt; steps=20; sequences=64; length=48
else
  out=training/trained; data=build/training/data.pt; steps="${STEPS:-600}"; sequences=2304; length=160
fi
mkdir -p "$out" "$(dirname "$data")"
start=$(date +%s)
if [ $reuse = 0 ] || [ ! -f "$data" ]; then
  "${run[@]}" training/make_data.py --models "$models" --out "$data" --sequences $sequences --length $length
fi
report=$out/report.jsonl
: > "$report"
for kind in medusa hydra clover eagle; do
  "${run[@]}" training/train.py --kind $kind --data "$data" --models "$models" --steps "$steps" --seed 1 \
    --out "$out/$kind.safetensors" --report "$report"
done
# acceptance statistics of the Medusa heads for static tree planning (training split only)
if [ $smoke = 1 ]; then positions=512; sims=2; else positions=65536; sims=4; fi
"${run[@]}" training/calibrate.py --head "$out/medusa.safetensors" --data "$data" --models "$models" --seed 1 \
  --positions $positions --sims $sims --out "$out/medusa_acceptance.txt"
"${run[@]}" training/train.py --kind draft --data "$data" --models "$models" --steps "$steps" --seed 1 \
  --out "$out/draft.bin" --report "$report"
if [ "${ABLATIONS:-1}" = 1 ] && [ $smoke = 0 ]; then
  mkdir -p "$out/ablations"
  : > "$out/ablations/report.jsonl"
  for variant in no-regressive no-augment; do
    "${run[@]}" training/train.py --kind clover --$variant --data "$data" --models "$models" --steps "$steps" --seed 1 \
      --out "$out/ablations/clover-$variant.safetensors" --report "$out/ablations/report.jsonl"
  done
  (cd "$out/ablations" && sha256sum clover-no-regressive.safetensors clover-no-augment.safetensors > SHA256SUMS)
fi
(cd "$out" && sha256sum medusa.safetensors hydra.safetensors clover.safetensors eagle.safetensors draft.bin \
  medusa_acceptance.txt > SHA256SUMS)
echo "run_all: done in $(( $(date +%s) - start )) s -> $out"
