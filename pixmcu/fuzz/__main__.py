"""python -m pixmcu.fuzz --kind tflite --count 1000 --seed 1 --out fuzz-out [--host-c]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pixmcu.fuzz.campaign import campaign


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pixmcu.fuzz", description="Seeded structure-aware fuzzing of the "
                                "files pixmcu reads; prints a JSON summary; exit 1 if anything escaped.")
    p.add_argument("--kind", choices=("tflite", "pmz", "data"), required=True)
    p.add_argument("--count", type=int, default=1000, help="mutants to run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=int, default=0, help="index of the first mutant (to replay or split a run)")
    p.add_argument("--out", type=Path, default=Path("fuzz-out"), help="escapes and summaries go here")
    p.add_argument("--base", type=Path, nargs="+", action="extend", help="base file(s) to mutate (default: every fixture "
                   "and shared model of the kind; for data, the model the data is fed to)")
    p.add_argument("--host-c", action="store_true", help="also run accepted models as generated C under "
                   "ASan/UBSan against the reference (slow: one compile per mutant)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per mutant (default 10)")
    p.add_argument("--mem-mb", type=int, default=1024, help="peak memory growth per mutant (default 1024)")
    a = p.parse_args(argv)
    if a.count < 1 or a.start < 0 or a.timeout <= 0 or a.mem_mb < 1:
        p.error("--count, --timeout and --mem-mb must be positive and --start not negative")
    s = campaign(a.kind, a.count, a.seed, a.out, start=a.start, bases=a.base, host_c=a.host_c,
                 timeout_s=a.timeout, mem_mb=a.mem_mb)
    print(json.dumps(s))
    return 1 if s["escapes"] else 0


if __name__ == "__main__":
    sys.exit(main())
