"""`pixmcu quantize MODEL -o OUT.pmz --calib DATA.npz`: post-training quantization of a float model."""

from __future__ import annotations

import json
import sys
from pathlib import Path


from pixmcu.errors import PixmcuError


def add_parser(sub):
    p = sub.add_parser(
        "quantize", help="quantize a float model (.pt2, .onnx, float .tflite) to a full-integer .pmz",
        description="Post-training quantization, by TFLite's full-integer rules: per-channel symmetric int8 "
                    "weights, int32 biases, asymmetric int8 activations calibrated on DATA, BatchNorm folded, "
                    "first and last layers included. DATA's uint8 images are mapped to the model's real input "
                    "as pixel*scale+offset, exactly as `pixmcu infer`/`generate` map them: pass the same "
                    "--pixel-scale/--pixel-offset there.")
    p.add_argument("model", type=Path, help="float model: .pt2 (torch.export.save), .onnx, or float .tflite")
    p.add_argument("-o", "--output", type=Path, required=True, help="integer graph to write (.pmz)")
    p.add_argument("--calib", type=Path, required=True, help="calibration images: .npz with x (N,H,W,C) uint8 [and y]")
    p.add_argument("--calib-limit", type=int, default=1000, help="calibrate on the first N images (default 1000)")
    p.add_argument("--eval", type=Path, help="labelled images to report float vs int8 top-1 on (default: --calib)")
    p.add_argument("--eval-limit", type=int, help="evaluate on the first N images")
    p.add_argument("--pixel-scale", type=float, default=1.0, help="real = pixel * scale + offset (default 1)")
    p.add_argument("--pixel-offset", type=float, default=0.0, help="see --pixel-scale (default 0)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel")
    p.add_argument("--method", choices=("minmax", "percentile"), default="minmax",
                   help="activation ranges: min/max over the calibration set (default) or the 99.99th percentile")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


def run(args) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PixmcuError("pixmcu quantize needs torch: pip install 'pixmcu[train]'") from None
    from pixmcu.data import PixelMapping, load_dataset, to_model_input
    from pixmcu.frontend.checkpoint import _identifier, save_graph
    from pixmcu.ptq import float_logits, load_float_model, quantize
    from pixmcu.reference import invoke

    if args.output.suffix != ".pmz":
        raise PixmcuError(f"{args.output}: the integer graph is written as .pmz")
    if args.pixel_scale <= 0:
        raise PixmcuError(f"--pixel-scale must be positive, got {args.pixel_scale}")
    mapping = PixelMapping(args.pixel_scale, args.pixel_offset)
    fg = load_float_model(args.model)
    calib = load_dataset(args.calib, limit=args.calib_limit)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    log(f"calibrating {args.model} on {len(calib.x)} images of {calib.path} ({args.method})")
    q = quantize(fg, calib.x, mapping, per_tensor=args.per_tensor, method=args.method,
                 name=_identifier(args.model.stem), source=str(args.model))
    ev = load_dataset(args.eval, limit=args.eval_limit) if args.eval else load_dataset(args.calib, limit=args.eval_limit)
    summary = {"model": str(args.model), "output": str(args.output), "calibration_images": int(len(calib.x)),
               "method": args.method, "per_tensor": args.per_tensor,
               "pixel_mapping": {"scale": args.pixel_scale, "offset": args.pixel_offset},
               "layers": len(q.graph.operators), "eval_images": int(len(ev.x)),
               "float_top1": None, "int8_top1": None}
    if ev.y is not None:
        fl = float_logits(fg, ev.x, mapping).argmax(1)
        xi = to_model_input(ev.x, q.graph.input_tensor(), mapping, str(ev.path))
        il = invoke(q.graph, xi).reshape(len(ev.x), -1).argmax(1)
        summary["float_top1"] = round(100 * float((fl == ev.y).mean()), 2)
        summary["int8_top1"] = round(100 * float((il == ev.y).mean()), 2)
        summary["top1_agreement"] = round(100 * float((fl == il).mean()), 2)
    save_graph(q.graph, args.output, metadata={
        "source_model": str(args.model), "quantization": "post-training", "method": args.method,
        "per_tensor": args.per_tensor, "pixel_mapping": summary["pixel_mapping"],
        "float_top1": summary["float_top1"], "int8_top1": summary["int8_top1"]})
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{len(q.graph.operators)} integer layers -> {args.output}")
    if summary["float_top1"] is not None:
        print(f"top-1 on {len(ev.x)} images of {ev.path}: float {summary['float_top1']:.2f}%   "
              f"int8 {summary['int8_top1']:.2f}%   (same class on {summary['top1_agreement']:.2f}%)")
    flags = _pixel_flags(args.pixel_scale, args.pixel_offset)
    print(f"next: pixmcu infer {args.output} --data DATA.npz --out OUT.npz{flags}; "
          f"pixmcu generate {args.output} OUTDIR{flags}")
    return 0


def _pixel_flags(scale: float, offset: float) -> str:
    s = ""
    if scale != 1.0:
        s += f" --pixel-scale {float(scale)!r}"
    if offset != 0.0:
        s += f" --pixel-offset {float(offset)!r}"
    return s
