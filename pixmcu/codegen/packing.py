"""Generate-time data layouts for the packed convolution kernels (firmware/kernels/pm_conv_packed.h).

Everything a kernel would otherwise recompute per pixel is prepared here once: weights widened to
int16 (or kept int8) and interleaved in the order the SMLAD loop reads them, biases and
requantization records (two words on the short path, four otherwise) padded to blocks of four output
channels, the proof that lets a layer take the short
requantization path, and the residual ADD's per-input rescaling as two 256-entry tables.
"""

from __future__ import annotations

import numpy as np

from pixmcu import quant

BLOCK = 4  # output channels per inner-loop block
GROUP = 4  # input channels per packed group (one 32-bit input load)


def _ceil(x: int, m: int) -> int:
    return -(-x // m) * m


def pack_weights(w: np.ndarray) -> np.ndarray:
    """OHWI int8 filter -> int32 words: [oc block][ky][kx][group of 4 cin][4 oc][2 words].

    Word 0 of a (group, oc) holds the weights of input channels 0 and 2 (low, high halfword), word 1
    those of channels 1 and 3: the lanes SXTAB16 and SXTAB16 ROR #8 make of one input word.
    Missing output or input channels (padding to multiples of 4) get zero weights.
    """
    w = np.asarray(w, dtype=np.int64)
    oc, kh, kw, c = w.shape
    ocp, cp = _ceil(oc, BLOCK), _ceil(c, GROUP)
    full = np.zeros((ocp, kh, kw, cp), dtype=np.int64)
    full[:oc, :, :, :c] = w
    g = full.reshape(ocp // BLOCK, BLOCK, kh, kw, cp // GROUP, GROUP)
    g = g.transpose(0, 2, 3, 4, 1, 5)  # block, ky, kx, group, oc, cin-in-group
    lo = np.stack([g[..., 0], g[..., 1]], axis=-1)
    hi = np.stack([g[..., 2], g[..., 3]], axis=-1)
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32).reshape(-1)


def pack_weights8(w: np.ndarray) -> np.ndarray:
    """OHWI int8 filter -> int32 words for pm_conv2d_packed8_*: [oc block][ky][kx][group of 4 cin][4 oc],
    each word the four int8 weights of the group's input channels (byte k = channel k). Padding as
    pack_weights."""
    w = np.asarray(w, dtype=np.int8)
    oc, kh, kw, c = w.shape
    ocp, cp = _ceil(oc, BLOCK), _ceil(c, GROUP)
    full = np.zeros((ocp, kh, kw, cp), dtype=np.int8)
    full[:oc, :, :, :c] = w
    g = full.reshape(ocp // BLOCK, BLOCK, kh, kw, cp // GROUP, GROUP).transpose(0, 2, 3, 4, 1, 5)
    return np.ascontiguousarray(g).reshape(-1).view(np.int32)


def _padded_lowbit(w: np.ndarray, bits: int) -> np.ndarray:
    """An OHWI filter checked to fit signed `bits`, zero-padded to whole output-channel blocks and
    input-channel groups."""
    w = np.asarray(w, dtype=np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if w.size and (w.min() < lo or w.max() > hi):
        raise ValueError(f"weights outside int{bits} [{lo}, {hi}]")
    oc, kh, kw, c = w.shape
    full = np.zeros((_ceil(oc, BLOCK), kh, kw, _ceil(c, GROUP)), dtype=np.int64)
    full[:oc, :, :, :c] = w
    return full


def pack_weights4(w: np.ndarray) -> np.ndarray:
    """OHWI filter with every value in [-8, 7] -> int32 words for pm_conv2d_packed4_*: [oc block][ky][kx]
    [group of 4 cin][2 words]; word j byte k holds input channel k of output channel 2j in its low
    nibble and of 2j+1 in its high nibble (two's complement nibbles, low nibble first as TFLite's int4).
    Padding as pack_weights."""
    full = _padded_lowbit(w, 4)
    ocp, kh, kw, cp = full.shape
    g = full.reshape(ocp // BLOCK, 2, 2, kh, kw, cp // GROUP, GROUP).transpose(0, 3, 4, 5, 1, 6, 2)
    nib = g & 0xF  # block, ky, kx, group, word j, cin k, (even, odd) output channel
    packed = (nib[..., 0] | (nib[..., 1] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed).reshape(-1).view(np.int32)


def fits_int4(w: np.ndarray, input_offset: int) -> bool:
    """Whether a filter can take the int4 kernels (fits_lowbit with 4 bits)."""
    return fits_lowbit(w, input_offset, 4)


def pack_weights2(w: np.ndarray) -> np.ndarray:
    """OHWI filter with every value in [-2, 1] -> int32 words for pm_conv2d_packed2_*: [oc block][ky][kx]
    [group of 4 cin], one word each; byte k holds input channel k, bits 2j+1:2j output channel j of the
    block (two's complement 2-bit fields, lowest bits first like the int4 layout). Padding as pack_weights."""
    full = _padded_lowbit(w, 2)
    ocp, kh, kw, cp = full.shape
    g = full.reshape(ocp // BLOCK, BLOCK, kh, kw, cp // GROUP, GROUP).transpose(0, 2, 3, 4, 5, 1)
    fields = (g & 0x3) << (2 * np.arange(BLOCK))  # block, ky, kx, group, cin k, output channel j
    return np.ascontiguousarray(fields.sum(axis=-1).astype(np.uint8)).reshape(-1).view(np.int32)


def fits_lowbit(w: np.ndarray, input_offset: int, bits: int) -> bool:
    """Whether a filter can take the int4 (bits 4) or 2-bit (bits 2) kernels: every weight in
    [-2^(bits-1), 2^(bits-1) - 1], and 2^(8-bits) x the largest |dot product| over int8 inputs fits
    int32 (the kernels sum the fields moved to the top of their bytes)."""
    w = np.asarray(w, dtype=np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not w.size or w.min() < lo or w.max() > hi:
        return False
    xmax = max(abs(-128 + input_offset), abs(127 + input_offset))
    dot = int(np.abs(w).reshape(w.shape[0], -1).sum(axis=1).max()) * xmax
    return bool((dot << (8 - bits)) <= quant.INT32_MAX)


# Blocks of four output channels per assembly call of the 1x1 kernels (PM_1X1_CHUNK, pm_conv_packed.h).
CHUNK_BLOCKS = 8


def pointwise_scratch(cin: int, cout: int) -> int:
    """Scratch bytes of pm_conv2d_packed(8)_1x1_s8: the pixel widened to int16, one chunk of raw sums."""
    return cin // GROUP * 8 + min(_ceil(cout, BLOCK) // BLOCK, CHUNK_BLOCKS) * 16


def _record(multiplier: int, shift: int, short: bool) -> list[int]:
    """{multiplier, left, right, 2^right - 1}, or on the short path {multiplier, right - 1}
    (pm_requant_fast.h)."""
    left, right = max(int(shift), 0), max(-int(shift), 0)
    if short:
        return [int(multiplier), right - 1]
    return [int(multiplier), left, right, (1 << right) - 1]


def record_words(short: bool) -> int:
    """Words per requantization record (PM_REC_WORDS in pm_requant_fast.h)."""
    return 2 if short else 4


def _fits_short(bound: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> bool:
    """The kernels' short requantization path is exact when every value v satisfies 2|v| <= INT32_MAX
    (SMMULR(v << 1, m) is then SRDHM(v, m), and |result| <= 2^30) and 1 <= right shift <= 30 (no left
    shift; adding 2^(right-1) to the result cannot overflow)."""
    sh = np.asarray(shift, np.int64)
    ok = (np.asarray(bound, np.int64) * 2 <= quant.INT32_MAX) & (sh <= -1) & (sh >= -30)
    return bool(ok.all() and (np.asarray(multiplier) >= 0).all())


# A constant channel's stand-in: bias K * 2^21 requantized by (2^30, right shift 20) gives K for every
# accumulator within 2^19 of the bias.
_CONST_SHIFT = -20
_CONST_REACH = 1 << 19


def _constant_channels(b: np.ndarray, reach: np.ndarray, mult: np.ndarray, sh: np.ndarray) -> None:
    """Channels whose requantized value is one constant K over every accumulator they can reach
    (bias +- reach; e.g. a dead channel: bias 2^30, one weight of 1, shift -31) get a stand-in that
    fits the short path: bias K' * 2^21, multiplier 2^30, shift -20, K' = K clipped to [-256, 256]
    (past +-256 the output offset in [-128, 127] and any clamp give the same int8 either way).
    Both the constancy and the stand-in are checked over the whole reach; in place."""
    for k in range(len(mult)):
        r = int(reach[k])
        fits = (abs(int(b[k])) + r) * 2 <= quant.INT32_MAX and -30 <= int(sh[k]) <= -1 and int(mult[k]) >= 0
        if fits or r >= _CONST_REACH:
            continue
        accs = np.arange(int(b[k]) - r, int(b[k]) + r + 1, dtype=np.int64)
        if accs[0] < quant.INT32_MIN or accs[-1] > quant.INT32_MAX:
            continue
        vals = quant.multiply_by_quantized_multiplier(accs, int(mult[k]), int(sh[k]))
        if vals.min() != vals.max():
            continue
        kc = int(np.clip(vals[0], -256, 256))
        nb = kc << (-_CONST_SHIFT + 1)
        got = quant.multiply_by_quantized_multiplier(np.arange(nb - r, nb + r + 1, dtype=np.int64), 1 << 30,
                                                     _CONST_SHIFT)
        if got.min() == got.max() == kc:
            b[k], mult[k], sh[k] = nb, 1 << 30, _CONST_SHIFT


def conv_constants(w: np.ndarray, bias: np.ndarray | None, multiplier, shift, input_offset: int,
                   constant_channels: bool = False) -> dict:
    """Padded bias, requantization records and the short-path flag of one convolution.
    constant_channels: channels whose output cannot vary get short-path stand-ins (_constant_channels),
    so one degenerate channel does not send a whole layer down the long path; only for kernels that
    take this bias as it is (not the Helium ones, which fold their own)."""
    w = np.asarray(w, dtype=np.int64)
    oc = w.shape[0]
    ocp = _ceil(oc, BLOCK)
    b = np.zeros(ocp, dtype=np.int64)
    if bias is not None:
        b[:oc] = np.asarray(bias, dtype=np.int64)
    # Largest |accumulator| over any input: int8 values plus the offset, any subset of taps (borders).
    xmax = max(abs(-128 + input_offset), abs(127 + input_offset))
    mult = np.array(np.broadcast_to(np.asarray(multiplier, dtype=np.int64), (oc,)))
    sh = np.array(np.broadcast_to(np.asarray(shift, dtype=np.int64), (oc,)))
    if constant_channels:
        _constant_channels(b, np.abs(w).reshape(oc, -1).sum(axis=1) * xmax, mult, sh)
    bound = np.abs(b[:oc]) + np.abs(w).reshape(oc, -1).sum(axis=1) * xmax
    short = _fits_short(bound, mult, sh) and bool((bound <= quant.INT32_MAX).all())
    recs = [_record(mult[k], sh[k], short) for k in range(oc)] + [[0] * record_words(short)] * (ocp - oc)
    return {"bias": b.astype(np.int32), "requant": np.asarray(recs, dtype=np.int64).astype(np.int32).reshape(-1),
            "short_requant": int(short)}


def add_tables(p: dict, conv_is_input1: bool) -> dict:
    """The residual ADD (lowered parameters `p`) as two rescaling tables and one output record."""
    v = np.arange(-128, 128, dtype=np.int64)

    def table(k: int) -> np.ndarray:
        shifted = quant.wrap32((v + p[f"input{k}_offset"]) << p["left_shift"])
        return quant.multiply_by_quantized_multiplier(shifted, p[f"input{k}_multiplier"], p[f"input{k}_shift"])

    t1, t2 = table(1), table(2)
    conv_t, res_t = (t1, t2) if conv_is_input1 else (t2, t1)
    bound = np.array([np.abs(t1).max() + np.abs(t2).max()])
    short = _fits_short(bound, np.array([p["output_multiplier"]]), np.array([p["output_shift"]]))
    return {"conv_table": conv_t.astype(np.int32), "residual_table": res_t.astype(np.int32),
            # Padded to four words: the fused kernels copy four (the short path reads two).
            "requant": np.asarray((_record(p["output_multiplier"], p["output_shift"], short) + [0, 0])[:4],
                                  dtype=np.int32),
            "short_requant": int(short)}


MVE_CHUNK = 16  # bytes per Helium vector


def mve_constants(w: np.ndarray, bias: np.ndarray | None, multiplier, shift, input_offset: int) -> dict:
    """The Helium convolutions' constants (pm_conv_mve_params_t): the OHWI filter flattened to one
    window of n bytes per output channel, regrouped [cout/4][n/16][4][16] (n rounded up to 16, cout to
    4, zero weights); per group of four output channels 16 words: biases with input_offset x filter
    sum folded in (wrapping like the int32 accumulators they stand for), multipliers, left shifts,
    negated right shifts."""
    w = np.asarray(w, dtype=np.int64)
    oc = w.shape[0]
    n = int(np.prod(w.shape[1:]))
    ocp, n_pad = _ceil(oc, BLOCK), _ceil(n, MVE_CHUNK)
    flat = np.zeros((ocp, n_pad), dtype=np.int8)
    flat[:oc, :n] = w.reshape(oc, n)
    weights = flat.reshape(ocp // BLOCK, BLOCK, n_pad // MVE_CHUNK, MVE_CHUNK).transpose(0, 2, 1, 3)
    rec = np.zeros((4, ocp), dtype=np.int64)
    b = np.zeros(oc, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    rec[0, :oc] = quant.wrap32(b + w.reshape(oc, n).sum(axis=1) * int(input_offset))
    rec[1, :oc] = np.broadcast_to(np.asarray(multiplier, dtype=np.int64), (oc,))
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64), (oc,))
    rec[2, :oc] = np.maximum(sh, 0)
    rec[3, :oc] = np.minimum(sh, 0)
    requant = rec.reshape(4, ocp // BLOCK, BLOCK).transpose(1, 0, 2)
    return {"weights": np.ascontiguousarray(weights).reshape(-1), "requant": requant.astype(np.int32).reshape(-1)}


def mve_right_only(requant: np.ndarray) -> int:
    """1 when every channel of mve_constants' records has no left shift and a right shift of at least 1,
    or a multiplier of 0 (its output is then 0 either way): the kernels' short requantization."""
    rec = np.asarray(requant, np.int64).reshape(-1, 4, 4)  # group, field, lane
    mult, left, neg_right = rec[:, 1], rec[:, 2], rec[:, 3]
    return int(bool(((mult == 0) | ((left == 0) & (neg_right <= -1))).all()))
