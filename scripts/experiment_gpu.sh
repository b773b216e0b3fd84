#!/usr/bin/env bash
# The pixel-embedding experiment (issue 5) at full length on one CUDA GPU: all of a dataset's runs
# train at once, one process each (each run is launch-bound, so they share the GPU well), for as many
# whole epochs as fit the time budget (chosen by a calibration with all runs going). Results go to
# OUT/results as each run finishes; each run's final checkpoint (model only) is packed into
# OUT/checkpoints_<dataset>.tar so a short-lived machine can hand them back. Start-up, calibration and
# evaluation come on top of each budget: about 90 s per dataset with 17 runs on an H200.
#
#   scripts/experiment_gpu.sh OUT
#   CIFAR_BUDGET=240 FMNIST_BUDGET=60 JOBS=17 scripts/experiment_gpu.sh OUT
#
# Needs python3 with torch, numpy, pillow, tqdm and matplotlib; CIFAR-10 (JPEG) from $PIXMCU_SHARED
# or ../shared, Fashion-MNIST from $PIXMCU_FASHION_MNIST or the Debian package.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/experiment_gpu.sh OUT}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
JOBS=${JOBS:-17}
WORK=${WORK:-$OUT/runs}
COMMON=(--out "$OUT/results" --work "$WORK" --device "$DEVICE" --jobs "$JOBS" --no-progress
        --bits W4A4,W8A8,W4A2 --train-subset "${TRAIN_SUBSET:-0}" --test-subset "${TEST_SUBSET:-0}")
# Every W4A4 and W8A8 row, and the three W4A2 rows that show where naive input quantization breaks.
IDS=${ONLY_IDS:-float32 w4a4_naive w4a4_int8 w8a8_int8 w4a2_naive w4a2_int8 w4a2_embed_d10q2
  w4a4_embed_d10q2 w4a4_embed_d4q4 w4a4_embed_d20q1 w4a4_embed_d10q2_k8 w4a4_embed_d10q2_k16
  w8a8_embed_d10q2 w8a8_embed_d4q4 w8a8_embed_d20q1 w8a8_embed_d10q2_k8 w8a8_embed_d10q2_k16}
ONLY=()
for id in $IDS; do ONLY+=(--only "$id"); done
mkdir -p "$OUT/results"

phase() {  # dataset, budget (s), hard limit (s), extra arguments
  local ds=$1 budget=$2 limit=$3; shift 3
  echo "== $ds: budget ${budget}s, hard limit ${limit}s ($(date -u +%T))"
  timeout --signal=INT --kill-after=10 "$limit" "$PY" -m pixmcu.experiments.pixel_embedding --dataset "$ds" \
    "${COMMON[@]}" "${ONLY[@]}" --time-budget "$budget" "$@"
  echo "== $ds: exit $? ($(date -u +%T))"
  "$PY" - "$WORK/$ds" "$OUT/checkpoints_$ds.tar" <<'PY'
import io, sys, tarfile
from pathlib import Path
import torch
root, dest = Path(sys.argv[1]), sys.argv[2]
with tarfile.open(dest, "w") as tar:
    for p in sorted(root.rglob("*.pt")):
        st = torch.load(p, map_location="cpu", weights_only=False)
        for k in ("optimizer", "scheduler", "rng"):
            st.pop(k, None)  # the model alone is what export and shipping read
        buf = io.BytesIO()
        torch.save(st, buf)
        info = tarfile.TarInfo(str(p.relative_to(root.parent)))
        info.size = buf.tell()
        buf.seek(0)
        tar.addfile(info, buf)
print(f"packed {dest}")
PY
}

phase cifar10 "${CIFAR_BUDGET:-240}" "${CIFAR_LIMIT:-420}" --widths 16,32,64 --batch-size 256 --lr 4e-3 --max-epochs 40
phase fashion-mnist "${FMNIST_BUDGET:-60}" "${FMNIST_LIMIT:-200}" --batch-size 256 --lr 4e-3 --max-epochs 30
