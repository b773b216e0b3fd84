"""pixmcu analyze MODEL [--board B]: the firmware a model makes for a board, predicted before generating."""

from __future__ import annotations

import json

from pixmcu.cli.cmd_generate import add_plan_arguments, plan_options


def add_parser(sub):
    p = sub.add_parser("analyze", help="predict a model's flash and RAM on a board, layer by layer, and whether it fits",
                       description="Per layer: op, shapes, MACs, parameter bytes, bit widths (d, Q and K for a "
                                   "pixel embedding), the kernel and weight layout `pixmcu generate` chooses and its "
                                   "share of flash. In total: the flash (code + constant data) and RAM (arena + "
                                   "stack + harness) of the firmware `pixmcu build` makes for the board, against "
                                   "its capacity. Nothing is written. Exit status 2 when the model cannot fit.")
    add_plan_arguments(p)
    p.add_argument("--json", action="store_true", help="print the analysis as JSON (flash_bytes, ram_bytes, "
                   "arena_bytes, fits, layers, size)")
    return p


def _pct(used: int, total: int) -> str:
    return f"{100.0 * used / total:.1f} %" if total else "n/a"


def _bits(r) -> str:
    if r.get("embedding"):
        e = r["embedding"]
        return f"d={e['d']} Q={e['Q'] if e['Q'] is not None else '?'} K={e['K']}"
    if r["weight_bits"] is None:
        return f"A{r['activation_bits']}" if r["activation_bits"] else "-"
    stored = f" (stored {r['stored_weight_bits']})" if r.get("stored_weight_bits") else ""
    return f"W{r['weight_bits']}A{r['activation_bits']}{stored}"


def print_report(report: dict) -> None:
    from pixmcu.table import format_table

    rows = [[r["index"], r["name"], r["op"], "x".join(map(str, r["output_shape"])), f"{r['macs']:,}",
             f"{r['param_bytes']:,}", _bits(r), r["kernel"], r["layout"], f"{r['flash_bytes']:,}",
             f"{100 * r['flash_share']:.1f}"] for r in report["layers"]]
    print(f"{report['model']} on {report['board']} ({report['core']}): {report['macs']:,} MACs")
    print(format_table(["#", "layer", "op", "output", "MACs", "params B", "bits", "kernel", "layout", "flash B",
                        "flash %"], rows, right=(0, 4, 5, 9, 10)))
    saved = sum(r.get("weight_bytes_saved", 0) for r in report["layers"])
    low = {b: sum(r.get("stored_weight_bits") == b for r in report["layers"]) for b in (4, 2)}
    if any(low.values()):
        print("\n" + " and ".join(f"int{b} weights ({8 // b} per byte) on {n} layers" for b, n in low.items() if n)
              + f"; weights stored as chosen save {saved:,} bytes against int8 storage")
    packed = [r for r in report["layers"] if r.get("stored_activation_bits") == 4]
    if packed:
        print(f"4-bit activations (two per byte in the arena) out of {len(packed)} layers: "
              f"{sum(r['activation_bytes_saved'] for r in packed):,} bytes saved against int8 tensors")
    s = report["size"]
    f, r = s["flash"], s["ram"]
    parts = f["parts"]
    print(f"\nflash ({f['region']}): {f['used']:,} of {f['size']:,} bytes ({_pct(f['used'], f['size'])}): "
          f"code {f['code']:,} (harness, kernels and libc {parts['harness_kernels_libc']:,}; model "
          f"{parts['model_code']:,}), constant data {f['weights']:,}, initialised data {f['data_init']:,}")
    if "weights" in s:
        w = s["weights"]
        print(f"weights ({w['region']}): {w['used']:,} of {w['size']:,} bytes ({_pct(w['used'], w['size'])})")
    print(f"RAM ({r['region']}): {r['used']:,} of {r['size']:,} bytes ({_pct(r['used'], r['size'])}): arena "
          f"{r['arena']:,}, stack {r['stack']:,}, harness {r['bss'] + r['data']:,}")
    if report.get("first_layer"):
        fl = report["first_layer"]
        print(f"first layer: {fl['variant']} ({fl['reason']})")
    if report.get("first_layer_within_room"):
        r = report["first_layer_within_room"]
        print(f"note: the first layer auto picks first overflowed {report['board']}'s flash; {r['variant']} is the "
              f"fastest that fits the {r['room_bytes']:,} bytes the rest leaves (--first-layer overrides)")
    if not s.get("code_measured", True):
        print("note: arm-none-eabi-gcc not found; code and harness bytes are not counted")
    print("fits" if report["fits"] else "DOES NOT FIT: " + "; ".join(report["overflows"]))


def run(args) -> int:
    from pixmcu.analysis import generate_checked
    from pixmcu.errors import PixmcuError
    from pixmcu.footprint import does_not_fit_message

    report, _ = generate_checked(args.model, None, board=args.board, check=False, **plan_options(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    if not report["fits"]:
        raise PixmcuError(does_not_fit_message(args.model, report["size"], report["overflows"]))
    return 0
