"""Which C kernel runs each operator, and the fields of its parameter struct.

Every number comes from `pixmcu.lowering.lower`; this module only renames and reshapes them into
the structs of `firmware/include/pm_kernels.h`. The same description feeds the code generator (as
C initializers) and the kernel tests (as ctypes structs), so both exercise one mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pixmcu import quant
from pixmcu.codegen import packing
from pixmcu.errors import UnsupportedOperatorError
from pixmcu.ir import Graph, Operator
from pixmcu.lowering import lower

# Cores whose generated code calls the SMLAD convolution (Armv7E-M with the DSP extension).
DSP_CORES = ("cortex-m4", "cortex-m7")
# Cores whose convolutions run on generator-packed int16 weights (Armv7E-M with the DSP extension).
PACKED_CORES = ("cortex-m4", "cortex-m7")
# Cores whose convolutions run the Helium (MVE) kernels.
MVE_CORES = ("cortex-m55",)

# Struct fields per C struct type, in declaration order (the ctypes mirror in the tests reads this).
STRUCT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "pm_conv_params_t": (
        ("input", "dims"), ("filter", "dims"), ("output", "dims"),
        ("stride_h", "i32"), ("stride_w", "i32"), ("dilation_h", "i32"), ("dilation_w", "i32"),
        ("pad_h", "i32"), ("pad_w", "i32"), ("depth_multiplier", "i32"),
        ("input_offset", "i32"), ("output_offset", "i32"), ("act_min", "i32"), ("act_max", "i32"),
        ("weights", "int8_t*"), ("bias", "int32_t*"), ("multiplier", "int32_t*"), ("shift", "int32_t*"),
    ),
    "pm_fc_params_t": (
        ("batches", "i32"), ("depth", "i32"), ("units", "i32"), ("input_offset", "i32"),
        ("output_offset", "i32"), ("act_min", "i32"), ("act_max", "i32"),
        ("weights", "int8_t*"), ("bias", "int32_t*"), ("multiplier", "int32_t*"), ("shift", "int32_t*"),
    ),
    "pm_pool_params_t": (
        ("input", "dims"), ("output", "dims"), ("filter_h", "i32"), ("filter_w", "i32"),
        ("stride_h", "i32"), ("stride_w", "i32"), ("pad_h", "i32"), ("pad_w", "i32"),
        ("act_min", "i32"), ("act_max", "i32"),
    ),
    "pm_mean_params_t": (
        ("input", "dims"), ("input_zero_point", "i32"), ("output_zero_point", "i32"),
        ("multiplier", "i32"), ("shift", "i32"), ("count", "i32"),
    ),
    "pm_add_params_t": tuple((n, "i32") for n in (
        "size", "input1_offset", "input2_offset", "output_offset", "left_shift", "input1_multiplier",
        "input1_shift", "input2_multiplier", "input2_shift", "output_multiplier", "output_shift",
        "act_min", "act_max")),
    "pm_softmax_params_t": tuple((n, "i32") for n in (
        "outer", "depth", "input_multiplier", "input_left_shift", "diff_min")),
    "pm_pad_params_t": (("input", "dims"), ("before", "dims"), ("after", "dims"), ("pad_value", "i32")),
    "pm_concat_params_t": (("num_inputs", "i32"), ("outer", "i32"), ("copy_bytes", "int32_t*")),
    "pm_requant_params_t": tuple((n, "i32") for n in (
        "size", "input_zero_point", "output_zero_point", "multiplier", "shift", "out_min", "out_max",
        "input_unsigned", "output_unsigned")),
    "pm_embedding_params_t": (("pixels", "i32"), ("channels", "i32"), ("embed_dim", "i32"), ("shared", "i32"),
                              ("table", "int8_t*")),
    "pm_conv_add_params_t": (("conv", "struct:pm_conv_params_t"), ("add", "struct:pm_add_params_t"),
                             ("conv_is_input1", "i32")),
    "pm_conv_packed_params_t": (
        ("input", "dims"), ("filter", "dims"), ("output", "dims"),
        ("stride_h", "i32"), ("stride_w", "i32"), ("pad_h", "i32"), ("pad_w", "i32"),
        ("input_offset", "i32"), ("output_offset", "i32"), ("act_min", "i32"), ("act_max", "i32"),
        ("short_requant", "i32"), ("weights", "int32_t*"), ("bias", "int32_t*"), ("requant", "int32_t*"),
    ),
    "pm_conv_packed_add_params_t": (
        ("conv", "struct:pm_conv_packed_params_t"), ("short_requant", "i32"), ("output_offset", "i32"),
        ("act_min", "i32"), ("act_max", "i32"), ("conv_table", "int32_t*"), ("residual_table", "int32_t*"),
        ("requant", "int32_t*"),
    ),
}

STRUCT_FIELDS["pm_dw_params_t"] = (
    ("input", "dims"), ("filter", "dims"), ("output", "dims"), ("stride_h", "i32"), ("stride_w", "i32"),
    ("dilation_h", "i32"), ("dilation_w", "i32"), ("pad_h", "i32"), ("pad_w", "i32"),
    *STRUCT_FIELDS["pm_conv_packed_params_t"][7:12], ("weights", "int16_t*"), ("bias", "int32_t*"),
    ("requant", "int32_t*"))
STRUCT_FIELDS["pm_conv_mve_params_t"] = (
    *STRUCT_FIELDS["pm_conv_packed_params_t"][:11], ("right_only", "i32"), ("weights", "int8_t*"),
    ("requant", "int32_t*"))
STRUCT_FIELDS["pm_dw_mve_params_t"] = (
    *STRUCT_FIELDS["pm_dw_params_t"][:13], ("weights", "int8_t*"), ("bias", "int32_t*"), ("requant", "int32_t*"))
STRUCT_FIELDS["pm_conv_mve_add_params_t"] = (
    ("conv", "struct:pm_conv_mve_params_t"), *STRUCT_FIELDS["pm_conv_packed_add_params_t"][1:])

# Convolutions that fuse with a residual ADD: kernel -> (fused kernel, fused struct).
FUSABLE = {"pm_conv2d_packed_s8": ("pm_conv2d_packed_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed_1x1_s8": ("pm_conv2d_packed_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed8_s8": ("pm_conv2d_packed8_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed8_1x1_s8": ("pm_conv2d_packed8_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed4_s8": ("pm_conv2d_packed4_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed4_1x1_s8": ("pm_conv2d_packed4_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed2_s8": ("pm_conv2d_packed2_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_packed2_1x1_s8": ("pm_conv2d_packed2_add_s8", "pm_conv_packed_add_params_t"),
           "pm_conv2d_mve_s8": ("pm_conv2d_mve_add_s8", "pm_conv_mve_add_params_t")}


def stored_weight_bits(kernel: str | None) -> int | None:
    """Bits per weight as `kernel` stores them in flash: 16 for the pre-widened packed kernels, 4 for
    the int4 ones, 2 for the 2-bit ones, 8 for the other weighted kernels (None for kernels without weights)."""
    if not kernel or not any(k in kernel for k in ("conv", "fully_connected")):
        return None
    if kernel.startswith("pm_conv2d_packed2"):
        return 2
    if kernel.startswith("pm_conv2d_packed4"):
        return 4
    if kernel.startswith("pm_conv2d_packed_"):
        return 16
    return 8


@dataclass
class KernelCall:
    """One layer's kernel: its C function, struct type and field values.

    Field values are ints, 4-tuples (pm_dims_t), dicts (nested structs), None (NULL) or the key of
    an entry in `arrays` (a pointer to a const array the generator emits). `inputs` are the tensors
    the kernel reads, in argument order; `output` the tensor it writes. A kernel of None runs no
    code: a view (RESHAPE), or a layer computed by layer `done_by` (fusion).
    """

    kernel: str | None
    struct: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    output: str = ""
    # Inputs the output may overwrite when they die at this layer (element-wise kernels).
    in_place: tuple[str, ...] = ()
    scratch_bytes: int = 0  # arena bytes the kernel borrows for its own call (passed before the output)
    hides: str | None = None  # a tensor this fused kernel never writes to memory
    done_by: int | None = None  # this layer's output is produced by that (fused) layer
    # C function called instead of `kernel` (first-layer adapters: `status = adapter(&params, in, scratch, out)`).
    adapter: str | None = None
    # Variable (state) tensors the kernel updates in place, passed after the inputs; they live in static
    # buffers outside the arena, kept across inferences (see the generated NAME_reset_state).
    state: tuple[str, ...] = ()

    @property
    def is_view(self) -> bool:
        return self.kernel is None and self.done_by is None


def _dims(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) > 4:
        raise ValueError(f"rank {len(shape)} > 4")
    return (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)


def _i32(a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.int64)
    if arr.size and (arr.min() < quant.INT32_MIN or arr.max() > quant.INT32_MAX):
        raise ValueError("constant outside int32")
    return arr.astype(np.int32)


def _unsupported(op: Operator, msg: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"layer '{op.name}' ({op.kind}): {msg}")


# Windows up to this many bytes (input channels not a multiple of 4) take the im2col-patch kernel.
PATCH_MAX_BYTES = 64


def int4_eligible(graph: Graph, op: Operator, bits: int = 4) -> bool:
    """Whether `op`'s weights can take the int4 kernels (pm_conv2d_packed4_*; bits 2: the 2-bit ones,
    pm_conv2d_packed2_*): a conv2d with input channels a multiple of 4, or a fully connected layer of
    depth a multiple of 4, whose weights all fit the bits (from the data: a W4 .pmz stores them as int8
    values in [-8, 7]) with room for the kernels' x16 (x64) sums."""
    if op.kind not in ("conv2d", "fully_connected") or len(op.inputs) < 2:
        return False
    w = graph.tensors[op.inputs[1]]
    x = graph.tensors[op.inputs[0]]
    if w.data is None or w.dtype != "int8" or x.dtype != "int8":
        return False
    depth = w.shape[-1]
    if depth % packing.GROUP or (op.kind == "conv2d" and tuple(op.attrs.get("dilation", (1, 1))) != (1, 1)):
        return False
    zp = x.quant.zero_point[0] if x.quant is not None and x.quant.zero_point else 0
    data = np.asarray(w.data).reshape(w.shape[0], 1, 1, -1)
    return packing.fits_lowbit(data, -int(zp), bits)


def int2_eligible(graph: Graph, op: Operator) -> bool:
    """Whether `op`'s weights can take the 2-bit kernels (pm_conv2d_packed2_*): every weight in [-2, 1]."""
    return int4_eligible(graph, op, 2)


def _lowbit(int4_weights: bool, int2_weights: bool) -> tuple[str, Any] | None:
    """The kernel infix and packing function of the low-bit weight layout asked for (None: neither)."""
    if int2_weights:
        return "packed2", packing.pack_weights2
    if int4_weights:
        return "packed4", packing.pack_weights4
    return None


def _packed_conv(graph: Graph, op: Operator, p: dict, int8_weights: bool = False,
                 int4_weights: bool = False, int2_weights: bool = False) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    w = graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    bias = p["bias"] if len(op.inputs) > 2 else None
    consts = packing.conv_constants(w.data, bias, p["multiplier"], p["shift"], p["input_offset"],
                                    constant_channels=True)
    fields = {
        "input": _dims(x.shape), "filter": _dims(w.shape), "output": _dims(out.shape),
        "stride_h": p["stride"][0], "stride_w": p["stride"][1], "pad_h": p["pad"][0], "pad_w": p["pad"][1],
        "input_offset": p["input_offset"], "output_offset": p["output_offset"],
        "act_min": p["act_min"], "act_max": p["act_max"], "short_requant": consts["short_requant"],
        "weights": "weights", "bias": "bias", "requant": "requant",
    }
    arrays = {"weights": packing.pack_weights(w.data), "bias": consts["bias"], "requant": consts["requant"]}
    cin = fields["input"][3]
    kh, kw = fields["filter"][1], fields["filter"][2]
    if cin % packing.GROUP == 0 and kh == kw == 1 and p["pad"] == (0, 0):
        # Pointwise: each pixel widened once (scratch), all output channels in one assembly call.
        kernel = "pm_conv2d_packed8_1x1_s8" if int8_weights else "pm_conv2d_packed_1x1_s8"
        low = _lowbit(int4_weights, int2_weights)
        if low:
            kernel, arrays["weights"] = f"pm_conv2d_{low[0]}_1x1_s8", low[1](w.data)
        elif int8_weights:
            arrays["weights"] = packing.pack_weights8(w.data)
        scratch = packing.pointwise_scratch(cin, fields["output"][3])
        return KernelCall(kernel, "pm_conv_packed_params_t", fields, arrays, (op.inputs[0],), scratch_bytes=scratch)
    low = _lowbit(int4_weights, int2_weights)
    if cin % packing.GROUP == 0 and low:
        arrays["weights"] = low[1](w.data)
        return KernelCall(f"pm_conv2d_{low[0]}_s8", "pm_conv_packed_params_t", fields, arrays, (op.inputs[0],))
    if cin % packing.GROUP == 0 and int8_weights:
        arrays["weights"] = packing.pack_weights8(w.data)
        return KernelCall("pm_conv2d_packed8_s8", "pm_conv_packed_params_t", fields, arrays, (op.inputs[0],))
    if cin % packing.GROUP == 0:
        return KernelCall("pm_conv2d_packed_s8", "pm_conv_packed_params_t", fields, arrays, (op.inputs[0],))
    window = kh * kw * cin
    if window <= PATCH_MAX_BYTES:
        # Few channels: one contiguous patch per window (im2col of one output row) beats per-row runs.
        arrays["weights"] = packing.pack_weights(np.asarray(w.data).reshape(w.shape[0], 1, 1, window))
        scratch = fields["output"][2] * (-(-window // packing.GROUP) * packing.GROUP)
        return KernelCall("pm_conv2d_packed_patch_s8", "pm_conv_packed_params_t", fields, arrays, (op.inputs[0],),
                          scratch_bytes=scratch)
    n, h, wd, _ = fields["input"]
    scratch = n * h * wd * (-(-cin // packing.GROUP) * packing.GROUP)
    return KernelCall("pm_conv2d_packed_pad_s8", "pm_conv_packed_params_t", fields, arrays, (op.inputs[0],),
                      scratch_bytes=scratch)


def _mve_call(x_dims, out_dims, wdata: np.ndarray, bias, p: dict, stride=(1, 1), pad=(0, 0)) -> KernelCall:
    """pm_conv2d_mve_s8 on an OHWI int8 filter (also a fully connected layer as a 1x1 convolution)."""
    consts = packing.mve_constants(wdata, bias, p["multiplier"], p["shift"], p["input_offset"])
    fields = {
        "input": x_dims, "filter": _dims(wdata.shape), "output": out_dims,
        "stride_h": stride[0], "stride_w": stride[1], "pad_h": pad[0], "pad_w": pad[1],
        "input_offset": p["input_offset"], "output_offset": p["output_offset"],
        "act_min": p["act_min"], "act_max": p["act_max"], "right_only": packing.mve_right_only(consts["requant"]),
        "weights": "weights", "requant": "requant",
    }
    window = int(np.prod(wdata.shape[1:]))
    return KernelCall("pm_conv2d_mve_s8", "pm_conv_mve_params_t", fields, consts, scratch_bytes=-(-window // 4) * 4)


def _mve_conv(graph: Graph, op: Operator, p: dict) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    w = graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    bias = p["bias"] if len(op.inputs) > 2 else None
    call = _mve_call(_dims(x.shape), _dims(out.shape), np.asarray(w.data, np.int8), bias, p, p["stride"], p["pad"])
    call.inputs = (op.inputs[0],)
    return call


def _mve_dw(graph: Graph, op: Operator, p: dict) -> KernelCall:
    """pm_depthwise_conv2d_mve_s8: the filter as [group of 8 channels][ky][kx][8]; per group two
    requantization records as the Helium convolutions' (one 1 x kh x kw filter per channel), the even
    channels' then the odd ones'; raw minus folded bias for cut windows in the same lane order."""
    x = graph.tensors[op.inputs[0]]
    w = graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    _, kh, kw, c = w.shape
    cp = -(-c // 8) * 8
    padded = np.zeros((kh, kw, cp), np.int8)
    padded[:, :, :c] = np.asarray(w.data, np.int8)[0]
    wdata = np.ascontiguousarray(padded.reshape(kh, kw, cp // 8, 8).transpose(2, 0, 1, 3)).reshape(-1)
    bias = p["bias"] if len(op.inputs) > 2 else None
    per_channel = np.asarray(w.data, np.int8)[0].transpose(2, 0, 1)[..., None]  # {C, kh, kw, 1}
    # Channel order even then odd within each group of eight: lane j of record 0 is channel 2j, of record 1 2j+1.
    order = np.arange(cp).reshape(-1, 4, 2).transpose(0, 2, 1).reshape(-1)
    mult = np.broadcast_to(np.asarray(p["multiplier"], np.int64), (c,))
    shift = np.broadcast_to(np.asarray(p["shift"], np.int64), (c,))
    full = np.zeros((cp, kh, kw, 1), np.int8)
    full[:c] = per_channel
    raw = np.zeros(cp, np.int64)
    if bias is not None:
        raw[:c] = np.asarray(bias, np.int64)
    pad = np.zeros(cp - c, np.int64)
    consts = packing.mve_constants(full[order], raw[order], np.concatenate([mult, pad])[order],
                                   np.concatenate([shift, pad])[order], p["input_offset"])
    folded = consts["requant"].reshape(-1, 4, 4)[:, 0, :].reshape(-1).astype(np.int64)
    fields = {
        "input": _dims(x.shape), "filter": _dims(w.shape), "output": _dims(out.shape),
        "stride_h": p["stride"][0], "stride_w": p["stride"][1],
        "dilation_h": p["dilation"][0], "dilation_w": p["dilation"][1], "pad_h": p["pad"][0], "pad_w": p["pad"][1],
        "input_offset": p["input_offset"], "output_offset": p["output_offset"],
        "act_min": p["act_min"], "act_max": p["act_max"], "weights": "weights", "bias": "bias", "requant": "requant",
    }
    arrays = {"weights": wdata, "bias": quant.wrap32(raw[order] - folded).astype(np.int32), "requant": consts["requant"]}
    return KernelCall("pm_depthwise_conv2d_mve_s8", "pm_dw_mve_params_t", fields, arrays, (op.inputs[0],))


def _dw_simd(graph: Graph, op: Operator, p: dict) -> KernelCall:
    """pm_depthwise_conv2d_dsp_s8: the filter widened to int16 as groups of four channels,
    [group][ky][kx][4] in the lane order 0, 2, 1, 3 of SXTB16 (zero channels pad the last group); bias
    and requantization records as the packed convolutions'."""
    x = graph.tensors[op.inputs[0]]
    w = graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    _, kh, kw, c = w.shape
    cp = -(-c // packing.GROUP) * packing.GROUP
    padded = np.zeros((kh, kw, cp), np.int8)
    padded[:, :, :c] = np.asarray(w.data, np.int8)[0]
    wdata = np.ascontiguousarray(padded.reshape(kh, kw, cp // 4, 4).transpose(2, 0, 1, 3)[..., [0, 2, 1, 3]],
                                 dtype=np.int16)
    bias = p["bias"] if len(op.inputs) > 2 else None
    per_channel = np.asarray(w.data, np.int8)[0].transpose(2, 0, 1)[..., None]  # {C, kh, kw, 1}
    consts = packing.conv_constants(per_channel, bias, p["multiplier"], p["shift"], p["input_offset"],
                                    constant_channels=True)
    fields = {
        "input": _dims(x.shape), "filter": _dims(w.shape), "output": _dims(out.shape),
        "stride_h": p["stride"][0], "stride_w": p["stride"][1],
        "dilation_h": p["dilation"][0], "dilation_w": p["dilation"][1], "pad_h": p["pad"][0], "pad_w": p["pad"][1],
        "input_offset": p["input_offset"], "output_offset": p["output_offset"],
        "act_min": p["act_min"], "act_max": p["act_max"], "short_requant": consts["short_requant"],
        "weights": "weights", "bias": "bias", "requant": "requant",
    }
    bias = consts["bias"]
    if consts["short_requant"]:  # the short path's doubling done here (|accumulator| < 2^30 proved)
        wdata, bias = wdata * 2, (bias.astype(np.int64) * 2).astype(np.int32)
    arrays = {"weights": wdata, "bias": bias, "requant": consts["requant"]}
    return KernelCall("pm_depthwise_conv2d_dsp_s8", "pm_dw_params_t", fields, arrays, (op.inputs[0],))


def _conv(graph: Graph, op: Operator, p: dict, dsp: bool, packed: bool = False, mve: bool = False,
          int8_weights: bool = False, int4_weights: bool = False, int2_weights: bool = False) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    w = graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    kh, kw = w.shape[1], w.shape[2]
    offset = p["input_offset"]
    if not -255 <= offset <= 255:
        raise _unsupported(op, f"input offset {offset} does not fit the kernels' int16 lanes")
    if op.kind == "conv2d" and mve and tuple(p["dilation"]) == (1, 1):
        return _mve_conv(graph, op, p)
    if op.kind == "conv2d" and packed and tuple(p["dilation"]) == (1, 1) and \
            not (int8_weights and x.shape[-1] % packing.GROUP):
        if int4_weights and not int4_eligible(graph, op):
            raise ValueError("int4 weights asked for a layer whose weights do not fit int4")
        if int2_weights and not int2_eligible(graph, op):
            raise ValueError("2-bit weights asked for a layer whose weights do not fit int2")
        return _packed_conv(graph, op, p, int8_weights, int4_weights, int2_weights)
    if op.kind == "depthwise_conv2d" and mve and int(op.attrs["depth_multiplier"]) == 1:
        return _mve_dw(graph, op, p)
    if op.kind == "depthwise_conv2d" and dsp and int(op.attrs["depth_multiplier"]) == 1:
        return _dw_simd(graph, op, p)
    if op.kind == "conv2d":
        mult = 1
        if kh == kw == 1 and p["pad"] == (0, 0):
            kernel = "pm_conv2d_1x1_s8"
        else:
            kernel = "pm_conv2d_dsp_s8" if dsp else "pm_conv2d_s8"
    else:
        mult = int(op.attrs["depth_multiplier"])
        if kh == kw == 3 and tuple(p["dilation"]) == (1, 1) and mult == 1:
            kernel = "pm_depthwise_conv2d_3x3_s8"
        else:
            kernel = "pm_depthwise_conv2d_s8"
    has_bias = len(op.inputs) > 2
    fields = {
        "input": _dims(x.shape), "filter": _dims(w.shape), "output": _dims(out.shape),
        "stride_h": p["stride"][0], "stride_w": p["stride"][1],
        "dilation_h": p["dilation"][0], "dilation_w": p["dilation"][1],
        "pad_h": p["pad"][0], "pad_w": p["pad"][1], "depth_multiplier": mult,
        "input_offset": offset, "output_offset": p["output_offset"],
        "act_min": p["act_min"], "act_max": p["act_max"],
        "weights": "weights", "bias": "bias" if has_bias else None,
        "multiplier": "multiplier", "shift": "shift",
    }
    arrays = {"weights": np.asarray(w.data, np.int8), "multiplier": _i32(p["multiplier"]), "shift": _i32(p["shift"])}
    if has_bias:
        arrays["bias"] = _i32(p["bias"])
    return KernelCall(kernel, "pm_conv_params_t", fields, arrays, (op.inputs[0],))


def _fc(graph: Graph, op: Operator, p: dict, dsp: bool, int4_weights: bool = False, mve: bool = False,
        int2_weights: bool = False) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    w = graph.tensors[op.inputs[1]]
    units, depth = w.shape
    has_bias = len(op.inputs) > 2
    fields = {
        "batches": x.size // depth, "depth": depth, "units": units,
        "input_offset": p["input_offset"], "output_offset": p["output_offset"],
        "act_min": p["act_min"], "act_max": p["act_max"],
        "weights": "weights", "bias": "bias" if has_bias else None,
        "multiplier": "multiplier", "shift": "shift",
    }
    arrays = {"weights": np.asarray(w.data, np.int8), "multiplier": _i32(p["multiplier"]), "shift": _i32(p["shift"])}
    if has_bias:
        arrays["bias"] = _i32(p["bias"])
    if mve:  # batch rows as the pixels of a 1x1 convolution
        call = _mve_call((1, fields["batches"], 1, depth), (1, fields["batches"], 1, units),
                         np.asarray(w.data, np.int8).reshape(units, 1, 1, depth), p["bias"] if has_bias else None, p)
        call.inputs = (op.inputs[0],)
        return call
    if dsp and -255 <= p["input_offset"] <= 255:
        # As a 1x1 convolution over a column of `batches` pixels: four units share each widened input
        # word. Depths that are a multiple of 4 take the packed int8 kernel (assembly inner loop),
        # others the int8 SMLAD convolution.
        conv = {"input": (1, fields["batches"], 1, depth), "filter": (units, 1, 1, depth),
                "output": (1, fields["batches"], 1, units), "stride_h": 1, "stride_w": 1, "dilation_h": 1,
                "dilation_w": 1, "pad_h": 0, "pad_w": 0, "depth_multiplier": 1,
                **{k: fields[k] for k in ("input_offset", "output_offset", "act_min", "act_max", "weights", "bias",
                                          "multiplier", "shift")}}
        if depth % packing.GROUP == 0:
            wdata = np.asarray(w.data, np.int8).reshape(units, 1, 1, depth)
            consts = packing.conv_constants(wdata, p["bias"] if has_bias else None, p["multiplier"], p["shift"],
                                            p["input_offset"], constant_channels=True)
            packed = {k: conv[k] for k in ("input", "filter", "output", "stride_h", "stride_w", "pad_h", "pad_w",
                                           "input_offset", "output_offset", "act_min", "act_max")}
            packed.update(short_requant=consts["short_requant"], weights="weights", bias="bias", requant="requant")
            if int4_weights and not int4_eligible(graph, op):
                raise ValueError("int4 weights asked for a layer whose weights do not fit int4")
            if int2_weights and not int2_eligible(graph, op):
                raise ValueError("2-bit weights asked for a layer whose weights do not fit int2")
            low = _lowbit(int4_weights, int2_weights) or ("packed8", packing.pack_weights8)
            kernel, wpacked = f"pm_conv2d_{low[0]}_1x1_s8", low[1](wdata)
            return KernelCall(kernel, "pm_conv_packed_params_t", packed,
                              {"weights": wpacked, "bias": consts["bias"],
                               "requant": consts["requant"]}, (op.inputs[0],),
                              scratch_bytes=packing.pointwise_scratch(depth, units))
        return KernelCall("pm_conv2d_dsp_s8", "pm_conv_params_t", conv, arrays, (op.inputs[0],))
    return KernelCall("pm_fully_connected_s8", "pm_fc_params_t", fields, arrays, (op.inputs[0],))


def _pool(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    fh, fw = p["filter"]
    sh, sw = p["stride"]
    ph, pw = p["pad"]
    if ph >= fh or pw >= fw:
        raise _unsupported(op, "a pooling window lies wholly in the padding")
    fields = {
        "input": _dims(x.shape), "output": _dims(out.shape), "filter_h": fh, "filter_w": fw,
        "stride_h": sh, "stride_w": sw, "pad_h": ph, "pad_w": pw,
        "act_min": p["act_min"], "act_max": p["act_max"],
    }
    kernel = "pm_avg_pool2d_s8" if op.kind == "avg_pool2d" else "pm_max_pool2d_s8"
    return KernelCall(kernel, "pm_pool_params_t", fields, {}, (op.inputs[0],))


def _mean(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    fields = {"input": _dims(x.shape), "input_zero_point": p["input_zero_point"],
              "output_zero_point": p["output_zero_point"], "multiplier": p["multiplier"],
              "shift": p["shift"], "count": p["count"]}
    return KernelCall("pm_mean_s8", "pm_mean_params_t", fields, {}, (op.inputs[0],))


def _add(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    out = graph.tensors[op.outputs[0]]
    names = [n for n, _ in STRUCT_FIELDS["pm_add_params_t"] if n != "size"]
    fields = {"size": out.size, **{n: p[n] for n in names}}
    return KernelCall("pm_add_s8", "pm_add_params_t", fields, {}, (op.inputs[0], op.inputs[1]),
                      in_place=(op.inputs[0], op.inputs[1]))


def _softmax(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    if not 0 <= p["input_left_shift"] <= 31:
        raise _unsupported(op, f"input left shift {p['input_left_shift']} is out of range (beta * scale too large)")
    if p["depth"] >= 4096:
        # The Q12 sum of exponentials can reach 2^31 and the final shift would exceed 31 bits.
        raise _unsupported(op, f"softmax over {p['depth']} values (at most 4095 are supported)")
    fields = {"outer": x.size // p["depth"], "depth": p["depth"], "input_multiplier": p["input_multiplier"],
              "input_left_shift": p["input_left_shift"], "diff_min": p["diff_min"]}
    return KernelCall("pm_softmax_s8", "pm_softmax_params_t", fields, {}, (op.inputs[0],))


def _pad(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    if len(x.shape) > 4:
        raise _unsupported(op, f"padding a rank-{len(x.shape)} tensor (at most 4 is supported)")
    pads = p["paddings"]
    lead = (0,) * (4 - len(x.shape))  # the leading dims _dims adds are unpadded
    fields = {"input": _dims(x.shape), "before": lead + tuple(int(a) for a, _ in pads),
              "after": lead + tuple(int(b) for _, b in pads), "pad_value": p["pad_value"]}
    return KernelCall("pm_pad_s8", "pm_pad_params_t", fields, {}, (op.inputs[0],))


def _concat(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    axis = p["axis"]
    out = graph.tensors[op.outputs[0]]
    ins = [graph.tensors[n] for n in op.inputs]
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    copy = _i32([t.shape[axis] * inner for t in ins])
    fields = {"num_inputs": len(ins), "outer": outer, "copy_bytes": "copy_bytes"}
    return KernelCall("pm_concatenation_s8", "pm_concat_params_t", fields, {"copy_bytes": copy}, tuple(op.inputs))


def _quantize(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    x = graph.tensors[op.inputs[0]]
    out = graph.tensors[op.outputs[0]]
    fields = {"size": x.size, "input_zero_point": p["input_zero_point"], "output_zero_point": p["output_zero_point"],
              "multiplier": p["multiplier"], "shift": p["shift"], "out_min": p["out_min"], "out_max": p["out_max"],
              "input_unsigned": int(x.dtype == "uint8"), "output_unsigned": int(out.dtype == "uint8")}
    return KernelCall("pm_requantize_s8", "pm_requant_params_t", fields, {}, (op.inputs[0],), in_place=(op.inputs[0],))


def _pixel_embedding(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    # The kernel and its struct live in pm_embedding.h (issue 5's first-layer work).
    x = graph.tensors[op.inputs[0]]
    table = graph.tensors[op.inputs[1]]
    fields = {"pixels": x.size // p["channels"], "channels": p["channels"], "embed_dim": p["embed_dim"],
              "shared": int(bool(p["shared"])), "table": "table"}
    return KernelCall("pm_pixel_embedding_u8", "pm_embedding_params_t", fields,
                      {"table": np.asarray(table.data, np.int8)}, (op.inputs[0],))


def _reshape(graph: Graph, op: Operator, p: dict, dsp: bool) -> KernelCall:
    return KernelCall(None, None, {}, {}, (op.inputs[0],))


_BUILD = {
    "conv2d": _conv, "depthwise_conv2d": _conv, "fully_connected": _fc, "avg_pool2d": _pool,
    "max_pool2d": _pool, "mean": _mean, "add": _add, "softmax": _softmax, "pad": _pad,
    "concatenation": _concat, "quantize": _quantize, "reshape": _reshape,
    "pixel_embedding": _pixel_embedding,
}


def kernel_call(graph: Graph, op: Operator, dsp: bool = False, packed: bool = False, mve: bool = False,
                int8_weights: bool = False, int4_weights: bool = False, int2_weights: bool = False) -> KernelCall:
    """The kernel and parameters of `op`; raises UnsupportedOperatorError naming the layer.

    dsp: the SMLAD variants of the int8-weight kernels; packed: convolutions on generator-packed
    int16 weights (pm_conv2d_packed_*), which the DSP cores run fastest; with int8_weights the packed
    int8 layout instead (pm_conv2d_packed8_*, half the flash; input channels not a multiple of 4 then
    take the int8 SMLAD kernel); int4_weights: the int4 layout, two weights per byte (pm_conv2d_packed4_*;
    conv2d with packed, fully_connected with dsp; only where `int4_eligible`); int2_weights: the same with
    2-bit weights, four per byte (pm_conv2d_packed2_*; only where `int2_eligible`); mve: convolutions and fully connected layers with Helium dot products (pm_conv2d_mve_*), for the M55."""
    build = _BUILD.get(op.kind)
    if build is None:
        raise _unsupported(op, "the code generator has no kernel for this operator")
    for name in op.inputs + op.outputs:
        t = graph.tensors[name]
        if t.dtype not in ("int8", "uint8", "int16", "int32", "int64") or (t.dtype in ("int32", "int64") and not t.is_constant):
            raise _unsupported(op, f"tensor '{name}' has dtype {t.dtype}; generated code runs int8/uint8/int16 only")
    try:
        if kernels_ops.is_16x8(graph, op):
            call = kernels_ops.build_16x8(graph, op, lower(graph, op))
        elif op.kind in ("conv2d", "depthwise_conv2d"):
            call = _conv(graph, op, lower(graph, op), dsp, packed, mve, int8_weights, int4_weights, int2_weights)
        elif op.kind == "fully_connected":
            call = _fc(graph, op, lower(graph, op), dsp or mve, int4_weights, mve, int2_weights)
        else:
            call = build(graph, op, lower(graph, op), dsp)
    except ValueError as exc:
        raise _unsupported(op, str(exc)) from None
    call.output = op.outputs[0]
    for key, val in call.fields.items():
        if isinstance(val, (int, np.integer)) and not quant.INT32_MIN <= int(val) <= quant.INT32_MAX:
            raise _unsupported(op, f"parameter {key}={val} does not fit int32")
    return call


def _mve_add_scratch(conv: KernelCall) -> int:
    """pm_conv2d_mve_add_s8's scratch: the convolution's window, then one pixel's outputs (0: other kernels)."""
    if conv.struct != "pm_conv_mve_params_t":
        return 0
    return conv.scratch_bytes + -(-conv.fields["output"][3] // 4) * 4


def fuse_residual_adds(graph: Graph, calls: list[KernelCall]) -> list[KernelCall]:
    """Fold each ADD into the convolution that produces one of its inputs, where that is safe.

    Safe when the convolution's output is read by the ADD alone (and is no graph output), and the
    other input (the residual) is an activation computed before the convolution, not sharing bytes
    with the convolution's input. The fused kernel writes the sum where the planner puts it (over the
    residual when nothing reads it later). The convolution's own output is never materialized, so its
    per-layer hook reports 0 bytes.
    """
    calls = list(calls)
    producer = {op.outputs[0]: i for i, op in enumerate(graph.operators)}
    readers: dict[str, list[int]] = {}
    root: dict[str, str] = {}
    for i, op in enumerate(graph.operators):
        for n in op.inputs:
            readers.setdefault(n, []).append(i)
        if op.kind == "reshape":
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])
    for j, op in enumerate(graph.operators):
        if op.kind != "add" or calls[j].kernel != "pm_add_s8":
            continue
        for k in (0, 1):
            x, y = op.inputs[k], op.inputs[1 - k]
            i = producer.get(x)
            if i is None or graph.operators[i].kind != "conv2d" or \
                    (calls[i].struct != "pm_conv_params_t" and calls[i].kernel not in FUSABLE):
                continue
            conv_in = graph.operators[i].inputs[0]
            if x == y or x in graph.outputs or readers.get(x) != [j]:
                continue
            if graph.tensors[y].is_constant or producer.get(y, -1) >= i:
                continue
            if root.get(y, y) == root.get(conv_in, conv_in):
                continue
            conv, add = calls[i], calls[j]
            if conv.kernel in FUSABLE:
                tables = packing.add_tables(add.fields, conv_is_input1=(k == 0))
                fields = {"conv": conv.fields, "short_requant": tables["short_requant"],
                          "output_offset": add.fields["output_offset"], "act_min": add.fields["act_min"],
                          "act_max": add.fields["act_max"], "conv_table": "conv_table",
                          "residual_table": "residual_table", "requant": "add_requant"}
                arrays = {**conv.arrays, "conv_table": tables["conv_table"],
                          "residual_table": tables["residual_table"], "add_requant": tables["requant"]}
                calls[i] = KernelCall(*FUSABLE[conv.kernel], fields, arrays,
                                      (conv_in, y), output=op.outputs[0], in_place=(y,), hides=x,
                                      scratch_bytes=_mve_add_scratch(conv))
                calls[j] = KernelCall(None, None, inputs=(), output=op.outputs[0], done_by=i)
                break
            calls[i] = KernelCall(
                "pm_conv2d_add_s8", "pm_conv_add_params_t",
                {"conv": conv.fields, "add": add.fields, "conv_is_input1": int(k == 0)},
                dict(conv.arrays), (conv_in, y), output=op.outputs[0], in_place=(y,), hides=x)
            calls[j] = KernelCall(None, None, inputs=(), output=op.outputs[0], done_by=i)
            break
    return calls


# Operators added for issue 11 keep their kernel mapping in their own module.
from pixmcu.codegen import kernels_ops  # noqa: E402

STRUCT_FIELDS.update(kernels_ops.STRUCT_FIELDS)
_BUILD.update(kernels_ops.BUILD)
