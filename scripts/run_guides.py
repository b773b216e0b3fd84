#!/usr/bin/env python3
"""Run the commands of the user guides (docs/guide_*.md), as a user would type them.

A guide's ```sh blocks run in order in one bash (set -euo pipefail) in a scratch directory, with the
checkout's pixmcu first on PATH. ```sh slow blocks run too, here but not in the test suite
(tests/test_guides.py runs the ```sh blocks and only parses the slow ones). ```sh board blocks need a
real board and probe: everywhere they are only parsed (every pixmcu command line must be one
`pixmcu` accepts).

    python scripts/run_guides.py [GUIDE.md ...]     # default: every docs/guide_*.md, slow blocks included
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```sh([^\n]*)\n(.*?)^```", re.S | re.M)


def guides() -> list[Path]:
    return sorted((ROOT / "docs").glob("guide_*.md"))


def blocks(path: Path) -> list[tuple[str, str]]:
    """(tag, code) of every ```sh block: tag is "" (run), "slow" or "board"."""
    return [(m.group(1).strip(), m.group(2)) for m in _FENCE.finditer(path.read_text())]


def pixmcu_commands(code: str) -> list[list[str]]:
    """The argument lists of the `pixmcu ...` command lines of a block (continuations joined,
    comments and here-documents left out)."""
    out, in_heredoc = [], None
    for line in code.replace("\\\n", " ").splitlines():
        if in_heredoc is not None:
            if line.strip() == in_heredoc:
                in_heredoc = None
            continue
        m = re.search(r"<<\s*'?(\w+)'?", line)
        if m:
            in_heredoc = m.group(1)
        words = shlex.split(line, comments=True)
        if words and words[0] == "pixmcu":
            cut = next((i for i, w in enumerate(words) if w in ("|", ">", "2>", "&&", ";")), len(words))
            out.append(words[1:cut])
    return out


def check_parses(code: str) -> None:
    from pixmcu.cli import build_parser

    for args in pixmcu_commands(code):
        try:
            build_parser().parse_args(args)
        except SystemExit as exc:
            raise AssertionError(f"`pixmcu {shlex.join(args)}` does not parse (exit {exc.code})") from None


def env() -> dict[str, str]:
    venv_bin = ROOT / ".venv" / "bin"
    return dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT))


def run_guide(path: Path, workdir: Path, slow: bool) -> subprocess.CompletedProcess:
    parts = ["set -euo pipefail"]
    for tag, code in blocks(path):
        check_parses(code)
        if tag == "" or (tag == "slow" and slow):
            parts.append(code)
    return subprocess.run(["bash", "-c", "\n".join(parts)], cwd=workdir, env=env(), capture_output=True, text=True)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    paths = [Path(a) for a in argv] or guides()
    failed = 0
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="pixmcu-guide-") as tmp:
            proc = run_guide(path, Path(tmp), slow=True)
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"{path.name}: {status}")
        if proc.returncode:
            failed += 1
            print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
