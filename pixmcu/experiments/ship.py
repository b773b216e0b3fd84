"""Pick the best pixel-embedding run per dataset, export it into pixmcu/models/, and measure how
well the PyTorch evaluation and the integer reference agree on the whole test set."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


SHIP_NAMES = {"fashion-mnist": "fmnist-pe", "cifar10": "cifar10-pe"}


def best_embed_run(results: dict[str, Any], dataset: str, bits: tuple[int, int] | None = None) -> dict[str, Any] | None:
    from pixmcu.experiments.report import budget_of, headline_budget

    headline = headline_budget(results, dataset)
    runs = [r for r in results["runs"] if r["dataset"] == dataset and r["input_stage"] == "embed"
            and budget_of(r) == headline and (bits is None or (r["wbits"], r["abits"]) == bits)]
    # Highest accuracy; among near-ties (0.1 point) the smaller first layer (fewer embedded channels).
    runs.sort(key=lambda r: (-round(r["top1"], 1), r["embed_dim"] * r["embed_bits"]))
    return runs[0] if runs else None


def ship(results: dict[str, Any], dataset: str, run: dict[str, Any], models_dir: Path,
         limit: int | None = None) -> dict[str, Any]:
    import torch

    from pixmcu.cli.cmd_train import model_metadata
    from pixmcu.frontend.checkpoint import load_checkpoint, save_graph
    from pixmcu.nn.export import export_model, model_input
    from pixmcu.nn.intexact import float_fakequant
    from pixmcu.reference import invoke
    from pixmcu.train.data import load_dataset, subset
    from pixmcu.train.loop import load_trained, predict

    model, _ = load_trained(Path(run["checkpoint"]))
    cfg = model.cfg
    tag = f"w{cfg.wbits}a{cfg.abits}"
    name = f"{SHIP_NAMES.get(dataset, dataset)}-{tag}"
    data = load_dataset(dataset)
    test = subset(data.test, limit, 0)  # random, not the first N: the CIFAR archive is sorted by class
    x, y = test.x, test.y
    dev = torch.device("cpu")
    t0 = time.time()
    exact = predict(model, x, dev)
    with float_fakequant():
        approx = predict(model, x, dev)
    graph = export_model(model, name=name.replace("-", "_"), source=f"pixmcu train ({run['run']})")
    meta = {**model_metadata(cfg, dataset, float((exact == y).mean())), "host_test_images": len(x)}
    models_dir.mkdir(parents=True, exist_ok=True)
    pmz = save_graph(graph, models_dir / f"{name}.pmz", metadata={**meta, "run": run["run"],
                                                                  "train_seconds": run["train_seconds"]})
    # The shipped file, read back, is what gets checked against PyTorch.
    ref = invoke(load_checkpoint(pmz), model_input(cfg, x)).argmax(1)
    rec = {
        "name": name, "dataset": dataset, "run": run["run"], "label": run["label"], "test_images": len(x),
        "host_top1": round(100 * float((ref == y).mean()), 2),
        "agreement_exact_eval_vs_reference": round(100 * float((exact == ref).mean()), 3),
        "agreement_float_fakequant_vs_reference": round(100 * float((approx == ref).mean()), 3),
        "pmz_bytes": pmz.stat().st_size, "seconds": round(time.time() - t0, 1),
    }
    return rec
