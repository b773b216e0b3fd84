"""Reference kernel of the pixel embedding: a table read, no arithmetic.

Registered with the reference on import; `pixmcu.reference` (or whatever builds a graph holding
the op, such as `pixmcu.frontend.checkpoint`) imports this module.
"""

from __future__ import annotations

import numpy as np

from pixmcu.ir import Graph, Operator
from pixmcu.reference import register


def pixel_embedding(graph: Graph, op: Operator, inputs, p) -> np.ndarray:
    x = np.asarray(inputs[0])
    table = graph.tensors[op.inputs[1]].data  # int8 [T, 256, d]
    c, d = p["channels"], p["embed_dim"]
    idx = x.astype(np.intp)
    if p["shared"]:
        out = table[0][idx]  # (..., C, d)
    else:
        out = table[np.arange(c), idx]  # broadcasts the channel index over the last axis
    # Channel c*d + j holds entry j of channel c's vector.
    return out.reshape(x.shape[:-1] + (c * d,)).astype(np.int8)


register("pixel_embedding", pixel_embedding)
