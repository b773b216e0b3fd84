"""`pixmcu train`: quantization-aware training of a zoo model, checkpoint every epoch."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pixmcu.errors import PixmcuError

DEFAULT_ARCH = {"fashion-mnist": ("cnn28", "flatten"), "cifar10": ("resnet8", "gap")}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a quantized CNN (optionally with pixel embedding)",
                       description="Quantization-aware training (PyTorch). Writes a checkpoint after every "
                                   "epoch that `pixmcu generate` accepts; --export also writes the integer graph (.pmz).")
    p.add_argument("--dataset", default="fashion-mnist",
                   help="fashion-mnist (default), cifar10 (the JPEG archive in ../shared), or an .npz with x/y (uint8 NHWC; "
                        "see --val-split)")
    p.add_argument("--val-split", type=float, default=0.2, metavar="FRACTION",
                   help="for an .npz without x_test/y_test: the fraction of its images held out (seeded by --seed) "
                        "to report accuracy on, never trained on (default 0.2); named datasets use their test split")
    p.add_argument("-o", "--output", type=Path, help="checkpoint path (.pt); default runs/<dataset>_<setting>.pt")
    p.add_argument("--resume", action="store_true", help="continue from --output if it exists")
    p.add_argument("--export", type=Path, metavar="PMZ", help="also write the integer graph here (.pmz)")
    p.add_argument("--init", type=Path, metavar="MODEL.pt2",
                   help="start from your own float network (torch.export.save file) instead of a zoo model: the "
                        "input stage goes in front of its first convolution, then QAT fine-tunes it (needs --export)")
    p.add_argument("--pixel-scale", type=float, default=1.0,
                   help="with --init: how the float network saw pixels, real = pixel*scale + offset (default 1)")
    p.add_argument("--pixel-offset", type=float, default=0.0, help="with --init: see --pixel-scale (default 0)")
    m = p.add_argument_group("model")
    m.add_argument("--arch", choices=("cnn28", "resnet8"), help="default: cnn28 for 28x28, resnet8 otherwise")
    m.add_argument("--widths", help="comma-separated channel widths, e.g. 16,32,64")
    m.add_argument("--head", choices=("gap", "flatten"))
    m.add_argument("--bits", default="W8A8", help="W<w>A<a> (w in 1,2,4,8; a in 2,4,8) or 'float' (default W8A8)")
    m.add_argument("--first-wbits", type=int, help="first layer weight bits (default: as --bits)")
    m.add_argument("--last-wbits", type=int, help="last layer weight bits (default: as --bits)")
    m.add_argument("--input-stage", choices=("float", "naive", "int8", "embed"), default="embed",
                   help="how the input is quantized: a pixel embedding (default embed), naive or int8 "
                        "requantization, or float")
    e = p.add_argument_group("pixel embedding")
    e.add_argument("--embed-dim", type=int, default=10, help="d: entries per pixel value (default 10)")
    e.add_argument("--embed-bits", type=int, default=2, help="Q: bits per entry (default 2)")
    e.add_argument("--embed-shared", action="store_true", help="one table for all channels")
    e.add_argument("--embed-init", choices=("ramp", "thermometer", "random"), default="ramp",
                   help="initial table (default ramp)")
    e.add_argument("--bins", type=int, help="binned embedding: K <= 16 bins per channel")
    e.add_argument("--learn-bins", action="store_true", help="learn the bin thresholds (default uniform)")
    e.add_argument("--freeze-embedding", action="store_true", help="keep the initial table fixed")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=float, default=10.0, help="epochs, fractions allowed (default 10)")
    t.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
    t.add_argument("--lr", type=float,
                   help="peak learning rate (default 0.003; 0.001 with --init, which fine-tunes a trained network)")
    t.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 0.0001)")
    t.add_argument("--augment", choices=("auto", "none", "flip", "crop-flip"), default="auto",
                   help="auto (default): crop+flip for CIFAR-10, none otherwise")
    t.add_argument("--train-subset", type=int, help="train on this many images")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--device", default="auto", help="auto (default: CUDA when present, else CPU), cpu, cuda")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    t.add_argument("--cache-dir", type=Path, help="decoded-dataset cache (default ~/.cache/pixmcu)")
    t.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress on stderr")
    return p


def parse_bits(s: str) -> tuple[int | None, int | None]:
    if s.lower() == "float":
        return None, None
    m = re.fullmatch(r"[wW](\d)[aA](\d)", s)
    if not m:
        raise PixmcuError(f"--bits {s!r}: expected W<w>A<a> such as W4A4, or 'float'")
    w, a = int(m.group(1)), int(m.group(2))
    if w not in (1, 2, 4, 8) or a not in (2, 4, 8):
        raise PixmcuError(f"--bits {s}: weights take 1, 2, 4 or 8 bits, activations 2, 4 or 8")
    return w, a


def build_config(args: argparse.Namespace, data):
    from pixmcu.nn.models import ModelConfig

    h, w, c = data.shape
    if h != w:
        raise PixmcuError(f"images must be square, got {h}x{w}")
    wbits, abits = parse_bits(args.bits)
    stage = "float" if wbits is None else args.input_stage
    arch = args.arch or ("cnn28" if h == 28 else "resnet8")
    head = args.head or ("flatten" if arch == "cnn28" else "gap")
    widths = tuple(int(x) for x in args.widths.split(",")) if args.widths else (16, 32, 64)
    if len(widths) != 3:
        raise PixmcuError("--widths takes three numbers")
    if arch == "cnn28" and h % 4:
        raise PixmcuError("cnn28 needs an image size divisible by 4")
    if args.bins is not None and not 2 <= args.bins <= 16:
        raise PixmcuError("--bins must be 2..16")
    if not 1 <= args.embed_bits <= 8:
        raise PixmcuError("--embed-bits must be 1..8")
    embed = {}
    if stage == "embed":
        embed = {"dim": args.embed_dim, "bits": args.embed_bits, "shared": args.embed_shared,
                 "init": args.embed_init, "bins": args.bins, "learn_bins": args.learn_bins}
    try:
        return ModelConfig(arch=arch, in_channels=c, image_size=h, num_classes=data.classes, widths=widths,
                           input_stage=stage, wbits=wbits, abits=abits, first_wbits=args.first_wbits,
                           last_wbits=args.last_wbits, embed=embed, head=head)
    except ValueError as exc:
        raise PixmcuError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PixmcuError("pixmcu train needs torch: pip install 'pixmcu[train]'") from None
    from pixmcu.train import distributed
    from pixmcu.train.data import load_dataset, subset
    from pixmcu.train.loop import TrainArgs, train

    ctx = distributed.from_env()  # torchrun's ranks, or one process
    say = print if ctx.is_main else (lambda *a, **k: None)

    if not 0 < args.val_split < 1:
        raise PixmcuError(f"--val-split {args.val_split}: a fraction between 0 and 1 (exclusive)")
    data = load_dataset(args.dataset, args.cache_dir, val_split=args.val_split)
    if Path(args.dataset).suffix == ".npz":
        import numpy as np

        with np.load(args.dataset) as z:
            own_test = "x_test" in z.files
        n_all = len(data.train.x) + (0 if own_test else len(data.test.x))
        say(f"{args.dataset}: " + (f"its x_test/y_test ({len(data.test.x)} images) for validation" if own_test else
                                     f"{len(data.test.x)} of {n_all} images held out for validation, never trained "
                                     f"on (--val-split {args.val_split:g})"), file=sys.stderr)
    data.train = subset(data.train, args.train_subset, args.seed)
    if args.init is not None:
        return run_init(args, data)
    cfg = build_config(args, data)
    out = args.output or Path("runs") / f"{data.name}_{re.sub(r'[^A-Za-z0-9]+', '_', cfg.label()).strip('_')}.pt"
    if out.suffix != ".pt":
        raise PixmcuError(f"{out}: checkpoints end in .pt")
    if out.exists() and not args.resume:
        raise PixmcuError(f"{out} exists: pass --resume to continue it, or choose another --output")
    targs = TrainArgs(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or 3e-3,
                      weight_decay=args.weight_decay, augment=args.augment, seed=args.seed, device=args.device,
                      threads=args.threads, progress=not args.no_progress)
    if args.freeze_embedding and cfg.input_stage != "embed":
        raise PixmcuError("--freeze-embedding needs --input-stage embed")
    if args.export and not cfg.quantized:
        raise PixmcuError("--export needs a fully quantized model (not --bits float / --input-stage float)")
    workers = f", {ctx.world_size} processes" if ctx.enabled else ""
    say(f"training {cfg.label()} ({cfg.arch}) on {data.name}: {len(data.train.x)} images, {args.epochs:g} epochs"
        f", global batch {args.batch_size}{workers}")
    ok = False
    try:
        model, res = train(cfg, data, targs, checkpoint=out, resume=args.resume,
                           freeze_embedding=args.freeze_embedding, ctx=ctx)
        say(f"top-1 {100 * res.test_accuracy:.2f}% on {len(data.test.x)} test images "
            f"({res.train_seconds:.0f} s training); checkpoint {out}")
        if args.export:
            from pixmcu.codegen.generator import graph_digest
            from pixmcu.frontend.checkpoint import save_graph
            from pixmcu.nn.export import export_model

            # Every rank exports and the digests must agree: rank 0's file is the model of every rank.
            graph = export_model(model, name="model", source=str(out))
            digest = graph_digest(graph)
            if ctx.enabled:
                print(f"rank {ctx.rank}/{ctx.world_size}: integer model sha256 {digest}", file=sys.stderr, flush=True)
            distributed.check_same(digest, ctx, "exported integer model")
        if args.export and ctx.is_main:
            save_graph(graph, args.export, metadata=model_metadata(cfg, data.name, res.test_accuracy,
                                                                   ctx.world_size, args.batch_size))
            say(f"integer graph {args.export}")
        ok = True
    finally:
        distributed.teardown(ctx, ok)
    return 0


def run_init(args: argparse.Namespace, data) -> int:
    """--init: the user's float network with an input stage and QAT, exported as an integer graph."""
    from pixmcu.frontend.checkpoint import save_graph
    from pixmcu.nn.byom import quantize_aware
    from pixmcu.train.loop import TrainArgs, train

    if args.init.suffix != ".pt2":
        raise PixmcuError(f"--init {args.init}: expected a torch.export program (.pt2): "
                          "torch.export.save(torch.export.export(model.eval(), (torch.zeros(1, C, H, W),)), 'model.pt2')")
    if args.export is None:
        raise PixmcuError("--init trains your own network: give --export OUT.pmz for its integer graph")
    if args.output is not None or args.resume or args.arch or args.widths or args.head:
        raise PixmcuError("--init takes the network from its file: -o/--resume/--arch/--widths/--head do not apply")
    if args.bits.lower() == "float" or args.input_stage == "float":
        raise PixmcuError("--init fine-tunes for integers: give --bits W<w>A<a> and an input stage embed, naive or int8")
    embed = {}
    if args.input_stage == "embed":
        embed = {"dim": args.embed_dim, "bits": args.embed_bits, "shared": args.embed_shared,
                 "init": args.embed_init, "bins": args.bins, "learn_bins": args.learn_bins}
    h, w, c = data.shape
    qat = quantize_aware(args.init, input_stage=args.input_stage, bits=args.bits, embed=embed,
                         pixel_scale=args.pixel_scale, pixel_offset=args.pixel_offset,
                         first_wbits=args.first_wbits, last_wbits=args.last_wbits, calib=data.train.x[:256])
    if qat.input_shape != (c, h, w):
        raise PixmcuError(f"--init {args.init} takes images (C, H, W) = {qat.input_shape}; {data.name} has {(c, h, w)}")
    if qat.cfg.num_classes < data.classes:
        raise PixmcuError(f"--init {args.init} has {qat.cfg.num_classes} outputs; {data.name} has {data.classes} classes")
    # Fine-tuning without BatchNorm (folded): the zoo's 3e-3 undoes the float training (1 epoch of
    # Fashion-MNIST, W4A4 embed: 65.4% at 3e-3, 80.6% at 1e-3).
    targs = TrainArgs(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or 1e-3,
                      weight_decay=args.weight_decay, augment=args.augment, seed=args.seed, device=args.device,
                      threads=args.threads, progress=not args.no_progress)
    print(f"training {qat.cfg.label()} ({args.init}) on {data.name}: {len(data.train.x)} images, {args.epochs:g} epochs")
    model, res = train(qat.cfg, data, targs, freeze_embedding=args.freeze_embedding, model=qat)
    print(f"top-1 {100 * res.test_accuracy:.2f}% on {len(data.test.x)} test images ({res.train_seconds:.0f} s training)")
    graph = model.export(name="model", source=str(args.init))
    meta = model_metadata(qat.cfg, data.name, res.test_accuracy)
    meta["init"] = str(args.init)
    del meta["widths"]  # the zoo's widths; this network's are in its graph
    save_graph(graph, args.export, metadata=meta)
    print(f"integer graph {args.export}")
    return 0


def model_metadata(cfg, dataset: str, top1: float, world_size: int = 1, global_batch: int | None = None) -> dict:
    from pixmcu.experiments.report import DATASET_TITLES

    return {"dataset": dataset, "dataset_title": DATASET_TITLES.get(dataset, dataset),
            "input_stage": cfg.input_stage, "wbits": cfg.wbits, "abits": cfg.abits, "embed": cfg.embed,
            "arch": cfg.arch, "widths": list(cfg.widths), "host_top1": round(100 * top1, 2),
            "world_size": world_size, "global_batch": global_batch}
