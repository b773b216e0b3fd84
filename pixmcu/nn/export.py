"""A trained zoo model -> `pixmcu.ir.Graph` holding exactly the integers its fake-quant evaluates.

Conventions (shared with pixmcu.nn.fakequant): ReLU6 activations are int8 with zero point -128 and
scale 6/(2^A-1) (the `relu6` clamp keeps them on A bits); pre-add tensors and logits are int8
symmetric; weights per-channel symmetric (codes within the W-bit range, in int8 containers);
biases int32. The graph input is the raw pixel tensor (uint8 for the pixel embedding, int8 = p-128
otherwise) with batch 1.
"""

from __future__ import annotations

import numpy as np
import torch

from pixmcu.errors import PixmcuError
from pixmcu.graph_builder import GraphBuilder
from pixmcu.ir import Graph
from pixmcu.nn.fakequant import ActQuant, bias_codes, weight_codes
from pixmcu.nn.layers import QConv2d, QLinear
from pixmcu.nn.models import InputStage, ModelConfig, ResBlock, ResNet8, SmallCNN


class _Builder(GraphBuilder):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg

    def conv(self, name, x, layer: QConv2d, out_q: ActQuant, activation: str) -> str:
        s_in, _ = self.qparams(x)
        w, b, s_w = layer.quantized(s_in)
        codes, _ = weight_codes(w, layer.wbits, s_w)  # the training scale, not one re-derived from w
        bq = bias_codes(b, s_in, s_w)
        wname = self.tensor(f"{name}_w", codes.shape[:1] + codes.shape[2:] + codes.shape[1:2], "int8",
                            s_w.numpy(), data=codes.permute(0, 2, 3, 1).numpy().astype(np.int8), axis=0)
        bname = self.tensor(f"{name}_b", (layer.cout,), "int32", (s_in * s_w.double()).numpy(),
                            data=bq.numpy().astype(np.int64), axis=0)
        n, h, wd, _ = self.shape(x)
        from pixmcu.shapes import out_size
        oh = out_size(layer.padding, h, layer.k, layer.stride)
        ow = out_size(layer.padding, wd, layer.k, layer.stride)
        out = self.tensor(name, (n, oh, ow, layer.cout), "int8", out_q.scale, out_q.zero_point)
        return self.op(name, "conv2d", (x, wname, bname), out, stride=(layer.stride, layer.stride),
                       dilation=(1, 1), padding=layer.padding, activation=activation)

    def linear(self, name, x, layer: QLinear, out_q: ActQuant) -> str:
        s_in, _ = self.qparams(x)
        w, b, s_w = layer.quantized(s_in)
        codes, _ = weight_codes(w, layer.wbits, s_w)
        bq = bias_codes(b, s_in, s_w)
        wname = self.tensor(f"{name}_w", tuple(codes.shape), "int8", s_w.numpy(),
                            data=codes.numpy().astype(np.int8), axis=0)
        bname = self.tensor(f"{name}_b", (layer.cout,), "int32", (s_in * s_w.double()).numpy(),
                            data=bq.numpy().astype(np.int64), axis=0)
        out = self.tensor(name, (self.shape(x)[0], layer.cout), "int8", out_q.scale, out_q.zero_point)
        return self.op(name, "fully_connected", (x, wname, bname), out, activation="none")

    def maxpool(self, name, x) -> str:
        n, h, w, c = self.shape(x)
        s, zp = self.qparams(x)
        out = self.tensor(name, (n, h // 2, w // 2, c), "int8", s, zp)
        return self.op(name, "max_pool2d", (x,), out, filter=(2, 2), stride=(2, 2), padding="valid", activation="none")

    def gap(self, name, x) -> str:
        n, h, w, c = self.shape(x)
        s, zp = self.qparams(x)
        pooled = self.tensor(name, (n, 1, 1, c), "int8", s, zp)
        self.op(name, "avg_pool2d", (x,), pooled, filter=(h, w), stride=(1, 1), padding="valid", activation="none")
        flat = self.tensor(f"{name}_flat", (n, c), "int8", s, zp)
        return self.op(f"{name}_flat", "reshape", (pooled,), flat)

    def flatten(self, name, x) -> str:
        n, h, w, c = self.shape(x)
        s, zp = self.qparams(x)
        out = self.tensor(name, (n, h * w * c), "int8", s, zp)
        return self.op(name, "reshape", (x,), out)

    def add(self, name, a, b, out_q: ActQuant) -> str:
        out = self.tensor(name, self.shape(a), "int8", out_q.scale, out_q.zero_point)
        return self.op(name, "add", (a, b), out, activation="relu6")

    def input_stage(self, stage: InputStage) -> str:
        cfg = self.cfg
        return self.stage_ops(stage, (1, cfg.image_size, cfg.image_size, cfg.in_channels))

    def graph(self, output: str, name: str, source: str) -> Graph:
        return self.build(("input",), (output,), name, source)


def export_model(model: torch.nn.Module, name: str = "model", source: str = "") -> Graph:
    """The integer graph of a zoo model (build_model) or of a network wrapped by pixmcu.nn.quantize_aware."""
    cfg = getattr(model, "cfg", None)
    if not isinstance(cfg, ModelConfig):
        raise PixmcuError(
            f"export_model takes a pixmcu quantization-aware model; {type(model).__name__} is a plain nn.Module. "
            f"Wrap your float network first, input stage included (rather than a PixelEmbedding of your own): "
            f"qat = pixmcu.nn.quantize_aware(net, input_shape=(C, H, W), input_stage='embed', bits='W4A4'), "
            f"train it, then qat.export(); or quantize the trained float network as it is with "
            f"`pixmcu quantize net.pt2 -o net.pmz --calib DATA.npz`")
    if hasattr(model, "export"):  # pixmcu.nn.byom.QATModel
        return model.export(name, source)
    if not cfg.quantized:
        raise PixmcuError(f"model '{cfg.label()}' is not fully quantized; only integer models can be exported")
    model.cpu().eval()
    b = _Builder(cfg)
    with torch.no_grad():
        x = b.input_stage(model.input)
        if isinstance(model, SmallCNN):
            x = b.maxpool("pool1", b.conv("conv1", x, model.conv1, model.act1, "relu6"))
            x = b.maxpool("pool2", b.conv("conv2", x, model.conv2, model.act2, "relu6"))
            x = b.conv("conv3", x, model.conv3, model.act3, "relu6")
        elif isinstance(model, ResNet8):
            x = b.conv("conv1", x, model.conv1, model.act1, "relu6")
            for i, blk in enumerate((model.block1, model.block2, model.block3), 1):
                x = _block(b, f"block{i}", x, blk)
        else:
            raise PixmcuError(f"cannot export {type(model).__name__}")
        if cfg.head == "flatten":
            x = b.flatten("flatten", x)
        else:
            x = b.gap("pool", x)
        x = b.linear("fc", x, model.fc, model.logits)
    return b.graph(x, name, source)


def _block(b: _Builder, name: str, x: str, blk: ResBlock) -> str:
    y = b.conv(f"{name}_conv1", x, blk.conv1, blk.act1, "relu6")
    y = b.conv(f"{name}_conv2", y, blk.conv2, blk.q2, "none")
    sc = x if blk.shortcut is None else b.conv(f"{name}_short", x, blk.shortcut, blk.qs, "none")
    return b.add(f"{name}_add", y, sc, blk.out)


def model_input(cfg: ModelConfig, pixels: np.ndarray) -> np.ndarray:
    """uint8 NHWC pixels -> the exported graph's input bytes."""
    if cfg.input_stage == "embed":
        return pixels.astype(np.uint8)
    return (pixels.astype(np.int16) - 128).astype(np.int8)
