"""Operators added for issue 11 against TFLM: numpy reference, host C (ASan + UBSan) and qemu-m4.

Fixtures (tests/fixtures/ops, made by make_op_models.py with the TFLite converter): one model per
activation and input range (one inference covers all 256 int8 values), one per binary operator with
and without broadcasting, and models chaining them. Every one is compared with TFLM's interpreter;
the chained ones also run as generated C on the host layer by layer, and `combined` on qemu-m4.
Random single-operator graphs exercise the C kernels over ranks, broadcasts and permutations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from pixmcu import reference
from pixmcu.codegen.kernels import kernel_call
from pixmcu.engines.host_c import run_host_c
from pixmcu.frontend import load_model
from pixmcu.ir import Quantization, Tensor
from pixmcu.lowering import lower
from pixmcu.shapes_ops import BINARY, UNARY, broadcast_shape
from tflm_oracle import Oracle

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_support import load, run_kernel  # noqa: E402
from kernel_support.graphs import single  # noqa: E402

OPS_DIR = FIXTURES / "ops"
OP_MODELS = sorted(OPS_DIR.glob("*.tflite"))
CHAINED = [p for p in OP_MODELS if not p.stem.startswith(("act_", "bin_", "rs_", "a16_"))]
KINDS_16X8 = {"conv2d", "depthwise_conv2d", "fully_connected", "add", "mul", "avg_pool2d", "max_pool2d", "reshape",
              "logistic", "tanh", "softmax"}
NEW_KINDS = {"transpose", *UNARY, *BINARY, "slice", "resize_nearest", "resize_bilinear"}
# TFLite operators whose fixtures must be present (several become one IR kind).
NEW_TFLITE_OPS = {"TRANSPOSE", "LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU", "MUL", "SUB",
                  "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "PRELU", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V",
                  "PACK", "UNPACK", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"}


def _inputs(graph, n, seed):
    t = graph.input_tensor()
    if t.size == 256:  # the activation fixtures: every int8 value once
        return np.arange(-128, 128, dtype=np.int64).astype(np.int8).reshape((1,) + t.shape[1:])
    if t.size == 1024 and t.dtype == "int16":  # the int16 activation fixtures: every int16 value once
        return np.arange(-32768, 32768, dtype=np.int64).astype(np.int16).reshape((64,) + t.shape[1:])
    info = np.iinfo(t.dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, size=(n,) + t.shape[1:]).astype(t.dtype)


def test_fixtures_cover_every_new_operator():
    from pixmcu.frontend.tflite_reader import read_tflite

    kinds, broadcast, const_operand, opcodes, resize_modes, kinds16 = set(), set(), set(), set(), set(), set()
    fused, requant = set(), set()
    for path in OP_MODELS:
        for raw_op in read_tflite(path).operators:
            opcodes.add(raw_op.opcode)
        g = load_model(path)
        for op in g.operators:
            kinds.add(op.kind)
            if g.tensors[op.inputs[0]].dtype == "int16":
                kinds16.add(op.kind)
            if op.kind == "quantize":
                requant.add((g.tensors[op.inputs[0]].dtype, g.tensors[op.outputs[0]].dtype))
            if op.attrs.get("activation", "none") != "none":
                fused.add((op.kind, op.attrs["activation"]))
            if op.kind.startswith("resize"):
                resize_modes.add((op.kind, op.attrs["align_corners"], op.attrs["half_pixel_centers"]))
            if op.kind in BINARY:
                shapes = {g.tensors[n].shape for n in op.inputs}
                if len(shapes) > 1:
                    broadcast.add(op.kind)
                if any(g.tensors[n].is_constant for n in op.inputs):
                    const_operand.add(op.kind)
    assert kinds >= NEW_KINDS, sorted(NEW_KINDS - kinds)
    assert broadcast >= set(BINARY), sorted(set(BINARY) - broadcast)
    assert const_operand >= {"minimum", "prelu"}
    assert fused >= {("mul", "relu"), ("sub", "relu6")}
    assert requant >= {("int8", "int16"), ("int16", "int8")}
    assert kinds16 >= KINDS_16X8, sorted(KINDS_16X8 - kinds16)
    assert opcodes >= NEW_TFLITE_OPS, sorted(NEW_TFLITE_OPS - opcodes)
    assert resize_modes == {(k, a, h) for k in ("resize_nearest", "resize_bilinear")
                            for a, h in ((False, False), (True, False), (False, True))}


@pytest.mark.parametrize("path", OP_MODELS, ids=lambda p: p.stem)
def test_reference_bit_exact_with_tflm(path):
    g = load_model(path)
    x = _inputs(g, 20, seed=len(path.stem))
    expected = Oracle(path).invoke(x)
    got = reference.invoke(g, x)
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)


@pytest.mark.parametrize("path", CHAINED, ids=lambda p: p.stem)
def test_host_c_every_layer(path):
    g = load_model(path)
    x = _inputs(g, 8, seed=3)
    want = reference.run(g, x)
    board = "qemu-m55" if CHAINED.index(path) % 2 else "qemu-m4"
    y, layers = run_host_c(path, x, board=board, layers=True, fuse=False)
    for op in g.operators:
        np.testing.assert_array_equal(layers[op.name], want[op.name], err_msg=f"{path.stem}: {op.name}")
    np.testing.assert_array_equal(y, want[g.outputs[0]])


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["combined", "combined2", "q16_int8ends"])
def test_combined_bit_exact_on_qemu_m4(tmp_path, stem):
    from pixmcu.cli import main
    from pixmcu.codegen.generator import generate

    path = OPS_DIR / f"{stem}.tflite"
    g = load_model(path)
    manifest = generate(path, tmp_path / "m", board="qemu-m4", name="m").manifest
    assert {la["op"] for la in manifest["layers"]} >= {
        "combined": {"transpose", *UNARY, *BINARY}, "combined2": {"slice", "resize_nearest", "resize_bilinear"},
        "q16_int8ends": KINDS_16X8 | {"quantize"}}[stem]
    x = _inputs(g, 3, seed=7)
    np.savez(tmp_path / "d.npz", x=x)
    code = main(["run", str(tmp_path / "m"), "--data", str(tmp_path / "d.npz"), "--json", str(tmp_path / "r.json"),
                 "--quiet", "--no-estimate-cycles"])
    rep = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, rep.get("error")
    assert rep["bitexact"] == {"compared": 3, "matches": 3, "mismatches": [], "reference": "pixmcu.reference"}
    np.testing.assert_array_equal(
        np.stack([np.frombuffer(bytes.fromhex(r), g.output_tensor().dtype) for r in _outputs(tmp_path / "r.jsonl")]),
        Oracle(path).invoke(x).reshape(3, -1))


def _outputs(jsonl: Path) -> list[str]:
    lines = [json.loads(s) for s in jsonl.read_text().splitlines() if s.strip()]
    return [r["output"] for r in lines if r.get("kind") == "image"]


# Random single-operator graphs for the kernels (ctypes, UBSan, guard bytes).

KERNELS = ("lut_s8", "mul_s8", "sub_s8", "squared_difference_s8", "maximum_s8", "minimum_s8", "prelu_s8",
           "strided_copy_s8", "resize_nearest_s8", "resize_bilinear_s8", "conv2d_s16", "depthwise_conv2d_s16",
           "fully_connected_s16", "add_s16", "mul_s16", "logistic_s16", "tanh_s16", "softmax_s16", "avg_pool2d_s16", "max_pool2d_s16", "requantize_s16")


@pytest.fixture(scope="module")
def klib(tmp_path_factory):
    """Only this issue's kernels, under UBSan as kernel_support builds them all (a fraction of the time)."""
    import subprocess

    from pixmcu.resources import firmware_dir

    fw = firmware_dir()
    lib = tmp_path_factory.mktemp("ops_kernels") / "libpm_ops.so"
    subprocess.run(["gcc", "-std=c11", "-O1", "-g", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
                    "-fsanitize=undefined", "-fno-sanitize-recover=all", f"-I{fw / 'include'}",
                    *(str(fw / "kernels" / f"pm_{k}.c") for k in KERNELS), "-o", str(lib)], check=True)
    return load(lib)


def _q(rng):
    return Quantization((float(np.exp(rng.uniform(np.log(1e-3), np.log(0.2)))),), (int(rng.integers(-128, 128)),))


def _shapes(rng):
    rank = int(rng.integers(1, 7))
    out = tuple(int(d) for d in rng.integers(1, 5, rank))
    def operand():
        r = int(rng.integers(0, rank + 1)) or rank
        return tuple(d if rng.random() < 0.6 else 1 for d in out[rank - r:])
    a, b = operand(), operand()
    a = out if rng.random() < 0.3 else a
    return a, b, broadcast_shape(a, b)


def _binary_graph(rng, kind):
    a, b, out = _shapes(rng)
    qa, qb = _q(rng), _q(rng)
    qo = qa if kind in ("maximum", "minimum") else _q(rng)
    const_b = kind == "prelu" or rng.random() < 0.25
    tb = Tensor("b", b, "int8", qb, rng.integers(-128, 128, b) if const_b else None)
    attrs = {"activation": str(rng.choice(["none", "relu", "relu6"]))} if kind in ("mul", "sub") else {}
    return single(kind, [Tensor("a", a, "int8", qa), tb], Tensor("y", out, "int8", qo), attrs)


def _check(lib, graph, rng):
    op = graph.operators[0]
    call = kernel_call(graph, op)
    feed, ref_in = [], []
    for name in op.inputs:
        t = graph.tensors[name]
        if t.is_constant and op.kind not in BINARY:  # weights and bias live in the parameters
            continue
        info = np.iinfo(t.dtype)
        v = t.data if t.is_constant else rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype)
        feed.append(np.asarray(v, t.dtype))
        if not t.is_constant:
            ref_in.append(v[None])
    out_t = graph.tensors[op.outputs[0]]
    want = reference.OPS[op.kind](graph, op, ref_in, lower(graph, op))[0]
    got = run_kernel(lib, call, feed, out_t.shape, out_t.dtype)
    np.testing.assert_array_equal(got, want.reshape(out_t.shape), err_msg=f"{call.kernel} {out_t.shape}")


@pytest.mark.parametrize("kind", sorted(BINARY))
def test_binary_kernels_broadcast(klib, kind):
    rng = np.random.default_rng(sorted(BINARY).index(kind))
    for _ in range(60):
        _check(klib, _binary_graph(rng, kind), rng)


def test_transpose_kernel(klib):
    rng = np.random.default_rng(21)
    for _ in range(60):
        shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 7))))
        perm = tuple(int(p) for p in rng.permutation(len(shape)))
        q = _q(rng)
        g = single("transpose", [Tensor("x", shape, "int8", q)],
                   Tensor("y", tuple(shape[p] for p in perm), "int8", q), {"perm": perm})
        _check(klib, g, rng)


@pytest.mark.parametrize("kind", sorted(UNARY))
def test_activation_table_kernel(klib, kind):
    rng = np.random.default_rng(31)
    for _ in range(20):
        shape = tuple(int(d) for d in rng.integers(1, 9, 3))
        qo = Quantization((1 / 256,), (-128,)) if kind == "logistic" else _q(rng)
        attrs = {"alpha": float(rng.uniform(0.01, 0.9))} if kind == "leaky_relu" else {}
        _check(klib, single(kind, [Tensor("x", shape, "int8", _q(rng))], Tensor("y", shape, "int8", qo), attrs), rng)


def test_slice_kernel(klib):
    rng = np.random.default_rng(41)
    for _ in range(60):
        shape = tuple(int(d) for d in rng.integers(1, 7, int(rng.integers(1, 7))))
        begin, strides, size = [], [], []
        for n in shape:
            st = int(rng.choice([-2, -1, 1, 1, 2, 3]))
            b = int(rng.integers(0, n))
            room = b // -st + 1 if st < 0 else (n - 1 - b) // st + 1
            begin.append(b)
            strides.append(st)
            size.append(int(rng.integers(1, room + 1)))
        q = _q(rng)
        out = tuple(size) if rng.random() < 0.5 else tuple(d for d in size if d != 1) or (1,)
        g = single("slice", [Tensor("x", shape, "int8", q)], Tensor("y", out, "int8", q),
                   {"begin": tuple(begin), "strides": tuple(strides), "shape": tuple(size)})
        _check(klib, g, rng)


@pytest.mark.parametrize("kind", ["resize_nearest", "resize_bilinear"])
def test_resize_kernels(klib, kind):
    rng = np.random.default_rng(51)
    for _ in range(40):
        n, h, w, c = (int(v) for v in rng.integers(1, 7, 4))
        oh, ow = (int(v) for v in rng.integers(1, 13, 2))
        align, half = [(False, False), (True, False), (False, True)][int(rng.integers(0, 3))]
        q = _q(rng)
        g = single(kind, [Tensor("x", (n, h, w, c), "int8", q)], Tensor("y", (n, oh, ow, c), "int8", q),
                   {"align_corners": align, "half_pixel_centers": half})
        _check(klib, g, rng)


def test_inspect_says_float_ends_were_stripped(pixmcu_cli):
    code, out, _ = pixmcu_cli("inspect", FIXTURES / "models" / "float_io.tflite", "--json")
    assert code == 0
    ends = json.loads(out)["float_ends_stripped"]
    assert ends["input"]["operator"].startswith("QUANTIZE") and ends["input"]["deployed"] == "tfl.quantize"
    assert ends["output"]["operator"].startswith("DEQUANTIZE") and ends["output"]["dtype"] == "int8"
    code, out, _ = pixmcu_cli("inspect", FIXTURES / "models" / "float_io.tflite")
    assert code == 0 and "float ends stripped" in out and "deployed int8 'tfl.quantize'" in out
    code, out, _ = pixmcu_cli("inspect", FIXTURES / "models" / "residual.tflite", "--json")
    assert code == 0 and json.loads(out)["float_ends_stripped"] is None


def _to_16x8(graph):
    """The same single-operator graph in 16x8 mode: int16 activations (zero point 0), int64 bias."""
    from pixmcu.ir import Graph

    rng = np.random.default_rng(len(graph.tensors))
    tensors = {}
    binary = graph.operators[0].kind in BINARY
    for name, t in graph.tensors.items():
        if t.dtype == "int8" and not t.is_constant:
            t = Tensor(name, t.shape, "int16", Quantization(t.quant.scale, (0,)))
        elif t.dtype == "int8" and binary:  # a constant operand, not weights
            t = Tensor(name, t.shape, "int16", Quantization(t.quant.scale, (0,)), rng.integers(-32768, 32768, t.shape))
        elif t.dtype == "int32":
            t = Tensor(name, t.shape, "int64", t.quant, rng.integers(-(1 << 30), 1 << 30, t.shape))
        tensors[name] = t
    return Graph(tensors, graph.operators, graph.inputs, graph.outputs)


def _softmax16_graph(rng):
    shape = tuple(int(d) for d in rng.integers(1, 12, 2))
    q = Quantization((float(np.exp(rng.uniform(np.log(1e-5), np.log(1e-2)))),), (0,))
    return single("softmax", [Tensor("x", shape, "int16", q)], Tensor("y", shape, "int16", Quantization((1 / 32768,), (0,))),
                  {"beta": float(rng.uniform(0.5, 2.0))})


def _sigmoid16_graph(rng, kind):
    shape = tuple(int(d) for d in rng.integers(1, 9, 3))
    q = Quantization((float(np.exp(rng.uniform(np.log(1e-5), np.log(1e-3)))),), (0,))
    return single(kind, [Tensor("x", shape, "int16", q)], Tensor("y", shape, "int16", Quantization((1 / 32768,), (0,))),
                  {})


@pytest.mark.parametrize("kind", sorted(KINDS_16X8 - {"reshape"}))
def test_16x8_kernels(klib, kind):
    from kernel_support import graphs as G

    rng = np.random.default_rng(61)
    make = {"conv2d": lambda: G.conv(rng), "depthwise_conv2d": lambda: G.conv(rng, depthwise=True),
            "fully_connected": lambda: G.fully_connected(rng), "add": lambda: G.add(rng),
            "avg_pool2d": lambda: G.pool(rng, "avg_pool2d"), "max_pool2d": lambda: G.pool(rng, "max_pool2d"),
            "mul": lambda: _binary_graph(rng, "mul"), "logistic": lambda: _sigmoid16_graph(rng, "logistic"),
            "tanh": lambda: _sigmoid16_graph(rng, "tanh"), "softmax": lambda: _softmax16_graph(rng)}[kind]
    for _ in range(30):
        g = _to_16x8(make())
        assert kernel_call(g, g.operators[0]).kernel.endswith("_s16")
        _check(klib, g, rng)


def test_requantize_int8_int16(klib):
    rng = np.random.default_rng(71)
    for case in range(40):
        src, dst = [("int8", "int16"), ("int16", "int8"), ("int16", "int16")][case % 3]
        shape = tuple(int(d) for d in rng.integers(1, 6, 3))
        def q(dtype):
            zp = 0 if dtype == "int16" else int(rng.integers(-128, 128))
            return Quantization((float(np.exp(rng.uniform(np.log(1e-4), np.log(0.1)))),), (zp,))
        g = single("quantize", [Tensor("x", shape, src, q(src))], Tensor("y", shape, dst, q(dst)), {})
        assert kernel_call(g, g.operators[0]).kernel == "pm_requantize_s16"
        _check(klib, g, rng)


def test_16x8_needs_zero_points_of_zero():
    from pixmcu.ir import GraphError

    q = Quantization((0.01,), (3,))
    w = Tensor("w", (2, 4), "int8", Quantization((0.02,), (0,)), np.ones((2, 4)))
    with pytest.raises(GraphError, match="zero point 3; 16x8 layers need 0"):
        single("fully_connected", [Tensor("x", (1, 4), "int16", q), w],
               Tensor("y", (1, 2), "int16", Quantization((0.1,), (0,))), {"activation": "none"})
