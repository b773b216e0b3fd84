"""`pixmcu bench model MODEL [--board B] [--json OUT]`: whole-model speed and memory on one board.

Generates the model for the board (the default, fused code path), builds it with `pixmcu build` and
runs it with `pixmcu run --json` (QEMU: guest instructions per layer from SysTick + icount, bit-exact
check against pixmcu.reference), or `pixmcu flash` + `pixmcu measure` on a real board (DWT cycles).
On QEMU the per-layer exact plugin counts and *estimated* cycles (pm_count TCG plugin x the
Cortex-M4/M7/M55 cost tables, docs/cycles.md) come from `pixmcu run`'s
report when it made them; otherwise this module runs the same firmware once more under the plugin
itself (each layer is a counted region: the generated code marks them). Reports per layer and total: count, estimated cycles, MACs per
instruction / cycle against the core's peak, arena, flash; a table, JSON and a PNG plot.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pixmcu.errors import PixmcuError
from pixmcu.shared_data import cifar10_test

# Peak int8 MACs per cycle of the core's MAC instruction: SMLAD (2 x 16-bit) on Armv7E-M; on the
# M55 the Helium VMLADAVA.S8 retires 8 MACs per cycle (a 128-bit beat pair per cycle on the M55).
PEAK_MACS_PER_CYCLE = {"cortex-m4": 2.0, "cortex-m7": 2.0, "cortex-m55": 8.0}
CYCLE_TABLE_CORES = ("cortex-m4", "cortex-m7", "cortex-m55")
DEFAULT_DATA = cifar10_test()


def add_action(subparsers) -> None:
    """Register `model` under `pixmcu bench`."""
    p = subparsers.add_parser("model", help="whole-model instructions/cycles, MACs per cycle, arena and flash",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a .tflite model")
    p.add_argument("--board", default="qemu-m4", help="board (default qemu-m4)")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the results here (and a plot beside it)")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="plot path (default: next to --json)")
    p.add_argument("--data", type=Path, default=None,
                   help="test images (.npz; default: the shared CIFAR-10 JPEG test set when the input is 32x32x3, "
                        "else seeded random inputs)")
    p.add_argument("--images", type=int, default=4, help="images to run (default 4)")
    p.add_argument("--workdir", type=Path, help="keep the generated model and firmware here")
    p.add_argument("--no-fuse", action="store_true", help="do not fuse residual ADDs (the old default)")
    p.add_argument("--no-estimate", action="store_true", help="skip the plugin pass (estimated cycles)")
    p.add_argument("--optimize", choices=("speed", "balanced", "size"), default=None,
                   help="passed to `pixmcu generate` (default: generate's default)")
    p.add_argument("--flash-budget", type=int, default=None, metavar="BYTES", help="passed to `pixmcu generate`")
    p.add_argument("--port", help="serial port of a real board (with a real --board)")
    p.set_defaults(_bench_run=run)


def _pixmcu(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    child = subprocess.Popen([sys.executable, "-m", "pixmcu", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        out, err = child.communicate()
    except BaseException:
        # Ctrl-C or SIGTERM: let the child stop its own QEMU (SIGTERM), SIGKILL only as the last resort.
        child.terminate()
        try:
            child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
        raise
    proc = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    if proc.returncode != 0:
        raise PixmcuError(f"`pixmcu {' '.join(args)}` failed (exit {proc.returncode}):\n"
                          f"{(proc.stdout + proc.stderr)[-3000:]}")
    return proc


def _data_file(args, manifest: dict, work: Path) -> Path:
    if args.data is not None:
        return args.data
    shape = manifest["input"]["shape"]
    if list(shape[1:]) == [32, 32, 3] and DEFAULT_DATA.exists():
        return DEFAULT_DATA
    rng = np.random.default_rng(0)
    dtype = np.dtype(manifest["input"]["dtype"])
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max + 1, (args.images, *shape[1:])).astype(dtype)
    path = work / "random_inputs.npz"
    np.savez(path, x=x)
    return path


def _region_pass(elf: Path, board, manifest: dict, data: Path, images: int) -> list[dict] | None:
    """Run the firmware in bulk mode under the counting plugin; per layer exact instructions and class
    counts of the first image's inference (regions come image by image, layer by layer)."""
    from host_tools import protocol as P
    from host_tools.bulk import write_inputs
    from host_tools.dataset import load_inputs
    from pixmcu.cycles import parse_plugin_output
    from pixmcu.cycles.plugin import plugin_path
    from pixmcu.cycles.runner import qemu_binary

    inputs = load_inputs(data, manifest, limit=1)
    n_layers = len(manifest["layers"])
    with tempfile.TemporaryDirectory(prefix="pixmcu-bench-") as tmp:
        tmpd = Path(tmp)
        write_inputs(tmpd / P.BULK_IN_NAME, [(0, inputs.image_bytes(0))], 1, int(manifest["input"]["bytes"]))
        out = tmpd / "counts.txt"
        cmd = [qemu_binary(), "-M", board.qemu_machine, "-display", "none", "-monitor", "none", "-serial", "null",
               "-semihosting-config", f"enable=on,target=native,arg={P.BULK_CMDLINE}", "-kernel", str(elf),
               "-plugin", f"{plugin_path()},out={out}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmpd)
        if proc.returncode != 0 or not out.exists():
            raise PixmcuError(f"plugin run failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        regions = parse_plugin_output(out.read_text())
    if len(regions) != n_layers:
        raise PixmcuError(f"plugin run: {len(regions)} counted regions for {n_layers} layers; the table would "
                          "be shifted, so nothing is reported (markers missing or unrecognized?)")
    return [{"insns": r.insns, "classes": r.classes, "events": r.events} for r in regions[:n_layers]]


def _regions_from_report(report: dict) -> list[dict] | None:
    """Per-layer plugin counts and estimates when `pixmcu run` already made them (its default on
    boards with a cost table); None when it did not."""
    layers = report.get("layers") or []
    if not layers or any(layer.get("plugin_count") is None for layer in layers):
        return None
    return [{"insns": layer["plugin_count"], "estimated_cycles": layer.get("estimated_cycles")} for layer in layers]


def bench(args) -> dict:
    from pixmcu.boards import get_board

    board = get_board(args.board)
    if args.images < 1:
        raise PixmcuError("--images must be at least 1")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="pixmcu-bench-model-")
        work = Path(tmp.name)
    else:
        work = Path(args.workdir)
        try:
            work.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise PixmcuError(f"--workdir {work}: a file is in the way of this directory") from None
        except OSError as exc:
            raise PixmcuError(f"--workdir {work}: cannot create ({exc.strerror or exc})") from None
    try:
        out = work / board.name
        # Exactly what `pixmcu generate MODEL --board B` makes (first-layer choice, fusion, name, layouts).
        gen_args = ["generate", str(args.model), "-o", str(out), "--board", board.name, "--json"]
        if args.no_fuse:
            gen_args.append("--no-fuse-residual-add")
        if args.optimize:
            gen_args += ["--optimize", args.optimize]
        if args.flash_budget is not None:
            gen_args += ["--flash-budget", str(args.flash_budget)]
        _pixmcu(gen_args)
        manifest = json.loads((out / "manifest.json").read_text())
        data = _data_file(args, manifest, work)
        from host_tools.dataset import load_inputs

        load_inputs(data, manifest, limit=args.images)  # bad data fails here, in one paragraph, before a build
        report_path = work / f"run_{board.name}.json"
        if board.is_qemu:
            _pixmcu(["run", str(out), "--board", board.name, "--data", str(data), "--limit", str(args.images),
                     "--transport", "semihost", "--quiet", "--json", str(report_path),
                     *(["--no-estimate-cycles"] if args.no_estimate else [])])
        else:
            if not args.port:
                raise PixmcuError(f"{board.name} is a real board: give --port (it is flashed, then measured)")
            _pixmcu(["build", str(out), "--board", board.name])
            _pixmcu(["flash", str(out), "--board", board.name])
            _pixmcu(["measure", str(out), "--port", args.port, "--data", str(data), "--limit", str(args.images),
                     "--quiet", "--json", str(report_path)])
        report = json.loads(report_path.read_text())
        regions = None if args.no_estimate else _regions_from_report(report)
        if regions is None and board.is_qemu and not args.no_estimate:
            regions = _region_pass(out / "firmware.elf", board, manifest, data, args.images)
        return summarize(manifest, report, regions, board.core)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _weight_storage(layer: dict) -> dict:
    """The layer's weight array as stored: bits per weight, bytes, and bytes saved against the same
    layout at int8 (negative where int16 copies spend flash for speed)."""
    from pixmcu.codegen.kernels import stored_weight_bits

    bits = stored_weight_bits(layer["kernel"])
    arrays = [c["bytes"] for c in layer.get("constants", []) if c["array"].endswith("_weights")]
    if bits is None or not arrays:
        return {}
    stored = sum(arrays)
    return {"weight_bits": bits, "weight_bytes": stored, "weight_bytes_saved": stored * 8 // bits - stored}


def summarize(manifest: dict, report: dict, regions: list[dict] | None, core: str) -> dict:
    """The benchmark record: per layer and total counts, estimates, MACs/count, arena, flash."""
    from pixmcu.cycles import estimate

    counter = report.get("counter", "instructions")
    peak = PEAK_MACS_PER_CYCLE.get(core)
    with_cycles = regions is not None and core in CYCLE_TABLE_CORES
    layers = []
    for layer, measured in zip(manifest["layers"], report["layers"]):
        row = {"index": layer["index"], "name": layer["name"], "op": layer["op"], "kernel": layer["kernel"],
               "macs": layer["macs"], "count": measured.get("count"), "output_bytes": layer.get("output_bytes")}
        if "fused_into" in layer:
            row["fused_into"] = layer["fused_into"]
        row.update(_weight_storage(layer))
        if layer.get("activation_bits"):  # the output stored packed in the arena (pixmcu.codegen.act4)
            row.update(activation_bits=layer["activation_bits"], activation_bytes=layer["packed_bytes"],
                       activation_bytes_saved=math.prod(layer["output_shape"]) - layer["packed_bytes"])
        if regions is not None:
            reg = regions[layer["index"]]
            row["instructions_exact"] = reg["insns"]
            if with_cycles:
                est = reg["estimated_cycles"] if "estimated_cycles" in reg else estimate(reg, core)
                row["estimated_cycles"] = round(est) if est is not None else None
        layers.append(row)
    macs = sum(r["macs"] for r in layers)
    total = report["total"]["count"]
    res = {
        "model": report.get("model"), "model_sha256": manifest["model_sha256"], "board": report["board"],
        "core": core, "counter": counter, "images": report["n"], "bitexact": report["bitexact"],
        "macs": macs, "total": {"count": total, "min": report["total"].get("min"), "max": report["total"].get("max")},
        "first_layer": report.get("first_layer"), "arena_bytes": manifest["arena_bytes"],
        "weight_bytes": manifest.get("weight_bytes"), "flash": report.get("flash"), "ram": report.get("ram"),
        "weights_region": report.get("weights_region"), "peak_macs_per_cycle": peak,
        "counter_note": report.get("counter_note"), "layers": layers,
    }
    res["total"]["macs_per_count"] = macs / total if total else None
    if regions is not None:
        res["total"]["instructions_exact"] = sum(r.get("instructions_exact", 0) for r in layers)
    with_cycles = with_cycles and all(r.get("estimated_cycles") is not None for r in layers)
    if not with_cycles:
        for r in layers:
            r.pop("estimated_cycles", None)
    if with_cycles:
        est = sum(r["estimated_cycles"] for r in layers)
        res["total"]["estimated_cycles"] = est
        res["total"]["macs_per_estimated_cycle"] = macs / est if est else None
        res["total"]["fraction_of_peak"] = macs / est / peak if est and peak else None
        res["cycles_note"] = "estimated cycles: QEMU plugin class counts x cost table (docs/cycles.md), not measured"
        unknown = report["total"].get("unknown_instructions")
        if unknown is None and regions and all("classes" in reg for reg in regions):
            unknown = sum(reg["classes"].get("unknown", 0) for reg in regions)
        if unknown is not None:
            res["total"]["unknown_instructions"] = unknown
    elif regions is not None:
        res["cycles_note"] = f"no cost table for {core}: instructions only"
    else:
        res["cycles_note"] = "plugin pass skipped: instructions only" if counter == "instructions" else "measured cycles"
    return res


def format_table(res: dict) -> str:
    unit = "instructions" if res["counter"] == "instructions" else "cycles"
    est = "total" in res and "estimated_cycles" in res["total"]
    head = f"{'#':>3} {'layer':<20} {'kernel':<26} {'MACs':>10} {unit:>13} {'MACs/' + unit[:5]:>11}"
    if est:
        head += f" {'est. cycles':>12} {'MACs/cyc':>9}"
    lines = [f"model {res['model']} on {res['board']} ({res['core']}), {res['images']} images, bit-exact "
             f"{res['bitexact'].get('matches')}/{res['bitexact'].get('compared')}", head]
    for r in res["layers"]:
        count = r["count"] or 0
        kernel = r["kernel"] + (f" (in {r['fused_into']})" if "fused_into" in r else "")
        line = (f"{r['index']:>3} {r['name'][:20]:<20} {kernel[:26]:<26} {r['macs']:>10,} {count:>13,.0f} "
                f"{(r['macs'] / count if count else 0):>11.3f}")
        if est:
            c = r.get("estimated_cycles") or 0
            line += f" {c:>12,} {(r['macs'] / c if c else 0):>9.3f}"
        lines.append(line)
    t = res["total"]
    line = f"{'':>3} {'total':<20} {'':<26} {res['macs']:>10,} {t['count']:>13,.0f} {t['macs_per_count']:>11.3f}"
    if est:
        line += f" {t['estimated_cycles']:>12,} {t['macs_per_estimated_cycle']:>9.3f}"
    lines.append(line)
    if res.get("first_layer"):
        lines.append(f"first layer ({res['first_layer']['name']}): {res['first_layer']['count']:,.0f} {unit}")
    if est:
        if t.get("unknown_instructions"):
            from pixmcu.cycles.cost_tables import unknown_warning

            lines.append(unknown_warning(t["unknown_instructions"]))
        lines.append(f"MACs per estimated cycle {t['macs_per_estimated_cycle']:.3f} of a peak "
                     f"{res['peak_macs_per_cycle']:.0f} ({100 * t['fraction_of_peak']:.1f}%)")
    fl = res.get("flash") or {}
    wr = res.get("weights_region")
    where = f" (in {wr['region']})" if wr else ""
    stored = [r for r in res["layers"] if r.get("weight_bits")]
    if stored:
        by_bits = {b: sum(r["weight_bits"] == b for r in stored) for b in (2, 4, 8, 16)}
        lines.append("weights stored: " + ", ".join(f"int{b} x{n}" for b, n in by_bits.items() if n)
                     + f"; {sum(r['weight_bytes_saved'] for r in stored):,} B saved against int8")
    packed = [r for r in res["layers"] if r.get("activation_bits")]
    if packed:
        lines.append(f"activations stored: int4 packed x{len(packed)}; "
                     f"{sum(r['activation_bytes_saved'] for r in packed):,} B saved against int8")
    lines.append(f"arena {res['arena_bytes']:,} B; flash: code {fl.get('code', 0):,} B, constant data "
                 f"{res.get('weight_bytes') or 0:,} B{where}")
    lines.append(f"note: {res.get('counter_note') or ''}; {res['cycles_note']}")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["layers"] if (r["count"] or 0) > 1000]
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) + 2), 4))
    unit = "instructions" if res["counter"] == "instructions" else "cycles"
    est = "estimated_cycles" in res["total"]
    w = 0.4 if est else 0.7
    ax.bar(x - (w / 2 if est else 0), [r["count"] / 1e6 for r in rows], w, label=unit)
    if est:
        ax.bar(x + w / 2, [r["estimated_cycles"] / 1e6 for r in rows], w, label="estimated cycles")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("millions")
    t = res["total"]
    ax.set_title(f"{res['model']} on {res['board']}: {t['count'] / 1e6:.2f} M {unit}"
                 + (f", {t['estimated_cycles'] / 1e6:.2f} M est. cycles" if est else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args) -> int:
    res = bench(args)
    print(format_table(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    plot_path = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if plot_path:
        plot(res, plot_path)
    if args.json:
        print(f"results: {args.json}" + (f", plot: {plot_path}" if plot_path else ""))
    ok = res["bitexact"].get("matches") == res["bitexact"].get("compared")
    return 0 if ok else 1
