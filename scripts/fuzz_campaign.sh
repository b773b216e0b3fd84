#!/usr/bin/env bash
# Long fuzzing campaign (issue 12): N_TFLITE .tflite, N_PMZ .pmz and N_DATA data mutants, seeded.
# Usage: scripts/fuzz_campaign.sh [SEED] [OUT]   (env: N_TFLITE=20000 N_PMZ=5000 N_DATA=2000 HOST_C=0 JOBS=1 NICE=19)
# Runs niced; each kind is split into JOBS slices run in parallel. Summaries: OUT/summary-*.json,
# escapes (the files and one JSON line each): OUT/escapes/, OUT/escapes.jsonl. Exit 1 if anything escaped.
set -euo pipefail
SEED=${1:-1}
OUT=${2:-fuzz-out/seed-$SEED}
N_TFLITE=${N_TFLITE:-20000}
N_PMZ=${N_PMZ:-5000}
N_DATA=${N_DATA:-2000}
JOBS=${JOBS:-1}
HOST_C=${HOST_C:-0}
NICE=${NICE:-19}
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$OUT"
extra=()
[ "$HOST_C" = 1 ] && extra+=(--host-c)
pids=()
for spec in "tflite:$N_TFLITE" "pmz:$N_PMZ" "data:$N_DATA"; do
  kind=${spec%%:*}
  n=${spec##*:}
  [ "$n" -gt 0 ] || continue
  per=$(( (n + JOBS - 1) / JOBS ))
  for ((j = 0; j < JOBS; j++)); do
    start=$(( j * per ))
    count=$(( n - start < per ? n - start : per ))
    [ "$count" -gt 0 ] || continue
    nice -n "$NICE" "$PY" -m pixmcu.fuzz --kind "$kind" --seed "$SEED" --start "$start" --count "$count" \
      --out "$OUT/$kind" "${extra[@]}" > "$OUT/$kind-$start.json" 2> "$OUT/$kind-$start.log" &
    pids+=($!)
  done
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
"$PY" - "$OUT" <<'PYEOF'
import json, sys, pathlib, collections
out = pathlib.Path(sys.argv[1])
tot = collections.defaultdict(collections.Counter)
for f in sorted(out.glob("*/summary-*.json")):
    s = json.loads(f.read_text())
    tot[s["kind"]].update(s["outcomes"])
    tot[s["kind"]]["slowest_cpu_ms"] = max(tot[s["kind"]]["slowest_cpu_ms"], int(1000 * s["slowest_cpu_s"]))
    tot[s["kind"]]["peak_mb"] = max(tot[s["kind"]]["peak_mb"], int(s["peak_mb"]))
print(json.dumps({k: dict(v) for k, v in tot.items()}, indent=2))
PYEOF
exit $status
