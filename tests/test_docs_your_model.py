"""docs/your_pytorch_model.md: every snippet runs, in order, in one folder (python blocks in one
namespace, `pixmcu ...` lines through the CLI), and the models it makes run bit-exact on qemu-m4."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

pytest.importorskip("torch")

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "your_pytorch_model.md"


def _blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(python|console)\n(.*?)```", text, flags=re.S)


def test_guide_has_both_kinds_of_snippet():
    kinds = [k for k, _ in _blocks(GUIDE.read_text())]
    assert kinds.count("python") >= 2 and kinds.count("console") >= 3


@pytest.mark.slow
def test_guide_snippets_run(tmp_path, monkeypatch, capsys):
    import torch

    from pixmcu.cli import main

    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "guide"}
    ran = []
    for kind, code in _blocks(GUIDE.read_text()):
        if kind == "python":
            exec(compile(code, str(GUIDE), "exec"), namespace)
            ran.append("python")
            continue
        for line in code.splitlines():
            if not line.startswith("pixmcu "):
                continue
            argv = shlex.split(line)[1:]
            report = None
            if argv[0] == "run":  # the run's report, to check bit-exactness (the snippet's own exit code is 0 either way)
                report = tmp_path / "run.json"
                argv += ["--json", str(report), "--quiet"]
            code_ = main(argv)
            out, err = capsys.readouterr()
            assert code_ == 0, f"{line}\n{out}\n{err}"
            if report is not None:
                rep = json.loads(report.read_text())
                assert rep["bitexact"]["compared"] == 2 and rep["bitexact"]["mismatches"] == []
            if argv[0] == "quantize" and "--eval" in argv:
                m = re.search(r"float ([\d.]+)%\s+int8 ([\d.]+)%", out)
                assert m and abs(float(m.group(1)) - float(m.group(2))) <= 2.0, out
            ran.append(argv[0])
    assert {"quantize", "infer", "generate", "run", "train"} <= set(ran) and ran.count("python") == 2
    for f in ("net.pt2", "net.onnx", "net.pmz", "net_onnx.pmz", "net_embed.pmz", "net_embed_api.pmz"):
        assert (tmp_path / f).is_file(), f
