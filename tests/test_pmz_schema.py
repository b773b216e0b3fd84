"""Issue 12: a .pmz graph file gets a schema check; every malformed one is one PixmcuError naming the
file and the field, never a raw exception or an absurd allocation."""

import copy

import numpy as np
import pytest

from conftest import ROOT
from pixmcu.errors import PixmcuError
from pixmcu.frontend import load_model
from pixmcu.fuzz.pmz_files import read_pmz, write_pmz

PMZ = ROOT / "pixmcu" / "models" / "fmnist-pe-w4a4.pmz"


def _op(doc, name):
    return next(o for o in doc["operators"] if o["name"] == name)


def _drop_array(doc, arrays):
    arrays.pop(doc["tensors"][1]["data"])


def _float_data(doc, arrays):
    key = doc["tensors"][1]["data"]
    arrays[key] = arrays[key].astype(np.float64)


CASES = {
    # name: (edit of (doc, arrays), or raw JSON bytes; expected message part)
    "bad_json": (b'{"format": "pixmcu-graph", ', r"not valid JSON"),
    "json_list": (b"[1, 2, 3]", r"must be a JSON object, got a list"),
    "not_utf8": (b"\xff\xfe{}", r"not valid JSON"),
    "missing_tensors": (lambda d, a: d.pop("tensors"), r"'tensors' is missing"),
    "missing_array": (_drop_array, r"names array .* which the file does not hold"),
    "null_strides": (lambda d, a: _op(d, "conv1")["attrs"].update(stride=None),
                     r"operator 1 'conv1': attribute 'stride' must be two integers, got null"),
    "dilation_2_31": (lambda d, a: _op(d, "conv1")["attrs"].update(dilation=[2 ** 31, 1]),
                      r"layer 'conv1' \(conv2d\): .*dilation \(2147483648, 1\)"),
    "shape_strings": (lambda d, a: d["tensors"][0].update(shape=["1", "28", "28", "1"]), r"'shape' must be a list of integers"),
    "dtype_unknown": (lambda d, a: d["tensors"][0].update(dtype="float64"), r"'dtype' must be one of"),
    "data_dtype_mismatch": (_float_data, r"is float64, the tensor is int8"),
    "bool_as_int": (lambda d, a: _op(d, "embedding")["attrs"].update(embed_dim=True), r"'embed_dim' must be a positive"),
    "inputs_not_list": (lambda d, a: d.update(inputs="input"), r"'inputs' must be a list of tensor names"),
    "operator_not_object": (lambda d, a: d["operators"].insert(0, 7), r"operator 0: must be an object"),
    "huge_shape": (lambda d, a: d["tensors"][0].update(shape=[1, 2 ** 40, 28, 1]), r"output must be int8 \(1, 1099511627776, 28, 4\)"),
    "nan_scale": (lambda d, a: d["tensors"][0]["quant"].update(scale=[float("nan")]), r"must be finite, got nan"),
    "zero_point_out_of_dtype": (lambda d, a: d["tensors"][0]["quant"].update(zero_point=[300]),
                                r"zero point outside uint8 \[0, 255\]: 300"),
    "bin_edges_not_increasing": (lambda d, a: _op(d, "embedding")["attrs"].update(bin_edges=[[32, 32, 96]]),
                                 r"'bin_edges' must be lists of increasing pixel values"),
    # Found by the fuzz campaign of seed 20261206 (pmz mutant 518): a layer with no inputs at all.
    "conv_without_inputs": (lambda d, a: _op(d, "conv1").update(inputs=[]), r"layer 'conv1' \(conv2d\): has no inputs"),
    "conv_with_one_input": (lambda d, a: _op(d, "conv1").update(inputs=_op(d, "conv1")["inputs"][:1]),
                            r"layer 'conv1' \(conv2d\): "),
    "unknown_tensor": (lambda d, a: _op(d, "conv1").update(inputs=["nope"] + _op(d, "conv1")["inputs"][1:]),
                       r"tensor 'nope' does not exist"),
}


def make(tmp_path, case):
    doc, arrays = read_pmz(PMZ)
    doc = copy.deepcopy(doc)
    edit = CASES[case][0]
    p = tmp_path / f"{case}.pmz"
    if isinstance(edit, bytes):
        return write_pmz(p, None, arrays, raw_json=edit)
    edit(doc, arrays)
    return write_pmz(p, doc, arrays)


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_pmz_is_one_clear_error(tmp_path, case):
    path = make(tmp_path, case)
    with pytest.raises(PixmcuError, match=CASES[case][1]) as info:
        load_model(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_unmodified_copy_loads(tmp_path):
    doc, arrays = read_pmz(PMZ)
    g = load_model(write_pmz(tmp_path / "same.pmz", doc, arrays))
    assert [op.name for op in g.operators] == [op.name for op in load_model(PMZ).operators]


def test_not_an_archive_and_a_bomb(tmp_path, pixmcu_cli, monkeypatch):
    from pixmcu.frontend import checkpoint

    monkeypatch.setattr(checkpoint, "MAX_PMZ_BYTES", 1 << 20)  # the cap's logic, at a size cheap to test
    npy = tmp_path / "x.pmz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(PixmcuError, match="not a pixmcu graph file"):
        load_model(npy)
    doc, arrays = read_pmz(PMZ)
    arrays["big"] = np.zeros(2 << 20, np.uint8)  # compresses to almost nothing
    bomb = tmp_path / "bomb.pmz"
    with open(bomb, "wb") as f:
        np.savez_compressed(f, __graph__=np.frombuffer(__import__("json").dumps(doc).encode(), np.uint8), **arrays)
    code, _, err = pixmcu_cli("inspect", bomb)
    assert code == 2 and "over pixmcu's limit" in err and "Traceback" not in err


@pytest.mark.parametrize("value, msg", [(1000, r"pad value 1000 is outside int8 \[-128, 127\]"),
                                        (2 ** 40, r"pad value 1099511627776 is outside"),
                                        ("0", r"attribute 'pad_value' must be an integer")])
def test_pad_value_outside_the_dtype(tmp_path, value, msg):
    from pixmcu.frontend.checkpoint import save_graph

    pmz = save_graph(load_model(ROOT / "tests" / "fixtures" / "models" / "residual.tflite"), tmp_path / "r.pmz")
    doc, arrays = read_pmz(pmz)
    pad = next(o for o in doc["operators"] if o["kind"] == "pad")
    pad["attrs"]["pad_value"] = value
    with pytest.raises(PixmcuError, match=msg):
        load_model(write_pmz(tmp_path / "bad.pmz", doc, arrays))


def test_binned_embedding_round_trips(tmp_path):
    """bin_edges as training writes them ([[32, 64, ...]]) pass the schema."""
    doc, arrays = read_pmz(PMZ)
    _op(doc, "embedding")["attrs"]["bin_edges"] = [[32, 64, 96, 128, 160, 192, 224]]
    g = load_model(write_pmz(tmp_path / "binned.pmz", doc, arrays))
    assert g.operators[0].attrs["bin_edges"] == ((32, 64, 96, 128, 160, 192, 224),)


@pytest.mark.parametrize("edit, msg", [
    # Found by a fuzz campaign on the issue-11 operators (seed 12, pmz mutant 720).
    (lambda attrs: attrs.update(shape=True), r"attribute 'shape' must be a list of integers, got true"),
    (lambda attrs: attrs.pop("begin"), r"operator '.*' \(slice\): missing attributes \['begin'\]"),
])
def test_operator_attributes_of_every_kind_are_checked(tmp_path, edit, msg):
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "ops" / "slices.tflite"), tmp_path / "slices.pmz")
    doc, arrays = read_pmz(src)
    edit(next(o for o in doc["operators"] if o["kind"] == "slice")["attrs"])
    with pytest.raises(PixmcuError, match=msg):
        load_model(write_pmz(tmp_path / "edited.pmz", doc, arrays))


def test_bias_that_overflows_the_accumulator(tmp_path):
    """Fuzzer find (seed 20261209, pmz mutant 2618): an int32 bias of -2^31 overflowed the depthwise
    accumulator (undefined behaviour, also in TFLM); refused at load, naming the channel."""
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "ops" / "bin_mul.tflite"), tmp_path / "bin_mul.pmz")
    doc, arrays = read_pmz(src)
    op = next(o for o in doc["operators"] if o["kind"] == "depthwise_conv2d")
    bias = next(t for t in doc["tensors"] if t["name"] == op["inputs"][2])
    arrays[bias["data"]] = arrays[bias["data"]].copy()
    arrays[bias["data"]][-1] = np.iinfo(np.int32).min
    with pytest.raises(PixmcuError, match=r"\(depthwise_conv2d\): int32 bias beyond the \+-2147450880 .*channel 6 = -2147483648"):
        load_model(write_pmz(tmp_path / "edited.pmz", doc, arrays))


def test_dilation_of_a_1x1_filter_is_bounded(tmp_path):
    """Fuzzer find (seed 20261211, pmz mutant 2948): a 1x1 depthwise filter spans one tap at any
    dilation, so 2^31 + 1 passed the extent check and failed only in the generator."""
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "ops" / "bin_minimum.tflite"), tmp_path / "m.pmz")
    doc, arrays = read_pmz(src)
    next(o for o in doc["operators"] if o["kind"] == "depthwise_conv2d")["attrs"]["dilation"][0] = 2 ** 31 + 1
    with pytest.raises(PixmcuError, match=r"\(depthwise_conv2d\): dilation \(2147483649, 1\) must be between 1 and 65536"):
        load_model(write_pmz(tmp_path / "edited.pmz", doc, arrays))


def test_16x8_shift_beyond_the_64_bit_requantization(tmp_path):
    """Fuzzer find (seed 20261211, pmz mutant 4458): a 16x8 weight scale of 2^31 gave shift 24, and
    TFLM's 64-bit requantization shifts by 15 - shift (undefined below 1 in the generated C)."""
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "ops" / "q16_int16io.tflite"), tmp_path / "q16.pmz")
    doc, arrays = read_pmz(src)
    doc["tensors"][14]["quant"]["scale"][7] = 2147483648
    with pytest.raises(PixmcuError, match=r"requantization shift outside the -31..7 bits .*channel 7 = "):
        load_model(write_pmz(tmp_path / "edited.pmz", doc, arrays))


def test_state_tensors_round_trip_and_stay_with_their_layer(tmp_path):
    """A graph file keeps the variable (state) flag; and a model input flagged as state is refused
    (fuzzer find, seed 20261211, tflite mutant 13911: the reference read zeros where the C read the input)."""
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "svdf" / "svdf_r1.tflite"), tmp_path / "svdf.pmz")
    assert [t.name for t in load_model(src).tensors.values() if t.variable] == ["svdf_state"]
    doc, arrays = read_pmz(src)
    next(t for t in doc["tensors"] if t["name"] == doc["inputs"][0])["variable"] = True
    with pytest.raises(PixmcuError, match=r"the model input 'input' is marked as a variable \(state\) tensor"):
        load_model(write_pmz(tmp_path / "input_state.pmz", doc, arrays))
    doc["tensors"][0]["variable"] = 1
    with pytest.raises(PixmcuError, match=r"'variable' must be true or false, got 1"):
        load_model(write_pmz(tmp_path / "bad_flag.pmz", doc, arrays))


def test_bilinear_upscale_that_reads_past_the_input(tmp_path):
    """Fuzzer find (seed 20261212, pmz mutant 732): 5 -> 3000 rows with TFLM's rounded Q10 scale puts
    the last rows' lower source index at 5 of 5 (TFLM does not clamp it); refused at load."""
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "ops" / "rs_bilinear_legacy_3x4.tflite"), tmp_path / "r.pmz")
    doc, arrays = read_pmz(src)
    doc["tensors"][1]["shape"][1] = 3000
    with pytest.raises(PixmcuError, match=r"resizing 5 to 3000 rows reads source row 5 of 5"):
        load_model(write_pmz(tmp_path / "edited.pmz", doc, arrays))


def test_names_cannot_break_messages_or_generated_c(tmp_path):
    """A name with a control character is refused in one line; a state tensor's name that closes a C
    comment stays inside the comment in the generated source (layer names are identifiers already)."""
    from pixmcu.codegen import generate
    from pixmcu.frontend.checkpoint import save_graph

    src = save_graph(load_model(ROOT / "tests" / "fixtures" / "svdf" / "svdf_r1.tflite"), tmp_path / "svdf.pmz")
    doc, arrays = read_pmz(src)
    doc["tensors"][0]["name"] = "in\nput"
    with pytest.raises(PixmcuError, match=r"'name' must be a non-empty printable string") as info:
        load_model(write_pmz(tmp_path / "newline.pmz", doc, arrays))
    assert "\n" not in str(info.value)

    doc, arrays = read_pmz(src)
    evil = "x */ int injected; /* y"
    state = next(t for t in doc["tensors"] if t.get("variable"))
    for op in doc["operators"]:
        op["inputs"] = [evil + "s" if n == state["name"] else n for n in op["inputs"]]
    state["name"] = evil + "s"
    out = tmp_path / "gen"
    generate(load_model(write_pmz(tmp_path / "evil.pmz", doc, arrays)), out)
    text = "".join(p.read_text() for p in out.glob("*.c"))
    assert "*/ int injected" not in text and "x *_/ int injected; /_* ys" in text
