"""The first-layer variants: which C function, which data it needs, what it must output.

Each variant turns a Problem into the arrays its kernel reads (in the C layouts of
firmware/include/pm_first_layer.h), the C call that runs it, and the expected output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pixmcu.first_layer import tables as tb
from pixmcu.first_layer.problem import Problem


@dataclass
class Prepared:
    """Data and call of one variant for one problem."""

    name: str
    kernel: str                      # kernel source stem in firmware/first_layer (for its code size)
    arrays: dict[str, np.ndarray]    # constant data (flash), by C name suffix
    scratch_bytes: int
    out_dtype: str                   # "int8" or "float32"
    call: str                        # C call; names: geom, pixels, input_s8, rq, scratch, out, and A(name)
    expected: np.ndarray
    integer: bool = True
    note: str = ""
    params: dict = field(default_factory=dict)

    @property
    def const_bytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    @property
    def out_bytes(self) -> int:
        return int(self.expected.size * (1 if self.out_dtype == "int8" else 4))

    @property
    def ram_bytes(self) -> int:
        return self.scratch_bytes + self.out_bytes


def _f32(p: Problem, name: str, fn: str) -> Prepared:
    g = p.g
    w = tb.blocked_weights_f32(p.w_f32)
    arrays = {"norm_scale": p.norm_scale, "norm_offset": p.norm_offset, "w": w, "b": p.b_f32}
    return Prepared(name, fn, arrays, g.in_h * g.in_w * g.in_c * 4, "float32",
                    f"{fn}(&geom, pixels, A(norm_scale), A(norm_offset), A(w), A(b), (float *)scratch, "
                    "(float *)out)", p.expected_f32(), integer=False)


def prep_f32_vfma(p: Problem) -> Prepared:
    return _f32(p, "f32_vfma", "pm_first_vfma_f32")


def prep_f32_vmul(p: Problem) -> Prepared:
    return _f32(p, "f32_vmul", "pm_first_vmul_f32")


def prep_s8_im2col(p: Problem) -> Prepared:
    w = tb.pack_weights_s16(p.w_s8)
    kp = tb.padded_k(p.g.taps * p.g.in_c)
    return Prepared("s8_im2col", "pm_first_im2col_s8", {"w": w}, 5 * kp * 2, "int8",
                    f"pm_first_im2col_s8(&geom, input_s8, {p.input_offset_s8}, A(w), &rq, (int16_t *)scratch, "
                    "(int8_t *)out)", p.expected_s8(), params={"rq": p.rq_s8})


def prep_pe_embed_conv(p: Problem) -> Prepared:
    w = tb.pack_weights_s16(p.w_embed)
    lut = tb.embed_lut_s16(p.lut, -p.embed_zero_point)
    kp = tb.padded_k(p.g.taps * p.g.in_c * p.d)
    return Prepared("pe_embed_conv", "pm_first_embedconv_s8", {"lut": lut, "w": w}, 5 * kp * 2, "int8",
                    f"pm_first_embedconv_s8(&geom, pixels, A(lut), {p.d}, A(w), &rq, (int16_t *)scratch, "
                    "(int8_t *)out)", p.expected_embed(), params={"rq": p.rq_embed})


def prep_pe_folded(p: Problem) -> Prepared:
    t = p.folded()
    proof = tb.prove_int16(t)
    if proof.dtype == "int32":
        return prep_pe_folded_s32(p, note="int16 bound failed")
    note = "int16, whole window proved" if not proof.widens else f"int16, widen every {proof.widen_every}"
    arrays = {"tables": tb.folded_c_layout(t)}
    lb = tb.lane_bias(t, p.rq_embed.bias, proof)
    if lb is not None:
        arrays["lane_bias"] = lb
    return Prepared("pe_folded_s16", "pm_first_folded_s16", arrays, 0, "int8",
                    f"pm_first_folded_s16(&geom, pixels, A(tables), {proof.widen_every}, "
                    f"{'A(lane_bias)' if lb is not None else 'NULL'}, &rq, (int8_t *)out)",
                    p.expected_embed(), note=note, params={"rq": p.rq_embed, "proof": proof})


def prep_pe_folded_s32(p: Problem, note: str = "") -> Prepared:
    t = p.folded()
    return Prepared("pe_folded_s32", "pm_first_folded_s32", {"tables": t.astype(np.int32)}, 0, "int8",
                    "pm_first_folded_s32(&geom, pixels, A(tables), &rq, (int8_t *)out)", p.expected_embed(),
                    note=note or "int32 tables", params={"rq": p.rq_embed})


def prep_pe_joint(p: Problem) -> Prepared | None:
    t = p.joint()
    proof = tb.prove_int16(t)
    if proof.dtype == "int32":
        return None  # one joint row already sums all channels: no int32 kernel for it (not needed so far)
    g = p.g
    offs = tb.bin_offsets(p.bins_of, p.bins, g.taps, g.out_c)
    note = f"K={p.bins}, {t.shape[1]} rows/tap" + ("" if not proof.widens else f", widen every {proof.widen_every}")
    arrays = {"bin_offset": offs, "tables": tb.joint_c_layout(t, g.k, g.k)}
    lb = tb.lane_bias(t, p.rq_joint.bias, proof)
    if lb is not None:
        arrays["lane_bias"] = lb
    wb, hp = (g.out_w - 1) * g.stride + g.k, (g.out_h - 1) * g.stride + g.k
    return Prepared("pe_joint_s16", "pm_first_joint_s16", arrays, (wb * hp + wb * g.k) * 4, "int8",
                    f"pm_first_joint_s16(&geom, pixels, A(bin_offset), A(tables), {t.shape[1]}, "
                    f"{proof.widen_every}, {'A(lane_bias)' if lb is not None else 'NULL'}, &rq, "
                    "(uint32_t *)scratch, (int8_t *)out)",
                    p.expected_joint(), note=note, params={"rq": p.rq_joint, "proof": proof})


VARIANTS: dict[str, Callable[[Problem], Prepared | None]] = {
    "f32_vfma": prep_f32_vfma,
    "f32_vmul": prep_f32_vmul,
    "s8_im2col": prep_s8_im2col,
    "pe_embed_conv": prep_pe_embed_conv,
    "pe_folded_s16": prep_pe_folded,
    "pe_joint_s16": prep_pe_joint,
    "pe_folded_s32": prep_pe_folded_s32,  # last: the largest tables, dropped first when flash runs out
}

FLOAT_VARIANTS = ("f32_vfma", "f32_vmul")
PER_CHANNEL_PE = ("pe_embed_conv", "pe_folded_s16", "pe_folded_s32")
JOINT_PE = ("pe_joint_s16",)
KERNEL_SOURCES = ("pm_first_vfma_f32", "pm_first_vmul_f32", "pm_first_im2col_s8", "pm_first_embedconv_s8",
                  "pm_first_folded_s16", "pm_first_folded_s32", "pm_first_joint_s16")
