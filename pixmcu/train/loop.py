"""The training loop: AdamW with a cosine schedule, BN frozen for the last part so the final steps
train exactly the folded, quantized network that gets exported; a checkpoint after every epoch."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pixmcu.errors import PixmcuError
from pixmcu.nn.models import ModelConfig, build_model, freeze_bn
from pixmcu.train.distributed import SINGLE, Context, all_sum, check_same_model, from_main, setup, sync_buffers, wrap
from pixmcu.train.data import Dataset, Split

CHECKPOINT_FORMAT = "pixmcu-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class TrainArgs:
    epochs: float = 2.0
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    freeze_bn_at: float = 0.8  # fraction of all steps after which BN statistics are frozen
    embed_lr_mult: float = 1.0  # the table's learning rate relative to the network's
    augment: str = "auto"  # auto | none | crop-flip | flip
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    test_accuracy: float
    train_seconds: float
    epochs: float
    history: list[dict[str, Any]] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_nchw(x: np.ndarray) -> torch.Tensor:
    # C order matters: a channels-last-strided batch sends some CPU conv backward kernels into heap
    # corruption (seen with torch 2.13 at 4 channels), and a fresh copy is writable for torch.
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)).copy())


def augment_draws(n: int, mode: str, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The random draws of a batch of n (CPU, from `gen`): a seed gives the same augmentation on
    CPU and GPU, and with data-parallel training each rank takes its share of the global batch's draws."""
    draws = {}
    if mode in ("crop-flip", "flip"):
        draws["flip"] = torch.rand(n, generator=gen) < 0.5
    if mode == "crop-flip":
        draws["dy"] = torch.randint(0, 9, (n,), generator=gen)
        draws["dx"] = torch.randint(0, 9, (n,), generator=gen)
    return draws


def apply_augment(x: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
    """Random 4-pixel-shift crops (zero padded) and horizontal flips on a uint8 NCHW batch; the
    crops are one gather, not a per-image loop."""
    n = x.shape[0]
    if "flip" in draws:
        flip = draws["flip"].to(x.device)
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    if "dy" in draws:
        c, h, w = x.shape[1:]
        padded = F.pad(x, (4, 4, 4, 4))
        dy, dx = draws["dy"].to(x.device), draws["dx"].to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    return x


def augment_batch(x: torch.Tensor, mode: str, gen: torch.Generator) -> torch.Tensor:
    return apply_augment(x, augment_draws(x.shape[0], mode, gen))


def resolve_augment(mode: str, dataset_name: str) -> str:
    if mode != "auto":
        return mode
    return "crop-flip" if dataset_name.startswith("cifar") else "none"


class _exact_float32:
    """TF32 off: integer-valued operands must be multiplied in full float32 for eval to be exact."""

    def __enter__(self):
        self.prev = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False

    def __exit__(self, *exc):
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = self.prev


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, device: torch.device, batch: int = 500) -> np.ndarray:
    model.eval()
    out = []
    with _exact_float32():
        for i in range(0, len(x), batch):
            out.append(model(to_nchw(x[i:i + batch]).to(device)).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def evaluate(model: torch.nn.Module, split: Split, device: torch.device, ctx: Context = SINGLE) -> float:
    """Top-1 on `split`; with data-parallel training each rank predicts its share of the images."""
    lo, hi = ctx.share(len(split.x))
    correct = int((predict(model, split.x[lo:hi], device) == split.y[lo:hi]).sum())
    return all_sum([correct], ctx, device)[0] / max(len(split.x), 1)


def _param_groups(model: torch.nn.Module, wd: float, lr: float, embed_lr_mult: float):
    decay, no_decay, table = [], [], []
    for name, p in model.named_parameters():
        if "embedding" in name:
            table.append(p)  # not decayed either: shrinking the table pulls every code toward zero
        else:
            (decay if p.dim() > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": wd, "lr": lr}, {"params": no_decay, "weight_decay": 0.0, "lr": lr}]
    if table:
        # A code moves only after its latent value crosses half a grid step, and each entry sees
        # gradient only from pixels of its value: the table may need a larger step than the weights.
        groups.append({"params": table, "weight_decay": 0.0, "lr": lr * embed_lr_mult})
    return groups


def save_checkpoint(path: Path, **state: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, tmp)
    tmp.replace(path)  # an interrupted save never leaves a truncated checkpoint behind


def train(cfg: ModelConfig, data: Dataset, args: TrainArgs, checkpoint: Path | None = None,
          resume: bool = False, freeze_embedding: bool = False,
          model: torch.nn.Module | None = None, ctx: Context = SINGLE) -> tuple[torch.nn.Module, TrainResult]:
    """Train `cfg`'s zoo model, or `model` (e.g. from pixmcu.nn.quantize_aware) when given. Trains on one
    process, or as rank `ctx.rank` of `ctx.world_size` (torchrun): `args.batch_size` is the global batch
    either way, and only rank 0 writes the checkpoint."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < ctx.world_size:
        raise PixmcuError(f"--batch-size {args.batch_size} is the global batch: it needs at least one image "
                          f"for each of the {ctx.world_size} processes")
    device = setup(ctx, pick_device(args.device))
    seed_all(args.seed)
    model = (build_model(cfg) if model is None else model).to(device)
    if freeze_embedding and model.input.embedding is not None:
        model.input.embedding.freeze()
    opt = torch.optim.AdamW(_param_groups(model, args.weight_decay, args.lr, args.embed_lr_mult), lr=args.lr)
    n = len(data.train.x)
    steps_per_epoch = math.ceil(n / args.batch_size)
    total_steps = max(1, int(round(args.epochs * steps_per_epoch)))
    warmup = max(1, total_steps // 50)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    step, epoch, history, elapsed = 0, 0, [], 0.0
    st = None
    if resume and checkpoint is not None and ctx.is_main and checkpoint.exists():
        st = torch.load(checkpoint, map_location="cpu", weights_only=True)  # never unpickle code (docs/security.md)
    st = from_main(st, ctx)  # the other ranks (other nodes too) need not see rank 0's file system
    if st is not None:
        if ModelConfig.from_dict(st["config"]) != cfg:
            raise PixmcuError(f"{checkpoint}: checkpoint was trained with a different model configuration")
        # Steps count global batches, so the process count may change between runs; the batch may not.
        saved_batch = st.get("global_batch", st.get("train_args", {}).get("batch_size", args.batch_size))
        if saved_batch != args.batch_size:
            raise PixmcuError(f"{checkpoint}: trained with a global batch of {saved_batch}, this run has "
                              f"--batch-size {args.batch_size}; resume with the same global batch")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        step, epoch, history, elapsed = st["step"], st["epoch"], st["history"], st["train_seconds"]
        torch.set_rng_state(st["rng"])
    ddp = wrap(model, ctx, device)
    aug = resolve_augment(args.augment, data.name)
    # The whole training set lives on the device; per step only the batch indices travel.
    x_all, y_all = to_nchw(data.train.x).to(device), torch.from_numpy(data.train.y).to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    progress = args.progress and ctx.is_main
    while step < total_steps:
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        order = torch.randperm(n, generator=gen).to(device)
        ddp.train()
        t0 = time.time()
        todo = min(steps_per_epoch, total_steps - step)
        bar = tqdm(range(todo), desc=f"{cfg.label()} ep{epoch + 1}", disable=not progress, leave=False)
        # Running totals stay on the device: reading them every step would serialise a GPU.
        seen, correct, loss_sum = 0, torch.zeros((), device=device), torch.zeros((), device=device)
        for i in bar:
            if step >= args.freeze_bn_at * total_steps:
                freeze_bn(model)
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            draws = augment_draws(len(idx), aug, gen)  # the global batch's draws, whatever the world size
            lo, hi = ctx.share(len(idx))
            weight = 1.0
            if hi == lo:  # a last batch smaller than the world: this rank steps on a weightless image
                lo, hi, weight = 0, 1, 0.0
            xb = apply_augment(x_all[idx[lo:hi]], {k: v[lo:hi] for k, v in draws.items()})
            yb = y_all[idx[lo:hi]]
            out = ddp(xb)
            if ctx.enabled:
                # DDP averages gradients over ranks: a sum over the share scaled by world/global is
                # the global batch's mean even when the shares differ by one image.
                loss = F.cross_entropy(out, yb, reduction="sum") * (weight * ctx.world_size / len(idx))
            else:
                loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sync_buffers(model, ctx)
            step += 1
            if weight:
                seen += len(yb)
                correct += (out.argmax(1) == yb).sum()
                loss_sum += F.cross_entropy(out.detach(), yb, reduction="sum") if ctx.enabled \
                    else loss.detach() * len(yb)
            if progress and i % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / max(seen, 1):.3f}",
                                acc=f"{float(correct) / max(seen, 1):.3f}")
        seen, correct, loss_sum = all_sum([seen, float(correct), float(loss_sum)], ctx, device)
        elapsed += time.time() - t0
        epoch += 1
        if step >= total_steps:
            acc = evaluate(model, data.test, device, ctx)
        else:
            # Between epochs the float fake-quant path is enough to follow progress and much cheaper
            # than the integer-contract evaluation, which the final epoch always gets.
            from pixmcu.nn.intexact import float_fakequant

            with float_fakequant():
                acc = evaluate(model, data.test, device, ctx)
        history.append({"epoch": epoch, "step": step, "train_loss": loss_sum / max(seen, 1),
                        "train_accuracy": correct / max(seen, 1), "test_accuracy": acc, "seconds": elapsed,
                        "world_size": ctx.world_size})
        if checkpoint is not None and ctx.is_main:
            save_checkpoint(checkpoint, config=cfg.to_dict(), model=model.state_dict(), optimizer=opt.state_dict(),
                            scheduler=sched.state_dict(), step=step, epoch=epoch, history=history,
                            train_seconds=elapsed, dataset=data.name, train_args=args.to_dict(),
                            test_accuracy=acc, rng=torch.get_rng_state(), world_size=ctx.world_size,
                            global_batch=args.batch_size)
    freeze_bn(model)
    check_same_model(model, ctx)
    acc = history[-1]["test_accuracy"] if history else evaluate(model, data.test, device, ctx)
    return model, TrainResult(acc, elapsed, args.epochs, history)


def not_a_checkpoint(path: Path, st: Any, exc: Exception | None = None) -> str:
    """Say what a .pt that is not a pixmcu checkpoint holds, and what pixmcu takes instead."""
    import pickle

    pickled = (AttributeError, ModuleNotFoundError, pickle.UnpicklingError)  # weights_only refuses objects too
    if isinstance(st, torch.nn.Module) or isinstance(exc, pickled):
        what = ("objects other than tensors and plain data (a whole pickled model, torch.save(model), or other "
                "code), which were refused: pixmcu never runs code from a model file (torch.load weights_only=True; "
                "docs/security.md)")
    elif isinstance(st, dict) and st and all(isinstance(v, torch.Tensor) for v in st.values()):
        what = "a state_dict: weights without the network that uses them"
    elif exc is not None:
        what = f"nothing torch.load can read ({type(exc).__name__})"
    else:
        what = f"a {type(st).__name__} that is not one"
    return (f"{path}: not a pixmcu training checkpoint; it holds {what}. For your own network, save it with "
            "torch.export.save(torch.export.export(model.eval(), (torch.zeros(1, C, H, W),)), 'model.pt2') and run "
            "`pixmcu quantize model.pt2 -o model.pmz --calib DATA.npz` (int8 as it is) or `pixmcu train --init "
            "model.pt2 --input-stage embed --bits W4A4 --dataset DATA.npz --export model.pmz` (pixel embedding, QAT)")


def load_trained(path: Path, device: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    from pixmcu.errors import PixmcuError

    try:
        # weights_only: a checkpoint is data; a pickle payload never runs (docs/security.md)
        st = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # a pickled module or other object weights_only refuses, a corrupt file
        raise PixmcuError(not_a_checkpoint(path, None, exc)) from None
    if not isinstance(st, dict) or st.get("format") != CHECKPOINT_FORMAT:
        raise PixmcuError(not_a_checkpoint(path, st))
    model = build_model(ModelConfig.from_dict(st["config"]))
    model.load_state_dict(st["model"])
    freeze_bn(model)
    model.eval()
    return model, st
