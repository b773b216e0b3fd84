"""The code generator end to end: generated C on the host (ASan + UBSan) is bit-identical with the
numpy reference; the sources cross-compile for Cortex-M4F/M7/M55; output is deterministic."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import CIFAR_TEST as CIFAR, RESNET
from pixmcu import reference
from pixmcu.codegen import generate
from pixmcu.engines.host_c import run_host_c
from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.frontend import load_model
from pixmcu.ir import Graph, Operator, Quantization, Tensor
from pixmcu.resources import firmware_dir

FIXTURES = sorted((Path(__file__).resolve().parent / "fixtures" / "models").glob("*.tflite"))
N_IMAGES = 200

# Cortex-M flags from PLATFORM.md (kept here so the test does not depend on the board table).
CORES = {
    "qemu-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    "qemu-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"],
    "qemu-m55": ["-mcpu=cortex-m55", "-mfloat-abi=hard"],
}



def cifar_int8(n: int) -> np.ndarray:
    from PIL import Image

    d = np.load(CIFAR)
    jpeg, off = d["jpeg"], d["offsets"]
    imgs = [np.asarray(Image.open(io.BytesIO(jpeg[off[i]:off[i + 1]].tobytes())).convert("RGB")) for i in range(n)]
    return (np.stack(imgs).astype(np.int16) - 128).astype(np.int8)


@pytest.fixture(scope="module")
def resnet():
    return load_model(RESNET)


def test_resnet_bit_exact_on_cifar10(resnet):
    """200 real CIFAR-10 test images (JPEG re-encoded): outputs identical to the reference."""
    x = cifar_int8(N_IMAGES)
    want = reference.invoke(resnet, x)
    got = run_host_c(resnet, x, board="qemu-m4")
    assert got.shape == want.shape
    mismatched = int((got != want).any(axis=1).sum())
    assert mismatched == 0, f"{mismatched} of {N_IMAGES} images differ"


def test_resnet_every_layer_portable_path(resnet):
    """Per-layer outputs through the hooks (unfused, so every layer is stored; Cortex-M55 selection)."""
    x = cifar_int8(6)
    want = reference.run(resnet, x)
    y, layers = run_host_c(resnet, x, board="qemu-m55", layers=True, fuse=False)
    for op in resnet.operators:
        np.testing.assert_array_equal(layers[op.name], want[op.name], err_msg=op.name)
    np.testing.assert_array_equal(y, want[resnet.outputs[0]])


def test_resnet_fused_residual_adds(resnet, tmp_path):
    """--fuse-residual-add: arena at the two-largest-live-tensors yardstick, outputs unchanged."""
    x = cifar_int8(24)
    want = reference.run(resnet, x)
    y, layers = run_host_c(resnet, x, board="qemu-m7", layers=True, fuse=True)
    np.testing.assert_array_equal(y, want[resnet.outputs[0]])
    assert sorted(set(op.name for op in resnet.operators) - set(layers)) == ["conv2d_10", "conv2d_2", "conv2d_6"]
    for name, got in layers.items():
        np.testing.assert_array_equal(got, want[name], err_msg=name)
    m = generate(RESNET, tmp_path, name="fused", fuse=True).manifest
    assert m["arena_bytes"] <= 33000
    assert m == generate(RESNET, tmp_path / "default", name="fused").manifest  # fused is the default
    fused = [layer for layer in m["layers"] if "fused_into" in layer]
    assert [(f["name"], f["fused_into"], f["output_bytes"]) for f in fused] == [
        ("conv2d_2", 3, 0), ("conv2d_6", 7, 0), ("conv2d_10", 11, 0)]
    assert all(m["layers"][f["fused_into"]]["computed_by"] == f["index"] for f in fused)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_models_bit_exact(path):
    graph = load_model(path)
    board = "qemu-m55" if FIXTURES.index(path) % 2 else "qemu-m4"
    t = graph.input_tensor()
    rng = np.random.default_rng(len(path.stem))
    info = np.iinfo(t.dtype)
    x = rng.integers(info.min, info.max + 1, size=(16,) + t.shape[1:], dtype=np.int64).astype(t.dtype)
    want = reference.run(graph, x)
    y, layers = run_host_c(path, x, board=board, layers=True, fuse=False)
    for op in graph.operators:
        np.testing.assert_array_equal(layers[op.name], want[op.name], err_msg=f"{path.name}: {op.name}")
    np.testing.assert_array_equal(y, want[graph.outputs[0]])


def _embedding_graph() -> Graph:
    """uint8 pixels -> pixel embedding (per-channel tables) -> 3x3 conv -> mean: the issue-5 first layer."""
    rng = np.random.default_rng(5)
    q = lambda s, z: Quantization((s,), (z,))  # noqa: E731
    d = 2
    tensors = {
        "pixels": Tensor("pixels", (1, 8, 8, 3), "uint8", q(1 / 255, 0)),
        "table": Tensor("table", (3, 256, d), "int8", q(0.05, -3), rng.integers(-128, 128, (3, 256, d))),
        "emb": Tensor("emb", (1, 8, 8, 6), "int8", q(0.05, -3)),
        "w": Tensor("w", (4, 3, 3, 6), "int8", q(0.01, 0), rng.integers(-128, 128, (4, 3, 3, 6))),
        "b": Tensor("b", (4,), "int32", q(0.0005, 0), rng.integers(-500, 500, 4)),
        "conv": Tensor("conv", (1, 8, 8, 4), "int8", q(0.1, 5)),
        "out": Tensor("out", (1, 4), "int8", q(0.05, -1)),
    }
    ops = (Operator("embed", "pixel_embedding", ("pixels", "table"), ("emb",), {"embed_dim": d}),
           Operator("conv", "conv2d", ("emb", "w", "b"), ("conv",),
                    {"stride": (1, 1), "dilation": (1, 1), "padding": "same", "activation": "relu"}),
           Operator("gap", "mean", ("conv",), ("out",), {"axes": (1, 2), "keep_dims": False}))
    return Graph(tensors, ops, ("pixels",), ("out",), name="embedded")


def test_pixel_embedding_model_bit_exact():
    import pixmcu.reference.ops_embedding  # noqa: F401  (registers the embedding's reference)

    graph = _embedding_graph()
    x = np.random.default_rng(6).integers(0, 256, (12, 8, 8, 3)).astype(np.uint8)
    want = reference.run(graph, x)
    y, layers = run_host_c(graph, x, board="qemu-m4", layers=True)
    for op in graph.operators:
        np.testing.assert_array_equal(layers[op.name], want[op.name], err_msg=op.name)
    np.testing.assert_array_equal(y, want["out"])


@pytest.mark.parametrize("board", sorted(CORES))
def test_cross_compiles_for_cortex_m(tmp_path, board):
    """Kernels and generated sources compile (not link) with -Wall -Wextra -Werror for each core."""
    fw = firmware_dir()
    base = ["arm-none-eabi-gcc", *CORES[board], "-mthumb", "-ffunction-sections", "-fdata-sections", "-std=c11",
            "-O2", "-Wall", "-Wextra", "-Werror", f"-I{fw / 'include'}", "-c"]
    kdir = tmp_path / "kernels"
    kdir.mkdir()
    proc = subprocess.run([*base, *map(str, sorted((fw / "kernels").glob("*.c")))], cwd=kdir,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if board in ("qemu-m4", "qemu-m7"):
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(kdir / "pm_conv2d_dsp_s8.o")],
                             capture_output=True, text=True, check=True).stdout
        assert "smlad" in dis, "the DSP convolution should use SMLAD on this core"
    if board != "qemu-m55":
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(kdir / "pm_conv2d_packed_s8.o")],
                             capture_output=True, text=True, check=True).stdout
        assert "smlad" in dis and "smmulr" in dis, "the packed convolution should use SMLAD and SMMULR"
    models = ([RESNET] if RESNET.exists() else []) + FIXTURES + [_embedding_graph()]
    for k, model in enumerate(models):
        out = tmp_path / f"m{k}"
        gen = generate(model, out, board=board, name="net", fuse=(k == 0))
        proc = subprocess.run([*base, f"-I{out}", *(str(out / src) for src in gen.manifest["sources"])], cwd=out,
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{getattr(model, 'name', model)}: {proc.stderr[-3000:]}"


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_deterministic_output(tmp_path):
    model = FIXTURES[0]
    generate(model, tmp_path / "a", board="qemu-m4", name="det")
    generate(model, tmp_path / "elsewhere" / "b", board="qemu-m4", name="det")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "elsewhere" / "b")
    assert a == b
    for fname, data in a.items():
        if fname.endswith((".c", ".h")) and not fname.startswith("pm_runtime/"):  # pm_runtime/: copied kernels
            assert data.startswith(b"/* Generated by pixmcu "), fname
            assert json.loads(a["manifest.json"])["model_sha256"].encode() in data.split(b"\n", 1)[0], fname
    # A graph built in memory (no source file) is hashed by content, just as deterministically.
    generate(_embedding_graph(), tmp_path / "c", name="emb")
    generate(_embedding_graph(), tmp_path / "d", name="emb")
    assert _files(tmp_path / "c") == _files(tmp_path / "d")


def test_manifest_follows_the_contract(tmp_path, resnet):
    gen = generate(RESNET, tmp_path, board="qemu-m7", name="resnet")
    m = json.loads((tmp_path / "manifest.json").read_text())
    for key in ("pixmcu_version", "name", "board", "model_sha256", "source_file", "input", "output", "layers",
                "weight_bytes", "arena_bytes", "sources", "pixel_mapping"):
        assert key in m, key
    assert m["board"] == "qemu-m7" and m["name"] == "resnet"
    assert (tmp_path / m["source_file"]).read_bytes() == RESNET.read_bytes()
    assert m["input"] == {"name": resnet.inputs[0], "shape": [1, 32, 32, 3], "dtype": "int8", "scale": 1.0,
                          "zero_point": -128, "bytes": 3072}
    assert [layer["name"] for layer in m["layers"]] == [op.name for op in resnet.operators]
    for layer in m["layers"]:
        for key in ("index", "name", "op", "input_shapes", "output_shape", "macs", "kernel", "arena_offset",
                    "arena_bytes"):
            assert key in layer
    assert m["layers"][0]["kernel"] == "pm_conv2d_packed_patch_s8" and m["layers"][13]["kernel"] == "view"
    assert m["layers"][1]["kernel"] == "pm_conv2d_packed_s8" and m["layers"][3]["kernel"] == "pm_conv2d_packed_add_s8"
    assert sum(layer["macs"] for layer in m["layers"]) > 12_000_000
    header = (tmp_path / "pm_model.h").read_text()
    assert f'#define PM_MODEL_HASH "{m["model_sha256"]}"' in header
    assert f"#define PM_MODEL_ARENA_BYTES {gen.manifest['arena_bytes']}" in header
    assert "int resnet_invoke(const int8_t *input, int8_t *output);" in header
    data_h = (tmp_path / "resnet_data.h").read_text()
    # 16 filters of 3x3x3 flattened to 27 (+1) values, widened and packed for the SMLAD loop:
    # 4 blocks x 7 groups x 8 words.
    assert "extern const int32_t resnet_conv2d_0_weights[224];" in data_h
    assert "__attribute__((aligned(16)))" in (tmp_path / "resnet_data.c").read_text()


@pytest.mark.parametrize("bad", ["1net", "my-net", "int", "_Reserved", "", "a b", "static"])
def test_model_name_must_be_a_c_identifier(tmp_path, bad):
    model = FIXTURES[0] if FIXTURES else RESNET
    with pytest.raises(PixmcuError):
        generate(model, tmp_path, name=bad)


def test_unknown_board_is_a_user_error(tmp_path):
    model = FIXTURES[0] if FIXTURES else RESNET
    with pytest.raises(PixmcuError):
        generate(model, tmp_path, board="nonexistent-board")


def test_unsupported_option_names_the_layer(tmp_path):
    """A valid graph the kernels cannot run (PAD of a rank-5 tensor) fails at generate time."""
    q = Quantization((0.1,), (0,))
    tensors = {"x": Tensor("x", (1, 2, 2, 2, 2), "int8", q), "y": Tensor("y", (1, 2, 2, 2, 4), "int8", q)}
    ops = (Operator("pad_five_d", "pad", ("x",), ("y",), {"paddings": ((0, 0),) * 4 + ((1, 1),)}),)
    graph = Graph(tensors, ops, ("x",), ("y",))
    with pytest.raises(UnsupportedOperatorError, match="pad_five_d"):
        generate(graph, tmp_path, name="bad")
    assert not (tmp_path / "bad.c").exists()


def test_cli_generate(tmp_path, capsys):
    from pixmcu.cli import main

    model = FIXTURES[0] if FIXTURES else RESNET
    assert main(["generate", str(model), "-o", str(tmp_path / "g"), "--name", "cli_net", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["name"] == "cli_net" and (tmp_path / "g" / "cli_net.c").exists()
    assert main(["generate", str(model), "-o", str(tmp_path / "h"), "--name", "9bad"]) == 2
    assert "not a C identifier" in capsys.readouterr().err


def _qemu_cases():
    # One guard of the real SMLAD/SXTB16 path in this file; tests/test_firmware_models.py runs the
    # ResNet on every QEMU board and every fixture on qemu-m4.
    by_stem = {p.stem: p for p in FIXTURES}
    return [("conv_ops-m4", by_stem["conv_ops"], "qemu-m4", False, 4)] if "conv_ops" in by_stem else []


@pytest.mark.parametrize("case", _qemu_cases(), ids=lambda c: c[0])
def test_generated_model_bit_exact_under_qemu(tmp_path, case):
    """The real DSP intrinsics (M4/M7) and the M55 build, run by `pixmcu run`, agree with the reference."""
    import sys

    _, model, board, fuse, n = case
    graph = load_model(model)
    t = graph.input_tensor()
    x = np.random.default_rng(7).integers(-128, 128, (n,) + t.shape[1:]).astype(t.dtype)
    np.savez(tmp_path / "data.npz", x=x)
    out = tmp_path / "gen"
    generate(model, out, board=board, name="qemu_net", fuse=fuse)
    proc = subprocess.run([sys.executable, "-m", "pixmcu", "run", str(out), "--data", str(tmp_path / "data.npz"),
                           "--transport", "semihost", "--quiet", "--json", str(tmp_path / "report.json")],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["bitexact"]["compared"] == n and report["bitexact"]["matches"] == n, report["bitexact"]
