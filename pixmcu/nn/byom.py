"""Your own network with a pixmcu input stage and quantization-aware training.

`quantize_aware(module, input_shape, ...)` traces a float `nn.Module` with torch.export, folds its
BatchNorms, and rebuilds it as a `QATModel`: the chosen input stage (pixel embedding, naive or int8
pixels) in front of its first convolution, W-bit per-channel weights, A-bit ReLU6 activations (a
ReLU becomes a ReLU6, as in the zoo), 8-bit symmetric tensors before residual adds and at the
output. It trains with `pixmcu.train.loop.train(..., model=qat)` like a zoo model, evaluates on the
integer contract in eval mode, and `qat.export()` gives the integer graph.

    from pixmcu.nn import quantize_aware
    qat = quantize_aware(MyNet(), (1, 28, 28), input_stage="embed", bits="W4A4", pixel_scale=1 / 255)
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pixmcu.errors import PixmcuError, UnsupportedOperatorError
from pixmcu.nn import intexact
from pixmcu.nn.fakequant import ActQuant, bias_codes, fake_quant_bias, fake_quant_weight, weight_codes
from pixmcu.nn.layers import GlobalAvgPool
from pixmcu.nn.models import InputStage, ModelConfig

QAT_KINDS = ("input", "conv", "linear", "add", "maxpool", "avgpool", "gap", "flatten", "concat")


class GraphConv(nn.Module):
    """Conv2d with explicit pads, groups and dilation, fake-quantized like pixmcu.nn.layers.QConv2d."""

    def __init__(self, w: np.ndarray, b: np.ndarray | None, stride, pads, dilation, groups: int, wbits: int):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(np.array(w, np.float32)))
        self.bias = nn.Parameter(torch.as_tensor(np.zeros(w.shape[0], np.float32) if b is None else np.array(b, np.float32)))
        self.stride, self.pads, self.dilation, self.groups, self.wbits = tuple(stride), tuple(pads), tuple(dilation), groups, wbits

    def _conv(self, x, w, b):
        return F.conv2d(x, w, b, self.stride, 0, self.dilation, self.groups)

    def forward(self, x: torch.Tensor, s_in: float, out_q: ActQuant) -> torch.Tensor:
        t, l, b, r = self.pads
        if any(self.pads):
            x = F.pad(x, (l, r, t, b))  # zero in real units: the integer graph pads with the zero point
        wq, s_w = fake_quant_weight(self.weight, self.wbits)
        if intexact.enabled() and not self.training:
            codes, _ = weight_codes(wq, self.wbits, s_w)
            xc, wc, bc = intexact.exact_operands(intexact.codes_of(x, s_in), codes, bias_codes(self.bias, s_in, s_w))
            return intexact.requantize(self._conv(xc, wc, bc), s_in, s_w, out_q)
        return out_q(self._conv(x, wq, fake_quant_bias(self.bias, s_in, s_w)))


class GraphLinear(GraphConv):
    def __init__(self, w: np.ndarray, b: np.ndarray | None, wbits: int):
        super().__init__(w, b, (1, 1), (0, 0, 0, 0), (1, 1), 1, wbits)

    def _conv(self, x, w, b):
        return F.linear(x, w, b)


class QATModel(nn.Module):
    """A user's float graph, rebuilt for quantization-aware training (see the module docstring)."""

    def __init__(self, fg, cfg: ModelConfig, pixel_scale: float = 1.0, pixel_offset: float = 0.0):
        super().__init__()
        self.cfg = cfg
        self.nodes = [copy.copy(n) for n in fg.nodes]
        self.output = fg.output
        self.input_shape = tuple(fg.input_shape)
        self.source = fg.source
        self.input = InputStage(cfg)
        self.layers = nn.ModuleDict()
        self.acts = nn.ModuleDict()
        self.pools = nn.ModuleDict()
        self.qsrc: dict[str, str] = {}  # node -> the ActQuant (key) that sets its quantization, or "input"
        bad = [f"{n.where or n.name} ({n.attrs.get('fn', n.kind)})" for n in self.nodes if n.kind not in QAT_KINDS]
        first = [n for n in self.nodes if "input" in n.inputs]
        if not bad and (not first or any(n.kind != "conv" for n in first)):
            bad.append("the input image must feed convolutions only (the input stage goes in front of them)")
        for n in self.nodes:
            key = n.name
            a = n.attrs
            if n.kind == "input":
                self.qsrc[key] = "input"
            elif n.kind in ("conv", "linear"):
                wbits = cfg.wbits
                if any(n is f for f in first):
                    wbits = cfg.first_wbits or cfg.wbits
                    a = dict(a, **self._first_layer(a, pixel_scale, pixel_offset))
                if key == self.output:
                    wbits = cfg.last_wbits or cfg.wbits
                if n.kind == "conv":
                    self.layers[key] = GraphConv(a["w"], a["b"], a["stride"], a["pads"], a["dilation"], a["groups"], wbits)
                else:
                    self.layers[key] = GraphLinear(a["w"], a["b"], wbits)
                self.acts[key] = self._act(a["act"])
                self.qsrc[key] = key
            elif n.kind == "add":
                self.acts[key] = self._act(a["act"])
                self.qsrc[key] = key
            elif n.kind == "concat":
                srcs = {self.qsrc.get(i) for i in n.inputs}
                if any(s == "input" or s is None or self.acts[s].kind != "relu6" for s in srcs):
                    bad.append(f"{n.where or n.name} (concat): its inputs must all end in ReLU/ReLU6, so that they "
                               "share one quantization")
                self.qsrc[key] = next(iter(srcs))
            elif n.kind == "avgpool" and any(a["pads"]) and not a["count_pad"]:
                bad.append(f"{n.where or n.name} (avgpool): padding left out of the average")
            else:
                if n.kind in ("gap", "avgpool"):
                    self.pools[key] = GlobalAvgPool()
                self.qsrc[key] = self.qsrc.get(n.inputs[0]) if n.inputs else None
            if key == self.output and n.kind not in ("conv", "linear", "add"):
                bad.append(f"{n.where or n.name} ({n.kind}): the network must end in a Linear or convolution")
        if bad:
            raise UnsupportedOperatorError(
                f"{self.source}: cannot train with quantization: {'; '.join(bad)}. Quantization-aware training "
                "takes Conv2d (any groups), Linear, BatchNorm (folded), ReLU/ReLU6 after a conv, Linear or add, "
                "max/average pooling, global average pooling, flatten, residual add and concatenation.")

    def _act(self, act: str) -> ActQuant:
        if act in ("relu", "relu6"):
            return ActQuant(self.cfg.abits, "relu6")
        return ActQuant(8 if self.cfg.abits else None, kind="signed")

    def _first_layer(self, a: dict, pixel_scale: float, pixel_offset: float) -> dict:
        """The float first convolution restated for what the input stage gives it, about p/255 per
        channel (the embedding's d ramps average to it): the same function away from the borders."""
        w = np.asarray(a["w"], np.float64)
        b = np.zeros(w.shape[0]) if a["b"] is None else np.asarray(a["b"], np.float64)
        b = b + pixel_offset * w.sum(axis=(1, 2, 3))
        w = w * (255.0 * pixel_scale)
        if a["groups"] != 1:
            raise UnsupportedOperatorError(f"{self.source}: the first convolution is grouped; the input stage "
                                           "needs an ordinary one in front of the network")
        if self.input.embedding is not None:
            d = self.input.embedding.dim
            w = np.repeat(w, d, axis=1) / d  # channel c*d+j of the embedding stands for pixel channel c
        return {"w": w.astype(np.float32), "b": b.astype(np.float32)}

    @torch.no_grad()
    def init_ranges(self, pixels: np.ndarray | torch.Tensor) -> "QATModel":
        """Set the 8-bit symmetric ranges (pre-add tensors, logits) from uint8 NCHW images, so that
        fine-tuning starts near the float network's function rather than from empty ranges."""
        was = self.training
        self.train()
        dev = next(self.parameters()).device
        self(torch.as_tensor(np.array(pixels)).to(dev))
        self.train(was)
        return self

    def quant_of(self, name: str) -> tuple[float, int]:
        src = self.qsrc[name]
        if src == "input":
            return float(self.input.scale), -128 if self.input.embedding is None else self.input.embedding.zero_point
        q = self.acts[src]
        return float(q.scale), q.zero_point

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {}
        for n in self.nodes:
            k, a, key = n.kind, n.attrs, n.name
            ins = [values[i] for i in n.inputs]
            if k == "input":
                y = self.input(pixels)
            elif k in ("conv", "linear"):
                y = self.layers[key](ins[0], self.quant_of(n.inputs[0])[0], self.acts[key])
            elif k == "add":
                qa, qb = self.quant_of(n.inputs[0]), self.quant_of(n.inputs[1])
                if intexact.enabled() and not self.training and self.acts[key].bits is not None:
                    y = intexact.add(ins[0], qa, ins[1], qb, self.acts[key])
                else:
                    y = self.acts[key](ins[0] + ins[1])
            elif k == "maxpool":
                t, l, b, r = a["pads"]
                x = F.pad(ins[0], (l, r, t, b), value=-math.inf) if any(a["pads"]) else ins[0]
                y = F.max_pool2d(x, a["k"], a["stride"])
            elif k == "gap":
                s, zp = self.quant_of(n.inputs[0])
                y = self.pools[key](ins[0], s, zp)[..., None, None]
            elif k == "avgpool":
                y = self._avgpool(ins[0], a, *self.quant_of(n.inputs[0]))
            elif k == "flatten":
                y = ins[0].flatten(1)
            else:  # concat
                y = torch.cat(ins, dim=a["axis"])
            values[key] = y
        return values[self.output]

    @staticmethod
    def _avgpool(x: torch.Tensor, a: dict, scale: float, zp: int) -> torch.Tensor:
        """k x k average rounded as TFLM's int8 AveragePool rounds its zero-point-shifted sum."""
        t, l, b, r = a["pads"]
        x = F.pad(x, (l, r, t, b)) if any(a["pads"]) else x
        y = F.avg_pool2d(x, a["k"], a["stride"])
        count = a["k"][0] * a["k"][1]
        raw = torch.round(F.avg_pool2d(torch.round(x.detach() / scale), a["k"], a["stride"]) * count) + zp * count
        avg = torch.sign(raw) * torch.floor((raw.abs() + count // 2) / count)
        return y + ((avg - zp) * scale - y).detach()

    @torch.no_grad()
    def export(self, name: str = "model", source: str = "") -> "object":
        """The integer graph (pixmcu.ir.Graph) holding exactly the integers eval mode computes."""
        from pixmcu.ptq.fgraph import FloatGraph, Node
        from pixmcu.ptq.lower import lower

        if not self.cfg.quantized:
            raise PixmcuError("a float (--bits float) model has no integer graph to export")
        self.cpu().eval()
        nodes, qp = [], {}
        for n in self.nodes:
            attrs = dict(n.attrs)
            if n.kind in ("conv", "linear"):
                layer = self.layers[n.name]
                wq, s_w = fake_quant_weight(layer.weight, layer.wbits)
                codes, _ = weight_codes(wq, layer.wbits, s_w)
                attrs.update(w=layer.weight.numpy(), b=layer.bias.numpy(), w_codes=codes.numpy(),
                             w_scales=s_w.numpy(), act="relu6" if self.acts[n.name].kind == "relu6" else "none")
            elif n.kind == "add":
                attrs["act"] = "relu6" if self.acts[n.name].kind == "relu6" else "none"
            nodes.append(Node(n.name, n.kind, list(n.inputs), attrs, n.where))
            if n.kind != "input":
                qp[n.name] = self.quant_of(n.name)
        fg = FloatGraph(nodes, self.output, self.input_shape, source=self.source)
        return lower(fg, None, None, qp=qp, stage=self.input, name=name, source=source or self.source)


_THROUGH = ("maxpool", "avgpool", "gap", "flatten")  # commute with a positive per-channel scale


def equalize_ranges(fg, real: np.ndarray) -> int:
    """Scale every ReLU/ReLU6 convolution's output channels to reach 6 on the calibration images, and
    its consumers' input weights by the inverse: the same float function (ReLU is positively
    homogeneous; pooling and flatten commute with the scale), but A-bit activations on [0, 6] use
    their whole grid instead of the few steps a BatchNorm-folded channel's range would take.
    Channels feeding an add, a concatenation or the output keep their scale. Returns how many
    convolutions were rescaled."""
    from pixmcu.ptq.fgraph import run

    peaks: dict[str, torch.Tensor] = {}

    def observe(node, v):
        if v.dim() == 4:
            m = v.detach().amax(dim=(0, 2, 3))
            peaks[node.name] = torch.maximum(peaks[node.name], m) if node.name in peaks else m

    for i in range(0, len(real), 256):
        run(fg, torch.from_numpy(np.ascontiguousarray(real[i:i + 256], np.float32)), observe)
    users = fg.consumers()
    done = 0
    for n in fg.nodes:
        if n.kind != "conv" or n.attrs["act"] not in ("relu", "relu6") or n.name == fg.output:
            continue
        ends, todo, ok = [], list(users[n.name]), True
        while todo and ok:
            u = todo.pop()
            if u.kind in _THROUGH and u.name != fg.output:
                todo.extend(users[u.name])
            elif u.kind == "conv" and (u.attrs["groups"] == 1 or u.attrs["w"].shape[0] == u.attrs["groups"]):
                ends.append(u)
            elif u.kind == "linear":
                ends.append(u)
            else:
                ok = False
        if not ok or not ends:
            continue
        alpha = (6.0 / peaks[n.name].clamp(min=1e-3)).clamp(max=64.0).numpy().astype(np.float64)
        n.attrs["w"] = (n.attrs["w"] * alpha[:, None, None, None]).astype(np.float32)
        if n.attrs["b"] is not None:
            n.attrs["b"] = (n.attrs["b"] * alpha).astype(np.float32)
        for u in ends:
            w = np.asarray(u.attrs["w"], np.float64)
            if u.kind == "conv" and u.attrs["groups"] == 1:
                w = w / alpha[None, :, None, None]
            elif u.kind == "conv":  # depthwise, multiplier 1
                w = w / alpha[:, None, None, None]
            else:  # Linear after a flatten: NCHW order, each channel's H*W columns together
                w = w / np.repeat(alpha, w.shape[1] // len(alpha))[None, :]
            u.attrs["w"] = w.astype(np.float32)
        done += 1
    return done


def config_for(input_shape, input_stage: str = "embed", bits: str = "W4A4", num_classes: int = 10,
               embed: dict | None = None, first_wbits: int | None = None, last_wbits: int | None = None) -> ModelConfig:
    from pixmcu.cli.cmd_train import parse_bits

    c, h, w = input_shape
    wbits, abits = parse_bits(bits)
    if wbits is None or input_stage == "float":
        raise PixmcuError("quantization-aware training needs integer bits (W<w>A<a>) and an integer input stage")
    try:
        return ModelConfig(arch="custom", in_channels=c, image_size=h, num_classes=num_classes, input_stage=input_stage,
                           wbits=wbits, abits=abits, first_wbits=first_wbits, last_wbits=last_wbits, embed=embed or {})
    except ValueError as exc:
        raise PixmcuError(str(exc)) from None


def quantize_aware(module, input_shape=None, input_stage: str = "embed", bits: str = "W4A4",
                   embed: dict | None = None, pixel_scale: float = 1.0, pixel_offset: float = 0.0,
                   first_wbits: int | None = None, last_wbits: int | None = None,
                   calib: np.ndarray | None = None) -> QATModel:
    """Wrap a float network with an input stage and quantization-aware training.

    module: an `nn.Module` (traced with torch.export on a zero image of `input_shape` = (C, H, W)),
      a `torch.export` ExportedProgram, or the path of a `.pt2` file.
    input_stage: "embed" (pixel embedding; `embed` sets dim, bits, shared, init, bins, learn_bins),
      "naive" (pixels on the A-bit grid) or "int8" (p - 128).
    bits: "W<w>A<a>", e.g. "W4A4" or "W8A8".
    pixel_scale, pixel_offset: how the float network saw pixels (real = pixel * scale + offset); the
      first convolution is rescaled so the wrapped network starts from the float one's function.
    calib: optional uint8 NHWC images (a few hundred) to start from: ReLU channels rescaled to fill the
      A-bit [0, 6] grid (equalize_ranges) and the 8-bit activation ranges set (QATModel.init_ranges).
    An unsupported layer is named by its module path (PixmcuError).
    """
    from pixmcu.ptq import prepare
    from pixmcu.ptq.import_pt2 import import_exported, import_pt2

    if isinstance(module, (str, Path)):
        fg = import_pt2(Path(module))
    elif isinstance(module, nn.Module):
        if input_shape is None:
            raise PixmcuError("quantize_aware(module, input_shape=(C, H, W)): the input shape is needed to trace it")
        was_training = module.training
        try:
            ep = torch.export.export(module.eval(), (torch.zeros((1,) + tuple(input_shape)),))
        except Exception as exc:
            raise PixmcuError(f"torch.export could not trace {type(module).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        finally:
            module.train(was_training)
        fg = import_exported(ep, type(module).__name__)
    else:
        fg = import_exported(module, "exported program")
    fg = prepare(fg)
    if calib is not None:
        c, h, w = fg.input_shape
        if tuple(np.shape(calib)[1:]) != (h, w, c):
            raise PixmcuError(f"{fg.source} takes images (H, W, C) = {(h, w, c)}; the calibration images are "
                              f"{tuple(np.shape(calib)[1:])}")
        real = np.asarray(calib, np.float64).transpose(0, 3, 1, 2) * pixel_scale + pixel_offset
        equalize_ranges(fg, real.astype(np.float32))
    out_shape = fg.shapes[fg.output]
    cfg = config_for(fg.input_shape, input_stage, bits, int(np.prod(out_shape[1:])), embed, first_wbits, last_wbits)
    qat = QATModel(fg, cfg, pixel_scale, pixel_offset)
    if calib is not None:
        qat.init_ranges(np.ascontiguousarray(np.asarray(calib).transpose(0, 3, 1, 2)))
    return qat
