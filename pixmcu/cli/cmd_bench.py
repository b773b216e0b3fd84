"""`pixmcu bench ACTION ...`: benchmarks. One module per action, each with `add_action(subparsers)`
(registering its parser and `_bench_run`) and `run(args)`."""

from __future__ import annotations

import importlib

# Action modules in `pixmcu bench --help` order. The first-layer benchmark (pixmcu.first_layer.bench)
# registers here as "first-layer" when its action module exists.
ACTIONS = ["pixmcu.bench.model"]
OPTIONAL_ACTIONS = ["pixmcu.first_layer.bench_action"]


def add_parser(sub):
    p = sub.add_parser("bench", help="benchmarks: whole model (speed, memory) and first-layer variants",
                       description="Benchmarks on QEMU boards (instructions, estimated cycles) or real boards.")
    actions = p.add_subparsers(dest="bench_action", metavar="ACTION")
    actions.required = True
    for name in ACTIONS:
        importlib.import_module(name).add_action(actions)
    for name in OPTIONAL_ACTIONS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.add_action(actions)
    return p


def run(args) -> int:
    return int(args._bench_run(args) or 0)
