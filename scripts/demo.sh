#!/usr/bin/env bash
# The main job end to end on the default QEMU board (qemu-m4, Cortex-M4F): set up, inspect the MLPerf Tiny
# int8 ResNet, generate C, build firmware, stream 100 CIFAR-10 (JPEG) test images over the emulated serial
# link, and print accuracy, bit-exact agreement with the host reference, and instruction counts.
# MODEL=cifar10-pe-w8a8 (a shipped pixel-embedding model, see `pixmcu models`) or any int8 .tflite also works.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

SHARED=${PIXMCU_SHARED:-$(.venv/bin/python -c "from pixmcu.shared_data import shared_dir; print(shared_dir())")}
MODEL=${MODEL:-$SHARED/models/mlperf_tiny/pretrainedResnet_quant.tflite}
BOARD=${BOARD:-qemu-m4}
N=${N:-100}
OUT=${OUT:-out/demo}
PIXMCU=.venv/bin/pixmcu
mkdir -p "$OUT"

echo "== 1. inspect"
$PIXMCU inspect "$MODEL"
echo "== 2. $N CIFAR-10 (JPEG) test images, seeded random sample"
$PIXMCU data sample "$SHARED/datasets/cifar10_test_jpeg.npz" -n "$N" -o "$OUT/cifar10_test_$N.npz"
echo "== 3. host integer reference"
$PIXMCU infer "$MODEL" --data "$OUT/cifar10_test_$N.npz" --out "$OUT/reference_outputs.npz"
echo "== 4. generate C for $BOARD"
$PIXMCU generate "$MODEL" -o "$OUT/model" --board "$BOARD" --name resnet
echo "== 5. build firmware"
$PIXMCU build "$OUT/model"
echo "== 6. run on $BOARD over the emulated serial link"
$PIXMCU run "$OUT/model" --data "$OUT/cifar10_test_$N.npz" --json "$OUT/report.json" --save-outputs "$OUT/device_outputs.npz"
echo "report: $OUT/report.json"
