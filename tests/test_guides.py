"""The user guides: their commands run (scripts/run_guides.py), their links resolve, their numbers hold."""

import importlib.util
import re

import numpy as np
import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("run_guides", ROOT / "scripts" / "run_guides.py")
run_guides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_guides)

GUIDES = run_guides.guides()
NAMES = ["guide_pixel_embedding.md", "guide_numeric_contract.md", "guide_boards.md",
         "guide_adding_an_operator.md", "guide_take_home.md"]


def test_the_guides_exist_and_the_readme_links_them():
    assert sorted(p.name for p in GUIDES) == sorted(NAMES)
    readme = (ROOT / "README.md").read_text()
    for name in NAMES + ["first_layer.md", "contracts.md"]:
        assert f"docs/{name}" in readme, name
    assert "firmware/boards/README.md" in (ROOT / "docs" / "guide_boards.md").read_text()


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.stem)
def test_guide_commands_run(path, tmp_path):
    # ```sh blocks run; slow and board blocks are parsed here (scripts/run_guides.py runs the slow ones).
    assert run_guides.blocks(path), f"{path.name} has no commands"
    proc = run_guides.run_guide(path, tmp_path, slow=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.stem)
def test_guide_links_resolve(path):
    for target in re.findall(r"\]\(([^)#]+)\)", path.read_text()):
        if not target.startswith("http"):
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


def test_board_commands_parse_and_bad_ones_do_not():
    run_guides.check_parses("pixmcu flash out --board nucleo-f446re\npixmcu measure --port P --manifest m --data d")
    with pytest.raises(AssertionError, match="does not parse"):
        run_guides.check_parses("pixmcu flash out --no-such-option")


def test_first_layer_doc_lists_the_shipped_models_as_they_are():
    from pixmcu.frontend import resolve_model_path
    from pixmcu.frontend.checkpoint import read_graph_file

    text = (ROOT / "docs" / "first_layer.md").read_text()
    rows = re.findall(r"^\| (\w+-pe-w\da\d) \| ([^|]+) \| (\d+) \| (\d+) \| (\d+) \|", text, re.M)
    assert {r[0] for r in rows} == {"fmnist-pe-w4a4", "fmnist-pe-w8a8", "cifar10-pe-w4a4", "cifar10-pe-w8a8"}
    for name, shape, d, q, k in rows:
        g, meta = read_graph_file(resolve_model_path(name))
        table = g.tensors[g.operators[0].inputs[1]].data
        distinct = max(len(np.unique(table[c], axis=0)) for c in range(table.shape[0]))
        assert (int(d), int(q), int(k)) == (table.shape[2], meta["embed"]["bits"], distinct), name
        h, w, c = g.input_tensor().shape[1:]
        cout = g.tensors[g.operators[1].outputs[0]].shape[-1]
        assert shape.startswith(f"{h}×{w}×{c} → {cout},"), name
