"""pixmcu infer MODEL --data DATA.npz --out OUT.npz: run a model on the host, bit-exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pixmcu import reference
from pixmcu.data import PixelMapping, check_count, read_model_inputs
from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model

ENGINES = ("reference", "host-c")


def add_parser(sub):
    p = sub.add_parser("infer", help="run a model on the host (numpy reference or generated C)",
                       description="Run a model over a data file on the host. Uint8 images are mapped to "
                                   "real values as pixel*scale+offset and quantized with the model input's "
                                   "scale and zero point (default: real = pixel).")
    p.add_argument("model", help="a .tflite file, a .pmz/.pt checkpoint, or a shipped model's name")
    p.add_argument("--data", required=True, help=".npz with x (N, *model input shape[1:]) and optional y labels")
    p.add_argument("--out", help="write the outputs here (.npz, array 'outputs'); default: not saved")
    p.add_argument("--engine", choices=ENGINES, default="reference",
                   help="reference: numpy (default); host-c: generated C compiled with the host gcc; "
                        "`pixmcu validate` runs several and compares them")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--pixel-scale", type=float, default=1.0, help="real = pixel * scale + offset (default 1)")
    p.add_argument("--pixel-offset", type=float, default=0.0, help="see --pixel-scale (default 0)")
    p.add_argument("--batch", type=int, default=250, help="images per reference batch (default 250)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (progress still goes to stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def run(args) -> int:
    check_count("--batch", args.batch)
    mapping = PixelMapping(args.pixel_scale, args.pixel_offset)
    graph = load_model(args.model)
    ds = read_model_inputs(args.data, graph.input_tensor(), graph.output_tensor(), mapping, limit=args.limit)
    x = ds.x
    if args.engine == "reference":
        outs = []
        for i in tqdm(range(0, len(x), args.batch), desc="reference", unit="batch", disable=args.quiet):
            outs.append(reference.run(graph, x[i:i + args.batch])[graph.outputs[0]])
        outputs = np.concatenate(outs)
    else:
        from pixmcu.engines.host_c import run_host_c

        outputs = run_host_c(Path(args.model), x)
    out_path = Path(args.out) if args.out else None
    if out_path is not None:
        try:
            np.savez(out_path, outputs=outputs)
        except OSError as exc:
            raise PixmcuError(f"{out_path}: cannot write outputs ({exc.strerror or exc})") from None
    summary = {"model": args.model, "engine": args.engine, "n": int(len(x)),
               "out": str(out_path) if out_path else None, "accuracy": None}
    if ds.y is not None:
        flat = outputs.reshape(len(outputs), -1)
        summary["accuracy"] = float((flat.argmax(axis=1) == ds.y).mean())
    if args.json:
        print(json.dumps(summary))
    else:
        msg = f"{summary['n']} inputs" + (f" -> {out_path}" if out_path else "") + f" ({args.engine})"
        if summary["accuracy"] is not None:
            msg += f"; top-1 accuracy {100 * summary['accuracy']:.2f}%"
        print(msg)
    return 0
