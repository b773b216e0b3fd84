"""Every first-layer kernel against the reference: host gcc with ASan/UBSan (portable C paths) and
under QEMU (the Armv7E-M assembly paths), on odd shapes, random tables, weights and zero points."""

import shutil

import pytest

from pixmcu.first_layer import tables as tb
from pixmcu.first_layer.problem import make_problem
from pixmcu.first_layer.reference import Geometry

INTEGER = ("s8_im2col", "pe_embed_conv", "pe_folded_s16", "pe_joint_s16", "pe_folded_s32")

CASES = [
    (Geometry(9, 7, 3, 16, 3, 1), dict(seed=1, lut="random")),
    (Geometry(11, 6, 3, 8, 5, 2), dict(seed=2, lut="random", s8_zero_point=17, embed_zero_point=3)),
    (Geometry(7, 9, 1, 5, 3, 1), dict(seed=3, lut="random", activation="relu")),
    (Geometry(6, 10, 2, 12, 5, 1, "valid"), dict(seed=4, lut="random", d=3, q=3)),
    (Geometry(8, 8, 3, 32, 3, 2), dict(seed=5, lut="random", s8_zero_point=0)),
    (Geometry(5, 13, 3, 24, 3, 1), dict(seed=6, lut="random", bins=4)),
]


def _check(results, g, required=("s8_im2col", "pe_embed_conv", "pe_folded_s16")):
    for name, value in results.items():
        if name in INTEGER:
            assert value is True, f"{name} not bit-exact on {g.label()}"
        else:
            assert value < 1e-4, f"{name} off by {value} on {g.label()}"
    assert set(required) <= set(results)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.fail("host gcc is required for the kernel tests")
    from pixmcu.first_layer.hostrun import HostBuilder

    return HostBuilder(tmp_path_factory.mktemp("fl_host"))


@pytest.mark.parametrize("g,kw", CASES, ids=[c[0].label() for c in CASES])
def test_host_sanitized_bitexact(host, g, kw):
    _check(host.run(g.label().replace(" ", "_").replace(">", ""), make_problem(g, **kw)), g)


def test_host_widening_and_int32_paths(host):
    g = Geometry(7, 6, 3, 16, 3, 1)
    p = make_problem(g, d=16, q=4, weights="adversarial", seed=3, lut="random")
    assert tb.prove_int16(p.folded()).widen_every == 1
    _check(host.run("widen", p, ["pe_folded_s16", "pe_folded_s32"]), g, ("pe_folded_s16", "pe_folded_s32"))
    p7 = make_problem(g, d=16, q=7, weights="adversarial", seed=3, lut="random")
    assert host.run("int32", p7, ["pe_folded_s16"]) == {"pe_folded_s32": True}


@pytest.fixture(scope="module")
def m4(tmp_path_factory):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc and qemu-system-arm are required")
    from pixmcu.first_layer.bench import BenchBuilder

    return BenchBuilder(tmp_path_factory.mktemp("fl_qemu"), "qemu-m4")


@pytest.mark.parametrize("g,kw", [CASES[0], CASES[1], CASES[5],
                                  (Geometry(12, 10, 3, 16, 3, 1), dict(seed=7))],
                         ids=["9x7x3", "11x6x3-s2", "5x13x3-24", "12x10x3-ramp"])
def test_qemu_m4_bitexact(m4, tmp_path, g, kw):
    res = m4.run_case(tmp_path, make_problem(g, **kw))
    _check({r.name: (r.bitexact if r.bitexact is not None else r.max_abs_err) for r in res}, g)
    assert all(r.count > 0 and r.estimated_cycles > 0 and r.counter == "instructions" for r in res)


def test_qemu_m4_widening(m4, tmp_path):
    g = Geometry(7, 6, 3, 16, 3, 1)
    p = make_problem(g, d=16, q=4, weights="adversarial", seed=3, lut="random")
    res = m4.run_case(tmp_path, p, ["pe_folded_s16", "pe_folded_s32"])
    assert [(r.name, r.bitexact) for r in res] == [("pe_folded_s16", True), ("pe_folded_s32", True)]


def test_qemu_m7_bitexact(tmp_path):
    from pixmcu.first_layer.bench import BenchBuilder

    g, kw = CASES[0]
    res = BenchBuilder(tmp_path / "w", "qemu-m7").run_case(tmp_path / "c", make_problem(g, **kw))
    _check({r.name: (r.bitexact if r.bitexact is not None else r.max_abs_err) for r in res}, g)


def test_qemu_m4_mlperf_resnet_conv1_int8(m4, tmp_path):
    """The shipped MLPerf Tiny ResNet's first conv, with its own weights: reference == pixmcu.reference
    (checked inside int8_problem_from_graph) and the int8 kernel bit-exact on the board."""
    from pixmcu.first_layer.report import MLPERF_RESNET
    from pixmcu.first_layer.tune import int8_problem_from_graph
    from pixmcu.frontend import load_model

    p, info = int8_problem_from_graph(load_model(MLPERF_RESNET))
    assert info["geometry"] == "32x32x3->16 k3 s1"
    (r,) = m4.run_case(tmp_path, p, ["s8_im2col"])
    assert r.bitexact is True
