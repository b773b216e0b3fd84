"""A `torch.export` program (.pt2, or an ExportedProgram in memory) -> float graph.

Reads the ATen graph torch.export gives by default (conv2d, linear, batch_norm, relu, hardtanh, ...)
and the core-ATen spellings of the same layers after `run_decompositions()` (convolution,
_native_batch_norm_legit_no_training, clamp, ...). Every node that maps to nothing is collected
and named by its module path, so one error lists them all.
"""

from __future__ import annotations

import math
import operator
from pathlib import Path
from typing import Any

import numpy as np

from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.ptq.fgraph import FloatGraph, Node

# Ops that pass their input through unchanged in inference.
_IDENTITY = {"dropout", "clone", "contiguous", "alias", "detach", "lift_fresh_copy", "feature_dropout",
             "alpha_dropout", "_to_copy", "to"}
_SKIP = {"_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size", "_assert_async"}


def load_exported(path: Path):
    import torch

    try:
        return torch.export.load(str(path))
    except Exception as exc:  # a zip that is not an ExportedProgram, a truncated file, a version skew
        raise PixmcuError(f"{path}: not a loadable torch.export program ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); save one with "
                          "torch.export.save(torch.export.export(model.eval(), (example_input,)), 'model.pt2')") from None


def module_path(node) -> str:
    """The layer a graph node came from, in the user's terms: 'block1.dw (Conv2d)'."""
    import re

    stack = node.meta.get("nn_module_stack") or {}
    frames = re.findall(r'File "([^"]+)", line (\d+)', node.meta.get("stack_trace") or "")
    at = f" at {Path(frames[-1][0]).name}:{frames[-1][1]}" if frames else ""
    if not stack:
        return f"'{node.name}'{at}"
    path, cls = list(stack.values())[-1]
    cls = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return (f"'{path}' ({cls})" if path else f"the top-level module ({cls})") + at


def _op_name(node) -> str:
    t = node.target
    if t is operator.getitem:
        return "getitem"
    name = getattr(t, "__name__", str(t))
    return name.split(".")[0]


def _pair(v, n: int = 2) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        v = [int(x) for x in v]
        return tuple(v) if len(v) == n else tuple(v * n)[:n]
    return (int(v),) * n


class _Importer:
    def __init__(self, ep, source: str):
        self.ep = ep
        self.source = source
        sig = ep.graph_signature
        state = dict(ep.state_dict)
        state.update(getattr(ep, "constants", {}) or {})
        self.consts: dict[str, np.ndarray] = {}
        for ph, target in {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
                           **getattr(sig, "inputs_to_lifted_tensor_constants", {})}.items():
            if target in state:
                self.consts[ph] = state[target].detach().cpu().float().numpy()
        self.user_inputs = list(sig.user_inputs)
        self.nodes: list[Node] = []
        self.alias: dict[str, str] = {}  # fx node name -> float graph node name
        self.bad: list[str] = []
        self.refused: set[str] = set()
        self.value: dict[str, str] = {}  # fx name of a multi-output op -> the float node of its output 0

    def fail(self, node, why: str) -> None:
        self.bad.append(f"{module_path(node)}: {why}")
        self.refused.add(node.name)

    def const(self, arg) -> np.ndarray | None:
        if arg is None:
            return None
        name = getattr(arg, "name", None)
        if name in self.consts:
            return self.consts[name]
        raise KeyError(name)

    def ref(self, arg) -> str:
        return self.alias[arg.name]

    def emit(self, node, kind: str, inputs: list[str], **attrs) -> None:
        name = f"n{len(self.nodes)}_{node.name}"
        self.nodes.append(Node(name, kind, inputs, attrs, where=module_path(node)))
        self.alias[node.name] = name

    def shape(self, node) -> tuple[int, ...]:
        """Static shape from torch.export's metadata; a symbolic (dynamic) batch counts as 1."""
        val = node.meta.get("val")
        if val is None or not hasattr(val, "shape"):
            return ()
        dims = [d if isinstance(d, int) else -1 for d in val.shape]
        if dims and dims[0] == -1:
            dims[0] = 1
        return tuple(dims)

    def convert(self) -> FloatGraph:
        graph = self.ep.graph
        inputs = [n for n in graph.nodes if n.op == "placeholder" and n.name in self.user_inputs]
        if len(inputs) != 1:
            raise PixmcuError(f"{self.source}: the model takes {len(inputs)} inputs; pixmcu deploys models "
                              "with one image input")
        shape = self.shape(inputs[0])
        if len(shape) != 4:
            raise PixmcuError(f"{self.source}: the model input has shape {shape}; expected an image batch "
                              "(N, C, H, W)")
        self.nodes.append(Node("input", "input", []))
        self.alias[inputs[0].name] = "input"
        out = None
        for node in graph.nodes:
            val = node.meta.get("val")
            if node.op == "call_function" and val is not None and not isinstance(val, (tuple, list)) \
                    and not hasattr(val, "shape"):
                continue  # shape arithmetic (x.size(0), ...) on symbolic sizes: no tensor to compute
            if node.op == "call_function":
                try:
                    self.call(node)
                except KeyError:
                    # An input the float graph does not hold: the result of a layer already refused
                    # (that one is what the user needs to see), or a tensor computed from constants.
                    if any(a in self.refused for a in self._arg_names(node)):
                        self.refused.add(node.name)
                    else:
                        self.fail(node, f"{_op_name(node)} on a tensor that is neither the image's nor a parameter")
            elif node.op == "output":
                outs = node.args[0]
                if len(outs) != 1:
                    raise PixmcuError(f"{self.source}: the model returns {len(outs)} outputs; pixmcu deploys "
                                      "models with one output")
                out = outs[0]
            elif node.op == "get_attr":
                self.fail(node, "a get_attr node (a submodule call torch.export kept opaque)")
        if self.bad:
            raise UnsupportedOperatorError(
                f"{self.source}: {len(self.bad)} layer{'s' if len(self.bad) > 1 else ''} cannot be mapped to "
                f"pixmcu's integer operators: {'; '.join(self.bad)}. Supported: Conv2d (any groups), Linear, "
                "BatchNorm, ReLU, ReLU6, max/average pooling, adaptive average pooling to 1x1, mean over H and W, "
                "flatten/reshape to (N, features), residual add, concatenation, softmax, sigmoid, tanh, hardswish, leaky_relu, dropout/identity.")
        if out is None or out.name not in self.alias:
            raise PixmcuError(f"{self.source}: the model output is not computed from the input image")
        return FloatGraph(self.nodes, self.alias[out.name], shape[1:], source=self.source)

    @staticmethod
    def _arg_names(node) -> list[str]:
        names = []
        for a in node.args:
            for x in (a if isinstance(a, (list, tuple)) else [a]):
                if hasattr(x, "name"):
                    names.append(x.name)
        return names

    def call(self, node) -> None:
        op = _op_name(node)
        a = list(node.args)
        kw = dict(node.kwargs)
        if op in _SKIP:
            return
        if op in _IDENTITY:
            self.alias[node.name] = self.ref(a[0])
            return
        if op == "getitem":
            src, idx = a
            if src.name not in self.value:
                raise KeyError(src.name)
            if idx == 0:  # other items are BN's saved statistics or max-pool indices: unused in inference
                self.alias[node.name] = self.value[src.name]
            return
        if op in ("conv2d", "convolution"):
            self.conv(node, op, a, kw)
        elif op == "linear":
            w = self.const(a[1])
            b = self.const(a[2]) if len(a) > 2 else self.const(kw.get("bias"))
            self.emit(node, "linear", [self.ref(a[0])], w=w, b=b, act="none")
        elif op == "addmm" and len(a) == 3:
            self.fail(node, "addmm (decomposed Linear): export without run_decompositions()")
        elif op in ("batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm",
                    "_native_batch_norm_legit"):
            self.batch_norm(node, op, a, kw)
        elif op in ("relu", "relu_"):
            self.emit(node, "clip", [self.ref(a[0])], lo=0.0, hi=math.inf)
        elif op in ("relu6", "hardtanh", "hardtanh_", "clamp", "clip", "clamp_"):
            lo, hi = (0.0, 6.0) if op == "relu6" else (
                a[1] if len(a) > 1 else kw.get("min_val", kw.get("min", -1.0 if "hardtanh" in op else None)),
                a[2] if len(a) > 2 else kw.get("max_val", kw.get("max", 1.0 if "hardtanh" in op else None)))
            lo = -math.inf if lo is None else float(lo)
            hi = math.inf if hi is None else float(hi)
            if not lo <= 0.0 <= hi:
                self.fail(node, f"{op} to [{lo}, {hi}] (a clamp must keep 0 in range)")
                return
            self.emit(node, "clip", [self.ref(a[0])], lo=lo, hi=hi)
        elif op in ("max_pool2d", "max_pool2d_with_indices"):
            self.pool(node, "maxpool", a, kw)
            if op == "max_pool2d_with_indices":
                self.value[node.name] = self.alias[node.name]
        elif op == "avg_pool2d":
            self.pool(node, "avgpool", a, kw)
        elif op in ("adaptive_avg_pool2d", "_adaptive_avg_pool2d"):
            size = _pair(a[1])
            if size == (1, 1):
                self.emit(node, "gap", [self.ref(a[0])])
            elif size == self.shape(a[0])[2:]:
                self.alias[node.name] = self.ref(a[0])
            else:
                self.fail(node, f"adaptive average pooling to {size} (only 1x1 is supported)")
        elif op == "mean":
            self.mean(node, a, kw)
        elif op == "flatten":
            start = a[1] if len(a) > 1 else kw.get("start_dim", 0)
            self.reshape(node, a[0], start)
        elif op in ("view", "reshape", "_unsafe_view", "squeeze", "unsqueeze"):
            self.reshape(node, a[0], None)
        elif op in ("add", "add_"):
            alpha = kw.get("alpha", a[2] if len(a) > 2 else 1)
            if not all(hasattr(x, "name") for x in a[:2]) or alpha != 1:
                self.fail(node, "add with a constant or a scale (only tensor + tensor is supported)")
                return
            if self.shape(a[0]) != self.shape(a[1]):
                self.fail(node, f"add of shapes {self.shape(a[0])} and {self.shape(a[1])} (broadcasting is not supported)")
                return
            self.emit(node, "add", [self.ref(a[0]), self.ref(a[1])], act="none")
        elif op in ("cat", "concat", "concatenate"):
            dim = a[1] if len(a) > 1 else kw.get("dim", 0)
            rank = len(self.shape(node))
            dim = dim % rank
            if dim == 0:
                self.fail(node, "concatenation along the batch axis")
                return
            self.emit(node, "concat", [self.ref(x) for x in a[0]], axis=dim)
        elif op in ("sigmoid", "tanh", "hardswish", "hardswish_", "leaky_relu", "leaky_relu_"):
            fn = op.rstrip("_")
            alpha = float(a[1] if len(a) > 1 else kw.get("negative_slope", 0.01)) if fn == "leaky_relu" else 0.0
            self.emit(node, "unary", [self.ref(a[0])], fn=fn, alpha=alpha)
        elif op in ("softmax", "_softmax"):
            dim = a[1] if len(a) > 1 else kw.get("dim", -1)
            if dim % len(self.shape(a[0])) != len(self.shape(a[0])) - 1:
                self.fail(node, f"softmax over dim {dim} (only the last axis is supported)")
                return
            self.emit(node, "softmax", [self.ref(a[0])], beta=1.0)
        else:
            self.fail(node, f"aten.{op}")

    def conv(self, node, op, a, kw) -> None:
        x, w = a[0], self.const(a[1])
        b = self.const(a[2]) if len(a) > 2 else None
        if w.ndim != 4:
            self.fail(node, f"a {w.ndim - 2}-D convolution (only Conv2d is supported)")
            return
        if op == "convolution":
            stride, padding, dilation, transposed, _, groups = a[3:9]
            if transposed:
                self.fail(node, "a transposed convolution")
                return
        else:
            stride = a[3] if len(a) > 3 else 1
            padding = a[4] if len(a) > 4 else 0
            dilation = a[5] if len(a) > 5 else 1
            groups = a[6] if len(a) > 6 else 1
        kh, kw_ = w.shape[2:]
        dil = _pair(dilation)
        if isinstance(padding, str):
            if padding == "valid":
                pads = (0, 0, 0, 0)
            else:  # torch "same" (stride 1): the odd remainder goes after, as TFLite's SAME does
                th, tw = dil[0] * (kh - 1), dil[1] * (kw_ - 1)
                pads = (th // 2, tw // 2, th - th // 2, tw - tw // 2)
        else:
            ph, pw = _pair(padding)
            pads = (ph, pw, ph, pw)
        self.emit(node, "conv", [self.ref(x)], w=w, b=b, stride=_pair(stride), pads=pads, dilation=dil,
                  groups=int(groups), act="none")

    def batch_norm(self, node, op, a, kw) -> None:
        x = a[0]
        weight, bias, mean, var = (self.const(v) for v in a[1:5])
        if op == "batch_norm":
            training, eps = a[5], a[7]
        elif op == "_native_batch_norm_legit_no_training":
            training, eps = False, a[6]
        else:
            training, eps = a[5], a[7]
        if training:
            self.fail(node, "BatchNorm in training mode (call model.eval() before torch.export.export)")
            return
        if mean is None or var is None:
            self.fail(node, "BatchNorm without running statistics")
            return
        c = len(mean)
        weight = np.ones(c, np.float32) if weight is None else weight
        bias = np.zeros(c, np.float32) if bias is None else bias
        scale = weight.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        shift = bias - scale * mean
        self.emit(node, "bn", [self.ref(x)], scale=scale.astype(np.float32), shift=shift.astype(np.float32))
        if op != "batch_norm":
            self.value[node.name] = self.alias[node.name]

    def pool(self, node, kind, a, kw) -> None:
        k = _pair(a[1])
        stride = _pair(a[2]) if len(a) > 2 and a[2] else k
        ph, pw = _pair(a[3]) if len(a) > 3 else (0, 0)
        pads = (ph, pw, ph, pw)
        if kind == "maxpool":
            dilation = _pair(a[4]) if len(a) > 4 else (1, 1)
            ceil_mode = a[5] if len(a) > 5 else kw.get("ceil_mode", False)
            if dilation != (1, 1):
                self.fail(node, "a dilated max pooling")
                return
            attrs = {}
        else:
            ceil_mode = a[4] if len(a) > 4 else kw.get("ceil_mode", False)
            count_pad = a[5] if len(a) > 5 else kw.get("count_include_pad", True)
            div = a[6] if len(a) > 6 else kw.get("divisor_override")
            if div is not None:
                self.fail(node, "average pooling with divisor_override")
                return
            attrs = {"count_pad": bool(count_pad)}
        if ceil_mode:
            _, _, h, w = self.shape(a[0])
            oh, ow = self.shape(node)[2:]
            if oh != (h + 2 * ph - k[0]) // stride[0] + 1 or ow != (w + 2 * pw - k[1]) // stride[1] + 1:
                self.fail(node, "pooling with ceil_mode=True that changes the output size")
                return
        self.emit(node, kind, [self.ref(a[0])], k=k, stride=stride, pads=pads, **attrs)

    def mean(self, node, a, kw) -> None:
        dims = a[1] if len(a) > 1 else kw.get("dim")
        keep = a[2] if len(a) > 2 else kw.get("keepdim", False)
        rank = len(self.shape(a[0]))
        if rank != 4 or dims is None or sorted(d % 4 for d in dims) != [2, 3]:
            self.fail(node, f"mean over dims {dims} (only the spatial mean over H and W is supported)")
            return
        self.emit(node, "gap", [self.ref(a[0])])
        if not keep:
            gap = self.alias[node.name]
            name = f"{gap}_flat"
            self.nodes.append(Node(name, "flatten", [gap], where=module_path(node)))
            self.alias[node.name] = name

    def reshape(self, node, x, start) -> None:
        src, dst = self.shape(x), self.shape(node)
        if dst == src:
            self.alias[node.name] = self.ref(x)
        elif len(dst) == 2 and len(src) >= 2 and dst[0] == src[0] and (start in (None, 1)):
            self.emit(node, "flatten", [self.ref(x)])
        else:
            self.fail(node, f"reshape {src} -> {dst} (only flattening to (N, features) is supported)")


def import_exported(ep, source: str = "model") -> FloatGraph:
    return _Importer(ep, source).convert()


def import_pt2(path: Path) -> FloatGraph:
    return import_exported(load_exported(path), str(path))
