"""Data-parallel training under `torchrun`: process group, device, batch shares, synchronised statistics.

`pixmcu train` is the same command with one process or many: torchrun's environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...) turns this on, nothing else does. Every rank draws the
same permutation and augmentation for the whole *global* batch and trains on its own contiguous
share, so the data a step sees does not depend on the number of processes. Gradients are averaged
by DistributedDataParallel; buffers (BN running statistics, the activation-range EMAs) are not
left to DDP's broadcast from rank 0 but reduced after every step with the reduction each module
declares (`ddp_buffer_reduce`), so all ranks hold the same integer model at every step.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pixmcu.errors import PixmcuError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> tuple[int, int]:
        """This rank's [start, end) of a global batch of n (contiguous, sizes differ by at most one)."""
        return self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size


SINGLE = Context()


def from_env() -> Context:
    """The torchrun context of this process (one process when torchrun did not start it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Context(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(ctx: Context, device: torch.device) -> torch.device:
    """Joins the process group (NCCL on CUDA, gloo on CPU) and returns this rank's device."""
    if not ctx.enabled:
        return device
    if device.type == "cuda":
        if torch.cuda.device_count() <= ctx.local_rank:
            raise PixmcuError(f"rank {ctx.rank} wants cuda:{ctx.local_rank} but this node has "
                              f"{torch.cuda.device_count()} GPU(s): start at most that many processes per node")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def teardown(ctx: Context, ok: bool = True) -> None:
    """Leaves the group; after a success every rank waits for the others (rank 0 exports last).
    After a failure there is no barrier: the peers are stuck in a collective, and torchrun stops
    them once this process exits."""
    if ctx.enabled and dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: Context, device: torch.device) -> torch.nn.Module:
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    # No buffer broadcast before each forward: sync_buffers reduces them after each step instead of
    # overwriting every rank's statistics with rank 0's.
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   forward_sync_buffers=False)


_OPS = {"max": dist.ReduceOp.MAX, "mean": dist.ReduceOp.SUM}


@torch.no_grad()
def sync_buffers(model: torch.nn.Module, ctx: Context) -> None:
    """All floating-point buffers reduced across ranks: by the owning module's `ddp_buffer_reduce`
    entry ("max" for a max-abs EMA: the max over ranks of (1-m)r + m*max_local is exactly the
    one-process update), by default the mean (a BN running mean over equal shares is the global one)."""
    if not ctx.enabled:
        return
    groups: dict[str, list[torch.Tensor]] = {"max": [], "mean": []}
    for module in model.modules():
        how = getattr(module, "ddp_buffer_reduce", {})
        for name, buf in module.named_buffers(recurse=False):
            if buf is not None and buf.is_floating_point():
                groups[how.get(name, "mean")].append(buf)
    for how, bufs in groups.items():
        if not bufs:
            continue
        flat = torch.cat([b.reshape(-1) for b in bufs])
        dist.all_reduce(flat, op=_OPS[how])
        if how == "mean":
            flat /= ctx.world_size
        offset = 0
        for b in bufs:
            b.copy_(flat[offset:offset + b.numel()].view_as(b))
            offset += b.numel()


def all_sum(values: list[float], ctx: Context, device: torch.device) -> list[float]:
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def from_main(obj, ctx: Context):
    """Rank 0's object on every rank (a resumed checkpoint: only rank 0 reads, and writes, its file)."""
    if not ctx.enabled:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def state_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def check_same(value: str, ctx: Context, what: str) -> None:
    """Raises unless every rank passes the same value (a digest of what rank 0 alone writes)."""
    if not ctx.enabled:
        return
    values: list[str | None] = [None] * ctx.world_size
    dist.all_gather_object(values, value)
    if len(set(values)) != 1:
        raise PixmcuError(f"ranks diverged: the {what} differs across the {ctx.world_size} processes "
                          f"({', '.join(f'rank {r}: {v[:12]}' for r, v in enumerate(values))})")


def check_same_model(model: torch.nn.Module, ctx: Context) -> None:
    """Every rank must hold the bit-identical model (parameters and buffers) that rank 0 saves."""
    check_same(state_digest(model), ctx, "trained model (parameters and buffers)")
