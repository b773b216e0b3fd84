"""TFLM's reference kernels (the `tflite-micro` package) as the oracle for integer semantics."""

from __future__ import annotations

import numpy as np
from tflite_micro.python.tflite_micro import runtime


class Oracle:
    def __init__(self, path, graph=None):
        from pixmcu.frontend import load_model

        graph = graph or load_model(path)
        self.in_q = graph.input_tensor().quant
        self.out_q = graph.output_tensor().quant
        self.interp = runtime.Interpreter.from_file(str(path))
        self.in_detail = self.interp.get_input_details(0)
        self.out_detail = self.interp.get_output_details(0)

    @staticmethod
    def _q(q):
        return float(q.scale[0]), int(q.zero_point[0])

    def invoke(self, x_int: np.ndarray) -> np.ndarray:
        """Run integer inputs (the IR input's dtype); float interfaces are (de)quantized exactly."""
        outs = []
        in_dtype = np.dtype(self.in_detail["dtype"])
        for i in range(len(x_int)):
            xi = x_int[i:i + 1]
            if in_dtype == np.float32:
                s, z = self._q(self.in_q)
                xi = ((xi.astype(np.float32) - z) * np.float32(s)).astype(np.float32)
            self.interp.set_input(xi.reshape(self.in_detail["shape"]), 0)
            self.interp.invoke()
            y = np.array(self.interp.get_output(0))
            if y.dtype == np.float32:
                s, z = self._q(self.out_q)
                y = np.round(y / np.float32(s)).astype(np.int64) + z
            outs.append(y.reshape(y.shape[1:]))
        return np.stack(outs)
