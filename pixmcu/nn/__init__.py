"""PyTorch side of pixmcu: pixel embedding, quantization-aware layers, the model zoo and export.

Importing this package needs torch (the optional `train` extra); nothing else in pixmcu does.
"""

from pixmcu.nn.byom import QATModel, quantize_aware
from pixmcu.nn.embedding import PixelEmbedding
from pixmcu.nn.fakequant import ActQuant, act_scale, fake_quant_weight, weight_codes
from pixmcu.nn.layers import GlobalAvgPool, QConv2d, QLinear
from pixmcu.nn.models import ModelConfig, build_model


def export_model(model, name: str = "model", source: str = ""):
    """The integer graph (pixmcu.ir.Graph) of a zoo model or a `quantize_aware` network."""
    from pixmcu.nn.export import export_model as _export

    return _export(model, name, source)

__all__ = [
    "ActQuant", "GlobalAvgPool", "ModelConfig", "PixelEmbedding", "QATModel", "QConv2d", "QLinear",
    "act_scale", "build_model", "export_model", "fake_quant_weight", "quantize_aware", "weight_codes",
]
