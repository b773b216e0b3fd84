"""A hand-built two-layer graph (pixel embedding -> conv2d) for the first-layer tuning tests."""

import numpy as np
from pixmcu.ir import Graph, Tensor, Operator, Quantization

def tiny_pe_graph(h=8, w=8, c=3, d=4, co=16, k=3, stride=1, bins=None, seed=0, padding="same"):
    rng = np.random.default_rng(seed)
    lut = rng.integers(0, 4, (c, 256, d)).astype(np.int8)
    attrs = {"embed_dim": d}
    if bins:
        edges = tuple(tuple(int(e) for e in np.sort(rng.choice(np.arange(1, 256), bins - 1, replace=False))) for _ in range(c))
        attrs["bin_edges"] = edges
        for ch in range(c):
            b = np.searchsorted(np.asarray(edges[ch]), np.arange(256), side="right")
            vec = rng.integers(0, 4, (bins, d))
            lut[ch] = vec[b]
    oh = (h + stride - 1) // stride if padding == "same" else (h - k) // stride + 1
    ow = (w + stride - 1) // stride if padding == "same" else (w - k) // stride + 1
    t = {
        "input": Tensor("input", (1, h, w, c), "uint8", Quantization((1 / 255,), (0,))),
        "table": Tensor("table", (c, 256, d), "int8", Quantization((1 / 3,), (0,)), lut),
        "emb": Tensor("emb", (1, h, w, c * d), "int8", Quantization((1 / 3,), (0,))),
        "w": Tensor("w", (co, k, k, c * d), "int8", Quantization(tuple(rng.uniform(0.002, 0.01, co).tolist()), (0,) * co, 0),
                    np.clip(np.round(rng.standard_normal((co, k, k, c * d)) * 40), -127, 127).astype(np.int8)),
        "b": Tensor("b", (co,), "int32", Quantization(tuple([1.0] * co), (0,) * co, 0), rng.integers(-500, 500, co).astype(np.int32)),
        "out": Tensor("out", (1, oh, ow, co), "int8", Quantization((0.05,), (-3,))),
    }
    ops = (Operator("embedding", "pixel_embedding", ("input", "table"), ("emb",), attrs),
           Operator("conv1", "conv2d", ("emb", "w", "b"), ("out",),
                    {"stride": (stride, stride), "dilation": (1, 1), "padding": padding, "activation": "relu"}))
    return Graph(t, ops, ("input",), ("out",), name="tiny")
