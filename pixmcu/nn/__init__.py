"""PyTorch side of pixmcu: pixel embedding, quantization-aware layers, the model zoo and export.

Importing this package needs torch (the optional `train` extra); nothing else in pixmcu does.
"""

from pixmcu.nn.embedding import PixelEmbedding
from pixmcu.nn.fakequant import ActQuant, act_scale, fake_quant_weight, weight_codes
from pixmcu.nn.layers import GlobalAvgPool, QConv2d, QLinear
from pixmcu.nn.models import ModelConfig, build_model

__all__ = [
    "ActQuant", "GlobalAvgPool", "ModelConfig", "PixelEmbedding", "QConv2d", "QLinear",
    "act_scale", "build_model", "fake_quant_weight", "weight_codes",
]
