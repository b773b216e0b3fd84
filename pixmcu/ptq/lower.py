"""Calibrated float graph -> integer `pixmcu.ir.Graph`, by the rules TFLite's full-integer converter uses.

- Weights: symmetric int8, per output channel (per tensor with `per_tensor`), codes in [-127, 127].
- Biases: int32 with scale s_in * s_w, rounded half away from zero in float64.
- Activations: asymmetric int8 from the calibrated range, widened to hold 0, zero point nudged to
  an integer (real 0 is exact, so zero padding is exact).
- Max/average pooling, global pooling and flatten keep their input's quantization (TFLM requires
  it); a concatenation's inputs share its output's, requantized by a `quantize` op where they cannot.
- Padding that TFLite's SAME does not reproduce (PyTorch pads both sides, TFLite puts the odd pad
  after) becomes an explicit `pad` op (zero in real units) before a VALID convolution.
"""

from __future__ import annotations

import re

import numpy as np

from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.graph_builder import GraphBuilder
from pixmcu.ir import Graph, GraphError
from pixmcu.ptq.fgraph import FloatGraph, Node
from pixmcu.quant import INT32_MAX, INT32_MIN
from pixmcu.shapes import out_size, pad_before

REQUANTIZING = ("conv", "linear", "add", "clip", "unary")
# TFLite's fixed int8 output quantization of the saturating activations.
FIXED_OUT = {"sigmoid": (1.0 / 256, -128), "tanh": (1.0 / 128, 0)}
_UNARY_KIND = {"sigmoid": "logistic", "tanh": "tanh", "hardswish": "hard_swish", "leaky_relu": "leaky_relu"}
_AXIS_4D = {1: 3, 2: 1, 3: 2}  # NCHW axis -> NHWC axis


def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    """TFLite's asymmetric int8 parameters for a real range (always holding 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = float(np.float32(max((hi - lo) / 255.0, 1e-8)))
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zp


def input_qparams(pixel_scale: float, pixel_offset: float) -> tuple[float, int]:
    """The graph input's quantization for real = pixel * scale + offset: when 0 is in that range, int8
    = pixel - 128 + constant, so no two pixel values collide; else the range widened to hold 0."""
    ratio = pixel_offset / pixel_scale
    if pixel_scale > 0 and -255 <= round(ratio) <= 0:
        return float(np.float32(pixel_scale)), int(-128 - round(ratio))
    lo, hi = sorted((pixel_offset, pixel_offset + 255 * pixel_scale))
    return act_qparams(lo, hi)


def weight_scales(w: np.ndarray, axis: int, per_tensor: bool) -> np.ndarray:
    """Symmetric int8 scales (float32) along `axis`, or one for the whole tensor."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max() * np.ones(w.shape[axis]) if per_tensor else np.abs(w).max(axis=other)
    s = amax / 127.0
    return np.where(s > 0, s, 1.0).astype(np.float32)


def _round(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and not s[0].isdigit() else f"t_{s}"


def _conv_layout(w: np.ndarray, groups: int, cin: int, kind: str) -> np.ndarray:
    """PyTorch [O, I/groups, kh, kw] -> TFLite's OHWI (conv2d) or [1, kh, kw, O] (depthwise)."""
    if kind == "depthwise_conv2d":
        return w.transpose(1, 2, 3, 0)
    if groups != 1:
        # Grouped convolution as a dense one with a block-diagonal kernel: the same sums, more MACs.
        o, _, kh, kw = w.shape
        dense = np.zeros((o, cin, kh, kw), w.dtype)
        og, ig = o // groups, cin // groups
        for i in range(groups):
            dense[i * og:(i + 1) * og, i * ig:(i + 1) * ig] = w[i * og:(i + 1) * og]
        w = dense
    return w.transpose(0, 2, 3, 1)


class _Lowering(GraphBuilder):
    def __init__(self, fg: FloatGraph, ranges: dict[str, tuple[float, float]] | None, in_q: tuple[float, int] | None,
                 per_tensor: bool, qp: dict[str, tuple[float, int]] | None = None, stage=None):
        super().__init__()
        self.fg = fg
        self.ranges = ranges
        self.per_tensor = per_tensor
        self.stage = stage
        self.t: dict[str, str] = {}  # float node -> integer tensor
        self.perm: dict[str, np.ndarray] = {}  # integer tensor -> NCHW index of each NHWC-flattened entry
        self.bad: list[str] = []
        self.qp = qp if qp is not None else self._plan(in_q)

    def _plan(self, in_q) -> dict[str, tuple[float, int]]:
        """Output quantization of every requantizing node; concatenated tensors share one."""
        qp = {self.fg.input: in_q}
        for n in self.fg.nodes:
            if n.kind == "unary" and n.attrs["fn"] in FIXED_OUT:
                qp[n.name] = FIXED_OUT[n.attrs["fn"]]
            elif n.kind in REQUANTIZING or n.kind == "concat":
                qp[n.name] = act_qparams(*self.ranges[n.name])
        users = self.fg.consumers()
        for n in self.fg.nodes:
            if n.kind == "concat":
                for i in n.inputs:
                    src = self.fg.node(i)
                    # A standalone clamp keeps its own range: saturating at its ends is what clamps.
                    if src.kind in ("conv", "linear", "add") and len(users[i]) == 1 and i != self.fg.output:
                        qp[i] = qp[n.name]
        return qp

    def fail(self, n: Node, why: str) -> None:
        self.bad.append(f"{n.where or n.name}: {why}")

    def q(self, name: str) -> tuple[float, int]:
        return self.qparams(name)

    def out(self, n: Node, shape, like: str | None = None) -> str:
        scale, zp = self.q(like) if like is not None else self.qp[n.name]
        return self.tensor(_ident(n.name), shape, "int8", scale, zp)

    def lower(self, name: str, source: str) -> Graph:
        for n in self.fg.nodes:
            if n.kind == "input":
                c, h, w = self.fg.input_shape
                if self.stage is not None:  # a QAT input stage: pixel embedding, naive or int8 pixels
                    self.t[n.name] = self.stage_ops(self.stage, (1, h, w, c))
                else:
                    s, zp = self.qp[n.name]
                    self.t[n.name] = self.tensor("input", (1, h, w, c), "int8", s, zp)
                continue
            if any(i not in self.t for i in n.inputs):
                continue  # after a layer already refused
            getattr(self, f"_{n.kind}")(n, [self.t[i] for i in n.inputs])
        if self.bad:
            raise UnsupportedOperatorError(
                f"{self.fg.source}: {len(self.bad)} layer{'s' if len(self.bad) > 1 else ''} cannot be lowered to "
                f"pixmcu's integer operators: {'; '.join(self.bad)}.")
        out = self.t[self.fg.output]
        if out in self.perm:
            raise PixmcuError(f"{self.fg.source}: the model output is a flattened feature map; its NHWC order "
                              "would differ from PyTorch's NCHW order (end the model with a Linear layer)")
        try:
            return self.build(("input",), (out,), name, source)
        except GraphError as exc:
            raise PixmcuError(f"{self.fg.source}: {exc}") from None

    def _check_plain(self, n: Node, xs: list[str]) -> bool:
        for x in xs:
            if x in self.perm:
                self.fail(n, "its input is a flattened HxW>1 feature map, which only a Linear layer can take")
                return False
        return True

    # --- weights -------------------------------------------------------------------------------
    def weights(self, n: Node, w: np.ndarray, b: np.ndarray | None, axis: int, s_in: float,
                codes: np.ndarray | None = None):
        """int8 weights and int32 bias tensors; `codes` (with the node's "w_scales") come from QAT."""
        if codes is not None:
            s_w = np.asarray(n.attrs["w_scales"], np.float32)
        else:
            s_w = weight_scales(w, axis, self.per_tensor)
            shape = [1] * w.ndim
            shape[axis] = -1
            codes = np.clip(_round(w.astype(np.float64) / s_w.astype(np.float64).reshape(shape)), -127, 127)
        bias = np.zeros(len(s_w)) if b is None else np.asarray(b, np.float64)
        b_scale = np.float64(np.float32(s_in)) * s_w.astype(np.float64)
        bq = np.clip(_round(bias / b_scale), INT32_MIN, INT32_MAX)
        base = _ident(n.name)
        wname = self.tensor(f"{base}_w", w.shape, "int8", s_w, data=codes.astype(np.int8), axis=axis)
        bname = self.tensor(f"{base}_b", (len(s_w),), "int32", b_scale, data=bq.astype(np.int64), axis=0)
        return wname, bname

    # --- operators -----------------------------------------------------------------------------
    def _conv(self, n: Node, xs: list[str]) -> None:
        if not self._check_plain(n, xs):
            return
        x = xs[0]
        a = n.attrs
        w = np.asarray(a["w"], np.float32)
        _, h, wd, c = self.shape(x)
        g = a["groups"]
        o, _, kh, kw = w.shape
        kind, axis, extra = "conv2d", 0, {}
        if g != 1 and g == c and o % c == 0:
            kind, axis, extra = "depthwise_conv2d", 3, {"depth_multiplier": o // c}
        wk = _conv_layout(w, g, c, kind)
        codes = None if "w_codes" not in a else _conv_layout(np.asarray(a["w_codes"], np.float32), g, c, kind)
        padding, x = self.padding(n, x, (kh, kw), a["stride"], a["dilation"], a["pads"], "zero")
        if padding is None:
            return
        s_in, _ = self.q(x)
        wname, bname = self.weights(n, wk, a["b"], axis, s_in, codes)
        _, ph, pw, _ = self.shape(x)
        oh = out_size(padding, ph, kh, a["stride"][0], a["dilation"][0])
        ow = out_size(padding, pw, kw, a["stride"][1], a["dilation"][1])
        out = self.out(n, (1, oh, ow, o))
        self.t[n.name] = self.op(_ident(n.name), kind, (x, wname, bname), out, stride=tuple(a["stride"]),
                                 dilation=tuple(a["dilation"]), padding=padding, activation=a["act"], **extra)

    def padding(self, n: Node, x: str, k, stride, dilation, pads, pad: str | None):
        """('same' | 'valid', input tensor) reproducing the explicit pads, with a pad op if need be:
        pad "zero" pads real zeros (convolution, average pooling counting the pads), "lowest" the
        lowest code (max pooling: it never wins, as PyTorch's -inf), None refuses."""
        t, l, b, r = pads
        if not any(pads):
            return "valid", x
        _, h, w, c = self.shape(x)
        eff = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
        oh = (h + t + b - eff[0]) // stride[0] + 1
        ow = (w + l + r - eff[1]) // stride[1] + 1
        if (oh, ow) == (out_size("same", h, k[0], stride[0]), out_size("same", w, k[1], stride[1])) \
                and t == pad_before(h, k[0], stride[0], dilation[0], oh) and l == pad_before(w, k[1], stride[1], dilation[1], ow):
            return "same", x
        if pad is None:
            self.fail(n, f"padding {tuple(pads)} that TFLite's SAME padding does not reproduce, with the "
                         "padded values left out of the average")
            return None, x
        s, zp = self.q(x)
        padded = self.tensor(f"{_ident(n.name)}_pad", (1, h + t + b, w + l + r, c), "int8", s, zp)
        self.op(f"{_ident(n.name)}_pad", "pad", (x,), padded, paddings=((0, 0), (t, b), (l, r), (0, 0)),
                pad_value=zp if pad == "zero" else -128)
        return "valid", padded

    def _linear(self, n: Node, xs: list[str]) -> None:
        x = xs[0]
        w = np.asarray(n.attrs["w"], np.float32)
        if len(self.shape(x)) != 2:
            self.fail(n, f"a Linear on a {len(self.shape(x))}-D tensor (flatten to (N, features) first)")
            return
        codes = n.attrs.get("w_codes")
        if x in self.perm:
            w = w[:, self.perm[x]]
            codes = None if codes is None else np.asarray(codes)[:, self.perm[x]]
        s_in, _ = self.q(x)
        wname, bname = self.weights(n, w, n.attrs["b"], 0, s_in, codes)
        out = self.out(n, (1, w.shape[0]))
        self.t[n.name] = self.op(_ident(n.name), "fully_connected", (x, wname, bname), out, activation=n.attrs["act"])

    def _pool(self, n: Node, x: str, kind: str, pad: str | None) -> None:
        a = n.attrs
        padding, x = self.padding(n, x, a["k"], a["stride"], (1, 1), a["pads"], pad)
        if padding is None:
            return
        _, h, w, c = self.shape(x)
        shape = (1, out_size(padding, h, a["k"][0], a["stride"][0]), out_size(padding, w, a["k"][1], a["stride"][1]), c)
        out = self.out(n, shape, like=x)
        self.t[n.name] = self.op(_ident(n.name), kind, (x,), out, filter=tuple(a["k"]), stride=tuple(a["stride"]),
                                 padding=padding, activation="none")

    def _maxpool(self, n: Node, xs: list[str]) -> None:
        if self._check_plain(n, xs):
            self._pool(n, xs[0], "max_pool2d", "lowest")

    def _avgpool(self, n: Node, xs: list[str]) -> None:
        if self._check_plain(n, xs):
            self._pool(n, xs[0], "avg_pool2d", "zero" if n.attrs["count_pad"] else None)

    def _gap(self, n: Node, xs: list[str]) -> None:
        if not self._check_plain(n, xs):
            return
        _, h, w, c = self.shape(xs[0])
        out = self.out(n, (1, 1, 1, c), like=xs[0])
        self.t[n.name] = self.op(_ident(n.name), "avg_pool2d", (xs[0],), out, filter=(h, w), stride=(1, 1),
                                 padding="valid", activation="none")

    def _flatten(self, n: Node, xs: list[str]) -> None:
        x = xs[0]
        shape = self.shape(x)
        if len(shape) == 2:
            self.t[n.name] = x
            return
        _, h, w, c = shape
        out = self.out(n, (1, h * w * c), like=x)
        self.t[n.name] = self.op(_ident(n.name), "reshape", (x,), out)
        if h * w > 1:
            self.perm[out] = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()

    def _add(self, n: Node, xs: list[str]) -> None:
        if self._check_plain(n, xs):
            out = self.out(n, self.shape(xs[0]))
            self.t[n.name] = self.op(_ident(n.name), "add", tuple(xs), out, activation=n.attrs["act"])

    def _clip(self, n: Node, xs: list[str]) -> None:
        # A clamp with nothing to fuse into: requantizing to the clamped range saturates at its ends.
        if self._check_plain(n, xs):
            out = self.out(n, self.shape(xs[0]))
            self.t[n.name] = self.op(_ident(n.name), "quantize", (xs[0],), out)

    def _unary(self, n: Node, xs: list[str]) -> None:
        if self._check_plain(n, xs):
            fn = n.attrs["fn"]
            out = self.out(n, self.shape(xs[0]))
            attrs = {"alpha": n.attrs["alpha"]} if fn == "leaky_relu" else {}
            self.t[n.name] = self.op(_ident(n.name), _UNARY_KIND[fn], (xs[0],), out, **attrs)

    def _softmax(self, n: Node, xs: list[str]) -> None:
        if self._check_plain(n, xs):
            # TFLite's fixed int8 softmax output: 1/256 steps from -128, so [0, 1) is covered exactly.
            out = self.tensor(_ident(n.name), self.shape(xs[0]), "int8", 1.0 / 256, -128)
            self.t[n.name] = self.op(_ident(n.name), "softmax", (xs[0],), out, beta=n.attrs["beta"])

    def _concat(self, n: Node, xs: list[str]) -> None:
        if not self._check_plain(n, xs):
            return
        rank = len(self.shape(xs[0]))
        axis = _AXIS_4D[n.attrs["axis"]] if rank == 4 else n.attrs["axis"]
        shape = list(self.shape(xs[0]))
        shape[axis] = sum(self.shape(x)[axis] for x in xs)
        out = self.out(n, shape)
        ins = []
        for i, x in enumerate(xs):
            if self.q(x) != self.q(out):
                s, zp = self.q(out)
                rq = self.tensor(f"{_ident(n.name)}_in{i}", self.shape(x), "int8", s, zp)
                x = self.op(f"{_ident(n.name)}_in{i}", "quantize", (x,), rq)
            ins.append(x)
        self.t[n.name] = self.op(_ident(n.name), "concatenation", tuple(ins), out, axis=axis, activation="none")


def lower(fg: FloatGraph, ranges: dict[str, tuple[float, float]] | None, in_q: tuple[float, int] | None,
          per_tensor: bool = False, name: str = "model", source: str = "", qp: dict | None = None,
          stage=None) -> Graph:
    """Calibrated ranges (PTQ), or explicit output quantization per node and weight codes (QAT)."""
    return _Lowering(fg, ranges, in_q, per_tensor, qp, stage).lower(name, source)
