"""Reference of TFLM's data-movement operators added for issue 11: bytes move, values do not change."""

from __future__ import annotations

import numpy as np

from pixmcu.ir import Graph, Operator


def transpose(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    return np.transpose(inputs[0], (0,) + tuple(a + 1 for a in p["perm"]))


OPS = {"transpose": transpose}
