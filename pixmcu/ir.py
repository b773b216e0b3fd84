"""The integer graph every frontend produces and every backend consumes.

Tensors are NHWC. A graph is a topologically ordered tuple of operators over named tensors; constants
carry their data. Everything is frozen and validated on construction, so a Graph that exists is one
the reference, the planner and the code generator can trust.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from pixmcu.errors import PixmcuError

DTYPES = ("int8", "uint8", "int16", "int32", "int64", "float32")

# Operator kinds in the IR, with the attributes each must carry.
OP_ATTRS: dict[str, tuple[str, ...]] = {
    "conv2d": ("stride", "dilation", "padding", "activation"),
    "depthwise_conv2d": ("stride", "dilation", "padding", "activation", "depth_multiplier"),
    "fully_connected": ("activation",),
    "add": ("activation",),
    "avg_pool2d": ("filter", "stride", "padding", "activation"),
    "max_pool2d": ("filter", "stride", "padding", "activation"),
    "mean": ("axes", "keep_dims"),
    "reshape": (),
    "softmax": ("beta",),
    "pad": ("paddings",),
    "concatenation": ("axis", "activation"),
    "quantize": (),
    # Pixel embedding (issue 5): uint8 pixels [N,H,W,C] + const int8 table [T,256,d] (T = 1 shared
    # or C per channel) -> int8 [N,H,W,C*d], channel c*d+j = table[c or 0][pixel][j]. Optional attr
    # "bin_edges": per table, the first pixel value of bins 1..K-1 when the table came from K bins.
    "pixel_embedding": ("embed_dim",),
}
# Operators added for issue 11 (models users bring); their rules live in pixmcu/shapes_ops.py.
OP_ATTRS.update({
    "transpose": ("perm",),
    "logistic": (), "tanh": (), "hard_swish": (), "relu": (), "relu6": (), "leaky_relu": ("alpha",),
    "mul": ("activation",), "sub": ("activation",), "squared_difference": (), "maximum": (), "minimum": (),
    "prelu": (),
    # Elements input[begin + i * strides] for i < shape (per axis); the output tensor may drop axes of
    # size 1 (STRIDED_SLICE's shrink mask, UNPACK). SPLIT, SPLIT_V and UNPACK become one slice per output.
    "slice": ("begin", "strides", "shape"),
    "resize_nearest": ("align_corners", "half_pixel_centers"),
    "resize_bilinear": ("align_corners", "half_pixel_centers"),
    # TFLM's SVDF; its last input is a variable (state) tensor the operator updates in place.
    "svdf": ("rank",),
    # TFLM's integer LSTM (no peephole, projection or layer norm); inputs: x, 4 input and 4 recurrent
    # weights, 4 biases (gate order input, forget, cell, output), then the hidden and cell state tensors.
    "unidirectional_sequence_lstm": ("cell_clip",),
})
ACTIVATIONS = ("none", "relu", "relu6", "relu_n1_to_1")
PADDINGS = ("same", "valid")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class GraphError(PixmcuError):
    """A graph that violates the IR's invariants."""


def describe_values(bad: list[tuple[int, Any]], total: int, limit: int = 6) -> str:
    """The offending entries of a per-channel vector, as 'channel 3 = nan, channel 9 = -1 (2 of 16)'."""
    if total == 1:
        return repr(bad[0][1])
    shown = ", ".join(f"channel {i} = {v!r}" for i, v in bad[:limit])
    more = f", and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{shown}{more} ({len(bad)} of {total})"


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point); per channel along `axis` when given."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(float(s) for s in self.scale))
        object.__setattr__(self, "zero_point", tuple(int(z) for z in self.zero_point))
        if not self.scale:
            raise GraphError("quantization has no scale")
        if len(self.zero_point) not in (1, len(self.scale)):
            raise GraphError(f"quantization has {len(self.scale)} scales but {len(self.zero_point)} zero points")
        # Only finiteness is universal: which tensors may have zero or negative scales (TFLM runs negative
        # per-channel weight scales) is a per-role rule, checked in pixmcu.graph_checks.
        bad = [(i, s) for i, s in enumerate(self.scale) if not np.isfinite(s)]
        if bad:
            raise GraphError(f"quantization scales must be finite, got {describe_values(bad, len(self.scale))}")
        if len(self.scale) > 1 and self.axis is None:
            raise GraphError("per-channel quantization needs an axis")

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def scales(self, n: int) -> np.ndarray:
        """Scales as float32 (TFLite stores them as float32), broadcast to n channels."""
        s = np.asarray(self.scale, dtype=np.float32)
        return np.broadcast_to(s, (n,)).copy() if s.size == 1 else s

    def to_json(self) -> dict[str, Any]:
        return {"scale": list(self.scale), "zero_point": list(self.zero_point), "axis": self.axis}


@dataclass(frozen=True, eq=False)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    data: np.ndarray | None = field(default=None, repr=False)
    # A variable (state) tensor: zero at the start of a run, kept across consecutive inferences, updated in
    # place by the operator that reads it (TFLM's variable tensors across invoke() calls).
    variable: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if not self.name:
            raise GraphError("tensor without a name")
        if self.dtype not in DTYPES:
            raise GraphError(f"tensor '{self.name}': dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if any(d <= 0 for d in self.shape):
            raise GraphError(f"tensor '{self.name}': shape {self.shape} has a non-positive dimension")
        if self.quant is not None and self.quant.per_channel:
            axis = self.quant.axis
            if axis is None or not 0 <= axis < len(self.shape) or self.shape[axis] != len(self.quant.scale):
                raise GraphError(
                    f"tensor '{self.name}': {len(self.quant.scale)} per-channel scales do not match "
                    f"axis {axis} of shape {self.shape}"
                )
        if self.variable and self.data is not None:
            raise GraphError(f"tensor '{self.name}': a variable tensor cannot hold constant data")
        if self.data is not None:
            arr = np.array(self.data, dtype=self.dtype, copy=True)
            if arr.shape != self.shape:
                raise GraphError(f"tensor '{self.name}': data shape {arr.shape} differs from shape {self.shape}")
            arr.flags.writeable = False
            object.__setattr__(self, "data", arr)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # Python ints: an absurd shape reports its size instead of wrapping

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class Operator:
    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))
        if not _NAME_RE.match(self.name):
            raise GraphError(f"operator name {self.name!r} is not a valid identifier")
        if self.kind not in OP_ATTRS:
            raise GraphError(f"operator '{self.name}': unknown kind {self.kind!r}")
        missing = [a for a in OP_ATTRS[self.kind] if a not in self.attrs]
        if missing:
            raise GraphError(f"operator '{self.name}' ({self.kind}): missing attributes {missing}")
        act = self.attrs.get("activation")
        if act is not None and act not in ACTIVATIONS:
            raise GraphError(f"operator '{self.name}': activation {act!r} is not one of {ACTIVATIONS}")
        pad = self.attrs.get("padding")
        if pad is not None and pad not in PADDINGS:
            raise GraphError(f"operator '{self.name}': padding {pad!r} is not one of {PADDINGS}")
        if len(self.outputs) != 1:
            raise GraphError(f"operator '{self.name}': expected one output, got {len(self.outputs)}")


@dataclass(frozen=True, eq=False)
class Graph:
    tensors: Mapping[str, Tensor]
    operators: tuple[Operator, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str = "model"
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", MappingProxyType(dict(self.tensors)))
        object.__setattr__(self, "operators", tuple(self.operators))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        for key, t in self.tensors.items():
            if key != t.name:
                raise GraphError(f"tensor registered as '{key}' is named '{t.name}'")
        if not self.inputs or not self.outputs:
            raise GraphError("graph needs at least one input and one output")
        available = set()
        for name in self.inputs:
            self._tensor(name, "graph input")
            available.add(name)
        available.update(n for n, t in self.tensors.items() if t.is_constant or t.variable)
        seen_ops = set()
        produced: set[str] = set()
        from pixmcu.shapes import check_operator

        for op in self.operators:
            if op.name in seen_ops:
                raise GraphError(f"two operators are named '{op.name}'")
            seen_ops.add(op.name)
            for name in op.inputs:
                self._tensor(name, f"input of '{op.name}'")
                if name not in available:
                    raise GraphError(f"operator '{op.name}' reads '{name}' before it is computed")
            for name in op.outputs:
                t = self._tensor(name, f"output of '{op.name}'")
                if t.is_constant or t.variable or name in produced or name in self.inputs:
                    raise GraphError(f"tensor '{name}' is written more than once (by '{op.name}')")
                produced.add(name)
                available.add(name)
            check_operator(self, op)
        for name in self.outputs:
            if name not in available:
                raise GraphError(f"graph output '{name}' is never computed")

    def _tensor(self, name: str, role: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"{role}: tensor '{name}' does not exist") from None

    def tensor(self, name: str) -> Tensor:
        return self._tensor(name, "lookup")

    def input_tensor(self, index: int = 0) -> Tensor:
        return self.tensors[self.inputs[index]]

    def output_tensor(self, index: int = 0) -> Tensor:
        return self.tensors[self.outputs[index]]
