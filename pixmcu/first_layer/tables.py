"""Tables and packed weights for the first-layer kernels, and the proofs that int16 sums are safe.

Folding: the conv over the embedded image sums, per output channel o and tap t,
    sum_c sum_j W[o, t, c*d + j] * (E[c, v_c, j] + input_offset)
which, for each (t, c), is a function of the single pixel value v_c: a table T[t, c, v, o]. The
first layer becomes table lookups and additions, exactly (integers, no rounding). For a binned
embedding every channel's 256 values fall into K bins; the sum over all channels of a pixel is then a
function of the joint bin (K^C values): one table J[t, joint, o] and one lookup per tap.

Int16 accumulation: the kernels add int16 rows with wrapping 16-bit lanes (SADD16). Wrapping
arithmetic is exact modulo 2^16, so a lane sum is right whenever its true value fits int16, however
the intermediate sums wrap. A window at the border skips its padding taps, so the bound must hold for
every subset of lookups: per channel, the sum of positive row maxima and the sum of negative row
minima. Where the whole window does not fit, the kernel widens into int32 every L lookups, and L is
proved for every choice of L lookups (the L largest maxima). Where not even one entry fits, int32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixmcu.first_layer.reference import Geometry

INT16_MIN, INT16_MAX = -32768, 32767


def padded_k(k: int) -> int:
    """Window length rounded up to a multiple of 4, the GEMM core's unroll."""
    return (k + 3) & ~3


def pack_weights_s16(w: np.ndarray) -> np.ndarray:
    """(out_c, k, k, C) int8 weights -> int16 [ceil(out_c/2)][kp/2][2][2]: the window in row-major
    order, zero-filled to kp (a multiple of 4), channel pairs interleaved word by word so that one
    LDRD fetches two weights of both channels; an odd last channel is paired with zeros."""
    w = np.asarray(w, np.int64)
    co = w.shape[0]
    flat = w.reshape(co, -1)
    kp = padded_k(flat.shape[1])
    full = np.zeros(((co + 1) // 2 * 2, kp), np.int16)
    full[:co, :flat.shape[1]] = flat
    pairs = full.reshape(-1, 2, kp // 2, 2)  # (pair, channel, k/2, 2)
    return np.ascontiguousarray(pairs.transpose(0, 2, 1, 3))


def embed_lut_s16(lut: np.ndarray, input_offset: int) -> np.ndarray:
    """(C, 256, d) embedding table plus the conv's input offset, as int16 im2col values."""
    v = np.asarray(lut, np.int64) + int(input_offset)
    assert v.min() >= INT16_MIN and v.max() <= INT16_MAX
    return v.astype(np.int16)


def fold_tables(lut: np.ndarray, w: np.ndarray, input_offset: int) -> np.ndarray:
    """T[t, c, v, o] (int64): the partial sum of output channel o for value v of channel c at tap t.

    lut (C, 256, d) int8; w (out_c, k, k, C*d) int8, input channel c*d + j.
    """
    lut = np.asarray(lut, np.int64) + int(input_offset)
    c, _, d = lut.shape
    w = np.asarray(w, np.int64)
    co, k = w.shape[0], w.shape[1]
    wt = w.reshape(co, k * k, c, d)  # (o, t, c, j)
    return np.einsum("cvj,otcj->tcvo", lut, wt)


def bin_index(bins: int, thresholds: np.ndarray | None = None, channels: int = 1) -> np.ndarray:
    """(C, 256) bin of every value: uniform, or from sorted per-channel thresholds (C, K-1)."""
    v = np.arange(256)
    if thresholds is None:
        return np.tile((v * bins) // 256, (channels, 1)).astype(np.int64)
    th = np.asarray(thresholds)
    return np.stack([np.searchsorted(th[c], v, side="right") for c in range(th.shape[0])]).astype(np.int64)


def expand_binned(bin_lut: np.ndarray, bins_of: np.ndarray) -> np.ndarray:
    """(C, K, d) binned table and (C, 256) bin indices -> the equivalent (C, 256, d) table."""
    bin_lut = np.asarray(bin_lut)
    c = bin_lut.shape[0]
    return bin_lut[np.arange(c)[:, None], bins_of]


def joint_tables(bin_lut: np.ndarray, w: np.ndarray, input_offset: int) -> np.ndarray:
    """J[t, joint, o] (int64) with joint = sum_c bin_c * K^(C-1-c): all channels of a pixel at tap t."""
    bl = np.asarray(bin_lut, np.int64) + int(input_offset)
    c, kb, d = bl.shape
    w = np.asarray(w, np.int64)
    co, k = w.shape[0], w.shape[1]
    wt = w.reshape(co, k * k, c, d)
    per = np.einsum("cbj,otcj->tcbo", bl, wt)  # (t, c, K, o)
    total = np.zeros((k * k,) + (kb,) * c + (co,), np.int64)
    for ch in range(c):
        shape = [k * k] + [1] * c + [co]
        shape[1 + ch] = kb
        total = total + per[:, ch].reshape(shape)
    return total.reshape(k * k, kb ** c, co)


def block_width(out_c: int) -> int:
    """Channels per table block, as the C kernels' pm_fl_block(): whole registers of int16 pairs."""
    return 16 if out_c % 16 == 0 else (8 if out_c % 8 == 0 else out_c)


def blocked_weights_f32(w: np.ndarray) -> np.ndarray:
    """(out_c, k, k, C) float32 -> the C layout [out_c/NB][k][k][C][NB]."""
    co = w.shape[0]
    nb = block_width(co)
    wt = np.asarray(w, np.float32).transpose(1, 2, 3, 0)  # (k, k, C, out_c)
    return np.ascontiguousarray(wt.reshape(wt.shape[:3] + (co // nb, nb)).transpose(3, 0, 1, 2, 4))


def folded_c_layout(tables: np.ndarray) -> np.ndarray:
    """(L, 256, out_c) -> the C layout [out_c/NB][L][256][NB], int16."""
    lk, rows, co = tables.shape
    nb = block_width(co)
    return np.ascontiguousarray(tables.reshape(lk, rows, co // nb, nb).transpose(2, 0, 1, 3)).astype(np.int16)


def joint_c_layout(tables: np.ndarray, k_h: int, k_w: int) -> np.ndarray:
    """(taps, n_joint, out_c), taps row-major (ky, kx) -> the C layout [out_c/NB][n_joint + 1][k_w][k_h][NB],
    int16: taps kx-major (the order of the kernel's column-wise band) and an all-zero last row that
    padding reads."""
    taps, rows, co = tables.shape
    nb = block_width(co)
    t = np.asarray(tables).reshape(k_h, k_w, rows, co).transpose(1, 0, 2, 3).reshape(taps, rows, co)
    t = np.concatenate([t, np.zeros((taps, 1, co), t.dtype)], axis=1)
    return np.ascontiguousarray(t.reshape(taps, rows + 1, co // nb, nb).transpose(2, 1, 0, 3)).astype(np.int16)


def bin_offsets(bins_of: np.ndarray, bins: int, taps: int, out_c: int) -> np.ndarray:
    """(C, 256) uint32: each value's bin times its channel's place value times taps*NB: summed over the
    channels of a pixel, the element offset of its joint row in the C layout."""
    c = bins_of.shape[0]
    place = bins ** np.arange(c - 1, -1, -1)
    off = np.asarray(bins_of, np.int64) * place[:, None] * taps * block_width(out_c)
    return off.astype(np.uint32)


@dataclass(frozen=True)
class Int16Proof:
    """What the bound proof established for one set of tables."""

    dtype: str            # "int16" or "int32"
    widen_every: int      # 0: int16 lanes hold a whole window; else lookups between widenings
    lookups: int          # lookups per full window
    max_pos: int          # the worst channel's positive bound over the window
    max_neg: int          # and its negative bound

    @property
    def widens(self) -> bool:
        return self.dtype == "int16" and self.widen_every != 0


def prove_int16(tables: np.ndarray) -> Int16Proof:
    """Prove (from the actual tables) how far int16 lanes can accumulate without a wrong result.

    tables: (lookups, rows, out_c), one row block per lookup of a window, in any order.
    """
    t = np.asarray(tables, np.int64)
    lookups = t.shape[0]
    pos = np.maximum(t.max(axis=1), 0)  # (lookups, out_c)
    neg = np.minimum(t.min(axis=1), 0)
    hi, lo = int(pos.sum(axis=0).max()), int(neg.sum(axis=0).min())
    if hi <= INT16_MAX and lo >= INT16_MIN:
        return Int16Proof("int16", 0, lookups, hi, lo)
    if t.max() > INT16_MAX or t.min() < INT16_MIN:
        return Int16Proof("int32", 0, lookups, hi, lo)
    # Any L lookups: the L largest positive maxima and the L most negative minima of each channel.
    pos_sorted = np.cumsum(-np.sort(-pos, axis=0), axis=0).max(axis=1)
    neg_sorted = np.cumsum(np.sort(neg, axis=0), axis=0).min(axis=1)
    ok = (pos_sorted <= INT16_MAX) & (neg_sorted >= INT16_MIN)
    widen = int(np.argmin(ok)) if not ok.all() else lookups  # first failing L is index L-1+1
    return Int16Proof("int16", max(widen, 1), lookups, hi, lo)


def lane_bias(tables: np.ndarray, bias: np.ndarray, proof: Int16Proof) -> np.ndarray | None:
    """The int16 bias to start the kernels' lanes from, when bias plus any window sum provably fits
    int16 (whole-window int16 proofs only); None: the kernel adds the bias at requantization."""
    if proof.dtype != "int16" or proof.widen_every != 0:
        return None
    t = np.asarray(tables, np.int64)
    pos = np.maximum(t.max(axis=1), 0).sum(axis=0)
    neg = np.minimum(t.min(axis=1), 0).sum(axis=0)
    b = np.asarray(bias, np.int64)
    if (b + pos).max() > INT16_MAX or (b + neg).min() < INT16_MIN:
        return None
    return b.astype(np.int16)


def folded_lookup_tables(lut: np.ndarray, w: np.ndarray, input_offset: int) -> np.ndarray:
    """fold_tables flattened to (taps*C, 256, out_c): the kernels' lookup order, tap-major."""
    t = fold_tables(lut, w, input_offset)
    return t.reshape(t.shape[0] * t.shape[1], 256, t.shape[3])


def emulate_lookups(idx_rows: np.ndarray, valid: np.ndarray, tables: np.ndarray, widen_every: int,
                    int16: bool) -> np.ndarray:
    """What a table kernel computes: for each window, the lookups' rows summed in kernel order, in
    wrapping int16 lanes widened every `widen_every` valid lookups (0: at the end), or in int32.

    idx_rows (P, L) row index of each lookup, valid (P, L) bool, tables (L, rows, out_c).
    Returns (P, out_c) int64 accumulators.
    """
    p, lcount = idx_rows.shape
    co = tables.shape[2]
    acc = np.zeros((p, co), np.int64)
    lane = np.zeros((p, co), np.int64)
    seen = np.zeros(p, np.int64)
    for lk in range(lcount):
        rows = tables[lk][idx_rows[:, lk]] * valid[:, lk, None]
        if not int16:
            acc += rows
            continue
        lane = ((lane + rows + 32768) & 0xFFFF) - 32768
        seen += valid[:, lk]
        if widen_every:
            flush = valid[:, lk] & (seen % widen_every == 0)
            acc[flush] += lane[flush]
            lane[flush] = 0
    return acc + lane


def folded_acc(pixels: np.ndarray, tables: np.ndarray, g: Geometry, widen_every: int = 0,
               int16: bool = True) -> np.ndarray:
    """Accumulators of the per-channel folded kernel (out_h, out_w, out_c), emulating its int16 lanes."""
    from pixmcu.first_layer.reference import valid_mask, windows

    win = windows(pixels, g)  # (oh, ow, k, k, C)
    mask = np.broadcast_to(valid_mask(g)[..., None], win.shape)
    p = g.out_h * g.out_w
    acc = emulate_lookups(win.reshape(p, -1), mask.reshape(p, -1), tables, widen_every, int16)
    return acc.reshape(g.out_h, g.out_w, -1)


def joint_acc(pixels: np.ndarray, bins_of: np.ndarray, bins: int, tables: np.ndarray, g: Geometry,
              widen_every: int = 0, int16: bool = True) -> np.ndarray:
    """Accumulators of the joint-table kernel (out_h, out_w, out_c), emulating its int16 lanes."""
    from pixmcu.first_layer.reference import valid_mask, windows

    c = bins_of.shape[0]
    place = bins ** np.arange(c - 1, -1, -1)
    joint = (bins_of[np.arange(c), np.asarray(pixels, np.intp)] * place).sum(axis=-1)  # (H, W)
    win = windows(joint[..., None], g)[..., 0]  # (oh, ow, k, k)
    p = g.out_h * g.out_w
    acc = emulate_lookups(win.reshape(p, -1), valid_mask(g).reshape(p, -1), tables, widen_every, int16)
    return acc.reshape(g.out_h, g.out_w, -1)
