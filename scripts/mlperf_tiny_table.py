"""The four MLPerf Tiny models on qemu-m4/m7/m55 against TFLM + CMSIS-NN (docs/performance.md, issue 13).

    python scripts/mlperf_tiny_table.py OUTDIR [--run]

--run first runs `pixmcu bench model MODEL --board B --images 2 --json OUTDIR/MODEL_B.json` for every
model and board (default options: what `pixmcu generate` builds); then prints the markdown table from
the JSON files in OUTDIR. TFLM + CMSIS-NN figures: ../shared/BASELINES.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MODELS = {  # file stem -> (row name, TFLM arena, TFLM minimal-firmware flash)
    "pretrainedResnet_quant": ("IC ResNet-8", 54_996, 177_656),
    "kws_ref_model": ("KWS DS-CNN", 22_820, 138_236),
    "vww_96_int8": ("VWW MobileNet 96", 100_708, 417_588),
    "ad01_int8": ("AD autoencoder", 2_580, 308_836),
}
TFLM_INSTRUCTIONS = {
    "qemu-m4": {"pretrainedResnet_quant": 29_863_172, "kws_ref_model": 7_696_425, "vww_96_int8": 24_101_935,
                "ad01_int8": 582_941},
    "qemu-m7": {"pretrainedResnet_quant": 30_026_290, "kws_ref_model": 7_642_515, "vww_96_int8": 24_026_372,
                "ad01_int8": 583_517},
    "qemu-m55": {"pretrainedResnet_quant": 4_910_000},
}
BOARDS = ("qemu-m4", "qemu-m7", "qemu-m55")


def run(outdir: Path) -> None:
    from pixmcu.shared_data import shared_dir

    models = shared_dir() / "models" / "mlperf_tiny"
    for board in BOARDS:
        for stem in MODELS:
            print(f"bench {stem} on {board}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pixmcu", "bench", "model", str(models / f"{stem}.tflite"),
                            "--board", board, "--images", "2", "--json", str(outdir / f"{stem}_{board}.json")],
                           check=True, stdout=subprocess.DEVNULL)


def table(outdir: Path) -> str:
    rows = ["| model | board | TFLM + CMSIS-NN instr. | pixmcu instr. | ratio | pixmcu est. cycles | bit-exact | "
            "arena TFLM / pixmcu B | flash TFLM / pixmcu B |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for board in BOARDS:
        for stem, (name, arena, flash) in MODELS.items():
            path = outdir / f"{stem}_{board}.json"
            if not path.exists():
                continue
            r = json.loads(path.read_text())
            count = round(r["total"]["count"])
            tflm = TFLM_INSTRUCTIONS.get(board, {}).get(stem)
            est = r["total"].get("estimated_cycles")
            ours_flash = r["flash"]["code"] + r["weight_bytes"]
            where = f" (constants in {r['weights_region']['region']})" if board == "qemu-m55" else ""
            tflm_arena = f"{arena:,}" if board != "qemu-m55" else ("55,028" if stem == "pretrainedResnet_quant" else "–")
            tflm_flash = f"{flash:,}" if board == "qemu-m4" else "–"
            rows.append(
                f"| {name} | {board} | {f'{tflm:,}' if tflm else '–'} | {count:,} | "
                f"{f'{count / tflm:.2f}' if tflm else ''} | {f'{est:,}' if est else '–'} | "
                f"{r['bitexact']['matches']}/{r['bitexact']['compared']} | {tflm_arena} / {r['arena_bytes']:,} | "
                f"{tflm_flash} / {ours_flash:,}{where} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--run", action="store_true", help="run the benchmarks first (about 15 minutes)")
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    if args.run:
        run(args.outdir)
    print(table(args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
