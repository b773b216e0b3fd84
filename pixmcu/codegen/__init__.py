"""The code generator: IR -> C sources that call the hand-written kernels in firmware/kernels."""

from pixmcu.codegen.generator import Generated, generate

__all__ = ["Generated", "generate"]
