#!/usr/bin/env bash
# The first-layer variants of every shipped pixel-embedding model, measured on qemu-m4 by
# `pixmcu tune --no-regenerate` (the shipped-model table of docs/first_layer.md). A few minutes.
#   bash scripts/first_layer_shipped.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PIXMCU=${PIXMCU:-.venv/bin/pixmcu}
WORK=${1:-$(mktemp -d)}
for m in fmnist-pe-w4a4 fmnist-pe-w8a8 cifar10-pe-w4a4 cifar10-pe-w8a8; do
  echo "== $m"
  "$PIXMCU" analyze "$m" --board qemu-m4 --json | .venv/bin/python -c \
    'import json, sys; e = json.load(sys.stdin)["layers"][0]["embedding"]; print("d =", e["d"], " Q =", e["Q"], " K =", e["K"])'
  "$PIXMCU" generate "$m" -o "$WORK/$m" --board qemu-m4 >/dev/null
  "$PIXMCU" tune "$WORK/$m" --no-regenerate
done
