"""The pixel-embedding experiment (issue 5): float baseline vs fully quantized networks with each
input stage, on Fashion-MNIST and CIFAR-10 (JPEG).

Every finished run is appended to the JSON results at once (and the table and plot rewritten), so
an interrupted experiment loses at most the run in progress; rerunning skips finished runs and
resumes the interrupted one from its last epoch checkpoint.

    python -m pixmcu.experiments.pixel_embedding --out results/pe --dataset fashion-mnist
    pixmcu experiment pixel-embedding --out results/pe --dataset cifar10 --epochs 1
    pixmcu experiment pixel-embedding --out results/pe --dataset cifar10 --device cuda --jobs 17 --time-budget 240

On a GPU each run is a separate worker process: a run of these small networks is bound by kernel
launches, so many of them share one GPU far better than one run uses it. scripts/experiment_gpu.sh
is the full-length invocation.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixmcu.errors import PixmcuError

LOW_BITS = (4, 4)  # the low-bit setting: W4A4
EMBED_SETTINGS = ((10, 2), (4, 4), (20, 1))  # (d, Q)
BINNED = ((8, 10, 2), (16, 10, 2))  # (K, d, Q), learned thresholds


@dataclass
class DatasetPlan:
    name: str
    arch: str
    widths: tuple[int, ...]
    head: str
    epochs: float
    train_subset: int | None
    batch_size: int = 128
    lr: float = 3e-3
    test_subset: int | None = None  # the integer-contract evaluation is slow on a shared CPU
    embed_lr_mult: float = 1.0
    device: str = "auto"


PLANS = {
    "fashion-mnist": DatasetPlan("fashion-mnist", "cnn28", (16, 32, 64), "flatten", 1.0, 20000),
    # Budgets sized for a 2-core CPU shared with compilers and QEMU (about a quarter core per run):
    # subsets and one or two epochs. CIFAR-10 uses half the MLPerf Tiny widths (16, 32, 64).
    "cifar10": DatasetPlan("cifar10", "resnet8", (8, 16, 32), "gap", 2.0, 10000, test_subset=2000),
}


def run_plan(dataset: str, bit_settings: tuple[tuple[int, int], ...] = (LOW_BITS, (8, 8))) -> list[tuple[str, dict[str, Any]]]:
    """(run id, ModelConfig kwargs) in priority order: the comparisons that matter most come first."""
    runs: list[tuple[str, dict[str, Any]]] = [("float32", dict(input_stage="float", wbits=None, abits=None))]
    for w, a in bit_settings:
        tag = f"w{w}a{a}"
        if a != 8:  # at A8 naive input quantization *is* the 8-bit input
            runs.append((f"{tag}_naive", dict(input_stage="naive", wbits=w, abits=a)))
        runs.append((f"{tag}_int8", dict(input_stage="int8", wbits=w, abits=a)))
        for d, q in EMBED_SETTINGS:
            runs.append((f"{tag}_embed_d{d}q{q}", dict(input_stage="embed", wbits=w, abits=a, embed={"dim": d, "bits": q})))
        for k, d, q in BINNED:
            runs.append((f"{tag}_embed_d{d}q{q}_k{k}", dict(input_stage="embed", wbits=w, abits=a,
                                                          embed={"dim": d, "bits": q, "bins": k, "learn_bins": True})))
    # Order: float, low-bit naive / int8 / d10q2, W8A8 int8 / d10q2, then the rest.
    lw, la = bit_settings[0]
    low = f"w{lw}a{la}"
    first = ["float32", f"{low}_naive", f"{low}_int8", f"{low}_embed_d10q2", "w8a8_int8", "w8a8_embed_d10q2"]
    return sorted(runs, key=lambda r: first.index(r[0]) if r[0] in first else len(first))


def hardware(device: str = "cpu", jobs: int = 1) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if device.startswith("cuda"):
        import torch

        return (f"{torch.cuda.get_device_name(0)} GPU shared by {jobs} concurrent runs; "
                f"{cpu}, {os.cpu_count()} cores; torch {torch.__version__}")
    return f"{cpu}, {os.cpu_count()} cores (shared), 1 torch thread, no GPU"


def load_results(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"experiment": "pixel_embedding", "issue": 5, "runs": []}


def save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)


def budget_tag(n_train: int, plan: DatasetPlan) -> str:
    return f"{n_train}x{plan.epochs:g}" + ("" if plan.widths == PLANS[plan.name].widths else
                                           "_w" + "-".join(map(str, plan.widths)))


def run_one(dataset: str, run_id: str, kwargs: dict[str, Any], data, plan: DatasetPlan, work: Path,
            seed: int, threads: int, progress: bool, jobs: int = 1) -> dict[str, Any]:
    from pixmcu.nn.models import ModelConfig
    from pixmcu.train.loop import TrainArgs, pick_device, train

    c, hw = data.shape[2], data.shape[0]
    cfg = ModelConfig(arch=plan.arch, in_channels=c, image_size=hw, widths=plan.widths, head=plan.head, **kwargs)
    args = TrainArgs(epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr, seed=seed, threads=threads,
                     progress=progress, embed_lr_mult=plan.embed_lr_mult, device=plan.device)
    ckpt = work / dataset / budget_tag(len(data.train.x), plan) / f"{run_id}.pt"
    t0 = time.time()
    _, res = train(cfg, data, args, checkpoint=ckpt, resume=True)
    e = cfg.embed
    return {
        "dataset": dataset, "run": run_id, "label": cfg.label(), "input_stage": cfg.input_stage,
        "wbits": cfg.wbits, "abits": cfg.abits,
        "embed_dim": e.get("dim"), "embed_bits": e.get("bits"), "bins": e.get("bins"),
        "embed_lr_mult": plan.embed_lr_mult if cfg.input_stage == "embed" else None,
        "top1": round(100 * res.test_accuracy, 2), "train_seconds": round(res.train_seconds, 1),
        "wall_seconds": round(time.time() - t0, 1), "epochs": plan.epochs, "train_samples": len(data.train.x),
        "test_samples": len(data.test.x), "seed": seed, "config": cfg.to_dict(), "checkpoint": str(ckpt),
        "history": res.history, "hardware": hardware(pick_device(args.device).type, jobs),
        "train_args": {"batch_size": args.batch_size, "lr": args.lr, "weight_decay": args.weight_decay},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _same_run(r: dict[str, Any], dataset: str, run_id: str, n_train: int, epochs: float,
              widths: tuple[int, ...]) -> bool:
    """Runs are identified by dataset, setting, network width and training budget (images, epochs)."""
    return (r["dataset"] == dataset and r["run"] == run_id and r["train_samples"] == n_train
            and float(r["epochs"]) == float(epochs) and tuple(r["config"]["widths"]) == tuple(widths))


def _lock_path(out: Path) -> Path:
    """Beside the cache, not in docs/: one lock per results directory, never committed."""
    from pixmcu.train.data import default_cache_dir

    tag = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
    return default_cache_dir() / "locks" / f"pixel_embedding_{tag}.lock"


class _locked:
    """An exclusive lock file, so one process per dataset can share the results file."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


@dataclass
class Options:
    """How to run the plan: everything that is not a property of the dataset."""

    seed: int = 0
    threads: int = 1
    progress: bool = True
    only: list[str] | None = None
    bit_settings: tuple[tuple[int, int], ...] = (LOW_BITS, (8, 8))
    jobs: int = 1  # runs in parallel worker processes (they share one GPU well: each is launch-bound)
    time_budget: float | None = None  # seconds of training per dataset: epochs chosen by calibration
    max_epochs: float = 30.0
    ray: str | None = None  # a Ray address ("local": a private instance): runs become Ray tasks
    gpus_per_run: float | None = None  # with ray; None: 1/jobs of a GPU when training on one, else 0


def _prepare(ds: str, overrides: dict[str, Any], seed: int):
    from pixmcu.train.data import load_dataset, subset

    if ds not in PLANS:
        raise PixmcuError(f"no experiment plan for dataset {ds!r} (have {', '.join(PLANS)})")
    plan = dataclasses.replace(PLANS[ds], **{k: v for k, v in overrides.items() if v is not None})
    data = load_dataset(ds)
    data.train = subset(data.train, plan.train_subset or None, seed)
    data.test = subset(data.test, plan.test_subset or None, seed)
    return plan, data


def _pending(ds: str, plan: DatasetPlan, n_train: int, results: dict[str, Any], opts: Options):
    out = []
    for run_id, kwargs in run_plan(ds, opts.bit_settings):
        if opts.only and run_id not in opts.only:
            continue
        if plan.embed_lr_mult != 1.0:
            if kwargs["input_stage"] != "embed":
                continue  # the multiplier changes nothing else: those rows exist already
            run_id = f"{run_id}_lr{plan.embed_lr_mult:g}"
        if not any(_same_run(r, ds, run_id, n_train, plan.epochs, plan.widths) for r in results["runs"]):
            out.append((run_id, kwargs))
    return out


def _record(out: Path, rec: dict[str, Any]) -> None:
    json_path = out / "pixel_embedding.json"
    with _locked(_lock_path(out)):
        results = load_results(json_path)  # another process may have added runs meanwhile
        results["runs"] = [r for r in results["runs"] if not _same_run(
            r, rec["dataset"], rec["run"], rec["train_samples"], rec["epochs"], rec["config"]["widths"])]
        results["runs"].append(rec)
        save_results(json_path, results)
        write_report(results, out)


# Worker processes keep their dataset between runs: decoding and uploading it is the slow part.
_worker_data: dict[str, Any] = {}


def _guarded(what: str, fn, task: tuple):
    """A failure in one worker is reported and returned as None, never allowed to take the pool (and
    with it every other run in progress) down."""
    try:
        return fn(task)
    except Exception:
        import traceback

        print(f"[{task[0]}] {what} {task[1]} FAILED:\n{traceback.format_exc()}", flush=True)
        return None


def _worker(task: tuple) -> float | None:
    return _guarded("run", _run_task, task)


def _calibrate_worker(task: tuple) -> float | None:
    return _guarded("calibration of", _calibrate, task)


def _run_task(task: tuple) -> float:
    return _record_finished(task, _train_task(task))


def _train_task(task: tuple) -> dict[str, Any]:
    """One run, start to record (the record is written by the caller: here, or a Ray driver)."""
    ds, run_id, kwargs, overrides, out, work, opts = task
    key = repr((ds, sorted(overrides.items())))
    if key not in _worker_data:
        _worker_data.clear()
        _worker_data[key] = _prepare(ds, overrides, opts.seed)
    plan, data = _worker_data[key]
    print(f"[{ds}] {run_id} ...", flush=True)
    return run_one(ds, run_id, kwargs, data, plan, work, opts.seed, opts.threads, opts.progress, opts.jobs)


def _ray_map(fn, tasks: list[tuple], opts: "Options", device: str, on_result=None) -> list:
    """Each task as a Ray task asking for `opts.threads` CPUs and its share of a GPU; results in task
    order (None for a failed task, reported as it fails while the others go on). `on_result` runs on
    this process as each task finishes: the records are written where the experiment was started."""
    from pixmcu.cluster import connect

    ray = connect(opts.ray)
    gpus = opts.gpus_per_run
    if gpus is None:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        gpus = 0.0 if device == "cpu" or (device == "auto" and not has_gpu) else 1.0 / max(1, opts.jobs)
    if gpus and ray.cluster_resources().get("GPU", 0) <= 0:
        raise PixmcuError(f"--ray {opts.ray}: runs ask for {gpus:g} GPU each but the Ray cluster has no GPU "
                          "(use --device cpu, or --gpus-per-run 0)")
    remote = ray.remote(num_cpus=opts.threads, num_gpus=gpus, max_retries=0)(fn)
    refs = {remote.remote(t): i for i, t in enumerate(tasks)}
    results: list = [None] * len(tasks)
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            task = tasks[refs[ref]]
            try:
                value = ray.get(ref)
                results[refs[ref]] = on_result(task, value) if on_result else value
            except Exception as exc:  # noqa: BLE001 - a task error or a lost worker: report, go on
                print(f"[{task[0]}] {task[1]} FAILED on Ray:\n{exc}", flush=True)
    return results


def _record_finished(task: tuple, rec: dict[str, Any]) -> float:
    _record(task[4], rec)
    print(f"[{rec['dataset']}] {rec['run']}: top-1 {rec['top1']:.2f}% in {rec['train_seconds']:.0f} s", flush=True)
    return rec["top1"]


CALIBRATION_STEPS = 20


def _calibrate(task: tuple) -> float:
    """Seconds per training step of one run while all the others calibrate beside it: two short
    epochs, timed on the second so start-up (CUDA context, kernel selection) is left out."""
    from pixmcu.nn.models import ModelConfig
    from pixmcu.train.data import Split
    from pixmcu.train.loop import TrainArgs, train

    ds, run_id, kwargs, overrides, opts = task
    plan, data = _prepare(ds, overrides, opts.seed)
    n = CALIBRATION_STEPS * plan.batch_size
    data.train = Split(data.train.x[:n], data.train.y[:n])
    data.test = Split(data.test.x[:plan.batch_size], data.test.y[:plan.batch_size])
    c, hw = data.shape[2], data.shape[0]
    cfg = ModelConfig(arch=plan.arch, in_channels=c, image_size=hw, widths=plan.widths, head=plan.head, **kwargs)
    _, res = train(cfg, data, TrainArgs(epochs=2, batch_size=plan.batch_size, lr=plan.lr, seed=opts.seed,
                                        threads=opts.threads, progress=False, device=plan.device))
    h = res.history
    return (h[1]["seconds"] - h[0]["seconds"]) / -(-len(data.train.x) // plan.batch_size)


def choose_epochs(seconds_per_step: float, steps_per_epoch: int, runs: int, jobs: int, budget: float,
                  max_epochs: float, safety: float = 0.8) -> float:
    """Whole epochs that fit the budget when `runs` runs go through `jobs` workers at the slowest
    calibrated speed. The calibration ran every worker at once, but its steps overlap the others'
    start-up: on an H200 with 17 runs the real steps came out about 20% slower, hence `safety`."""
    waves = -(-runs // jobs)
    epochs = int(safety * budget / (waves * steps_per_epoch * seconds_per_step))
    return float(max(1, min(int(max_epochs), epochs)))


def _pool(jobs: int):
    import multiprocessing

    # spawn: CUDA cannot be used in a forked child of a process that initialised it.
    return multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=None)


def run_experiment(datasets: list[str], out: Path, work: Path, opts: Options,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    json_path = out / "pixel_embedding.json"
    overrides = dict(overrides or {})
    for ds in datasets:
        plan, data = _prepare(ds, overrides, opts.seed)
        n_train = len(data.train.x)
        ds_over = dict(overrides)
        if opts.time_budget:
            todo = _pending(ds, plan, n_train, load_results(json_path), opts)
            if not todo:
                continue
            tasks = [(ds, run_id, kw, ds_over, opts) for run_id, kw in todo]
            if opts.ray:
                timed = _ray_map(_calibrate, tasks, opts, plan.device)
            else:
                with _pool(min(opts.jobs, len(tasks))) as pool:
                    timed = pool.map(_calibrate_worker, tasks, chunksize=1)
            if all(t is None for t in timed):
                raise PixmcuError(f"[{ds}] every calibration run failed (see above)")
            per_step = max(t for t in timed if t is not None)
            steps = -(-n_train // plan.batch_size)
            plan.epochs = ds_over["epochs"] = choose_epochs(per_step, steps, len(todo), opts.jobs,
                                                            opts.time_budget, opts.max_epochs)
            print(f"[{ds}] calibration: {per_step * 1e3:.1f} ms/step at worst with {min(opts.jobs, len(tasks))} "
                  f"runs at once -> {plan.epochs:g} epochs of {steps} steps", flush=True)
        todo = _pending(ds, plan, n_train, load_results(json_path), opts)
        tasks = [(ds, run_id, kw, ds_over, out, work, opts) for run_id, kw in todo]
        if opts.ray:
            done = _ray_map(_train_task, tasks, opts, plan.device, on_result=_record_finished)
        elif opts.jobs > 1 and len(tasks) > 1:
            with _pool(min(opts.jobs, len(tasks))) as pool:
                done = pool.map(_worker, tasks, chunksize=1)
        else:
            _worker_data[repr((ds, sorted(ds_over.items())))] = (plan, data)
            done = [_worker(t) for t in tasks]
        failed = [t[1] for t, top1 in zip(tasks, done) if top1 is None]
        if failed:
            raise PixmcuError(f"[{ds}] {len(failed)} run(s) failed: {', '.join(failed)} (tracebacks above); "
                              "the finished runs are saved, and rerunning the same command retries the rest")
    return load_results(json_path)


def ship_models(datasets: list[str], out: Path, models_dir: Path, limit: int | None = None) -> None:
    from pixmcu.experiments.ship import best_embed_run, ship

    json_path = out / "pixel_embedding.json"
    for ds in datasets:
        for bits in (LOW_BITS, (8, 8)):
            run = best_embed_run(load_results(json_path), ds, bits)
            if run is None:
                continue
            print(f"[{ds}] shipping {run['run']} ...", flush=True)
            rec = ship(load_results(json_path), ds, run, models_dir, limit=limit)
            print(f"[{ds}] {rec}", flush=True)
            with _locked(_lock_path(out)):
                results = load_results(json_path)
                results["shipped"] = [r for r in results.get("shipped", []) if r["name"] != rec["name"]] + [rec]
                save_results(json_path, results)
                write_report(results, out)


def write_report(results: dict[str, Any], out: Path) -> None:
    from pixmcu.experiments.report import write_markdown, write_plot

    write_markdown(results, out / "pixel_embedding.md")
    try:
        write_plot(results, out / "pixel_embedding.png")
    except Exception as exc:  # a plot failure must not lose a finished run
        print(f"plot not written: {exc}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", action="append", choices=sorted(PLANS), help="repeatable; default: both")
    p.add_argument("--out", type=Path, required=True,
                   help="results directory (required; the committed results are in docs/results)")
    p.add_argument("--work", type=Path, help="checkpoints directory (default: ~/.cache/pixmcu/runs/pixel_embedding)")
    p.add_argument("--epochs", type=float, help="override the plan's epochs per run")
    p.add_argument("--train-subset", type=int, help="train on this many images (0: all)")
    p.add_argument("--bits", default="W4A4,W8A8",
                   help="comma-separated bit settings, the low-bit one first (default W4A4,W8A8)")
    p.add_argument("--only", action="append", help="run only these run ids (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--embed-lr-mult", type=float,
                   help="pixel-embedding table learning rate x this (an ablation: only embedding rows run, ids get _lr<m>)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--widths", help="network widths, e.g. 16,32,64 (default: the plan's)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--test-subset", type=int, help="evaluate on this many test images (0: all)")
    p.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once in worker processes (default 1)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="choose whole epochs per dataset so its runs train in about this long, from a "
                        "calibration of every run's step time with all of them running at once")
    p.add_argument("--max-epochs", type=float, default=30.0, help="cap for --time-budget (default 30)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run each training run as a Ray task: a local Ray instance, or 'auto' / HOST:PORT / "
                        "ray://HOST:10001 for a cluster (pip install 'pixmcu[cluster]'); records are written here")
    p.add_argument("--gpus-per-run", type=float, metavar="G",
                   help="with --ray: GPUs each run asks for (default 1/--jobs on a GPU device, else 0)")
    p.add_argument("--report-only", action="store_true", help="rewrite the table and plot from the JSON")
    p.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress on stderr")
    p.add_argument("--ship", action="store_true",
                   help="export the best pixel-embedding run per dataset and bit width into pixmcu/models/ "
                        "and measure PyTorch-vs-reference agreement on the test set")
    p.add_argument("--ship-test-subset", type=int, help="measure agreement on this many test images (default all)")
    p.add_argument("--models-dir", type=Path, default=Path(__file__).resolve().parents[1] / "models",
                   help="where --ship writes the shipped models (default: the package's pixmcu/models)")


def run_from_args(args: argparse.Namespace) -> int:
    if args.report_only:
        write_report(load_results(args.out / "pixel_embedding.json"), args.out)
        return 0
    if args.ship:
        ship_models(args.dataset or list(PLANS), args.out, args.models_dir, args.ship_test_subset)
        return 0
    from pixmcu.train.data import default_cache_dir

    work = args.work or default_cache_dir() / "runs" / "pixel_embedding"
    from pixmcu.cli.cmd_train import parse_bits

    bits = tuple(parse_bits(b.strip()) for b in args.bits.split(","))
    if any(w is None for w, _ in bits):
        raise PixmcuError("--bits lists quantized settings only; the float baseline always runs")
    if args.jobs < 1:
        raise PixmcuError("--jobs must be at least 1")
    if args.gpus_per_run is not None and args.gpus_per_run < 0:
        raise PixmcuError("--gpus-per-run must not be negative")
    overrides: dict[str, Any] = {
        "epochs": args.epochs, "embed_lr_mult": args.embed_lr_mult, "batch_size": args.batch_size,
        "lr": args.lr, "device": args.device,
        "train_subset": args.train_subset, "test_subset": args.test_subset,  # 0: all
    }
    if args.widths:
        try:
            overrides["widths"] = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            raise PixmcuError(f"--widths takes comma-separated integers, got {args.widths!r}") from None
        if len(overrides["widths"]) != 3 or min(overrides["widths"]) < 1:
            raise PixmcuError(f"--widths needs three positive widths, got {args.widths!r}")
    opts = Options(seed=args.seed, threads=args.threads, progress=not args.no_progress and args.jobs == 1 and not args.ray,
                   only=args.only, bit_settings=bits, jobs=args.jobs, time_budget=args.time_budget,
                   max_epochs=args.max_epochs, ray=args.ray, gpus_per_run=args.gpus_per_run)
    run_experiment(args.dataset or ["fashion-mnist", "cifar10"], args.out, work, opts, overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
