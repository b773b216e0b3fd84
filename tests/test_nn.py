"""Pixel embedding and quantization-aware layers (issue 5)."""

import numpy as np
import pytest

import torch  # noqa: E402  (a required dependency: requirements.txt)
torch.set_num_threads(1)  # the CPUs are shared; more threads only oversubscribe them

from pixmcu.nn import ActQuant, PixelEmbedding, QConv2d, fake_quant_weight, weight_codes  # noqa: E402
from pixmcu.nn.fakequant import act_scale  # noqa: E402


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("init", ["ramp", "thermometer", "random"])
def test_lut_gets_gradients_and_codes_stay_on_grid(bits, shared, init):
    emb = PixelEmbedding(3, 5, bits, shared=shared, init=init)
    pixels = torch.randint(0, 256, (4, 3, 6, 6), dtype=torch.uint8)
    out = emb(pixels)
    assert out.shape == (4, 15, 6, 6)
    codes = out.detach() * emb.levels
    assert torch.equal(codes, torch.round(codes)) and codes.min() >= 0 and codes.max() <= emb.levels
    (out * torch.randn_like(out)).sum().backward()
    g = emb.weight.grad
    assert g is not None and g.abs().sum() > 0
    # Only entries of values that occurred receive gradient.
    used = torch.zeros(256, dtype=torch.bool)
    used[pixels.long().flatten()] = True
    assert g[:, ~used].abs().sum() == 0
    # One optimiser step keeps every code on the grid.
    with torch.no_grad():
        emb.weight -= 0.3 * g.sign()
    c = emb.codes()
    assert c.min() >= 0 and c.max() <= emb.levels and c.shape == (1 if shared else 3, 256, 5)


def test_embedding_layout_is_channel_major():
    emb = PixelEmbedding(2, 3, 2, init="random")
    pixels = torch.tensor([[[[7]], [[200]]]], dtype=torch.uint8)
    out = emb(pixels)[0, :, 0, 0]
    lut = emb.lut().detach()
    assert torch.equal(out, torch.cat([lut[0, 7], lut[1, 200]]))


@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("bins", [8, 16])
def test_binned_embedding(bins, learn):
    emb = PixelEmbedding(3, 4, 2, bins=bins, learn_bins=learn)
    idx = emb.bin_index()
    assert idx.shape == (3, 256) and idx.min() == 0 and idx.max() == bins - 1
    assert (idx[:, 1:] >= idx[:, :-1]).all()  # bins are contiguous value ranges
    if not learn:
        assert torch.equal(idx[0], torch.arange(256) * bins // 256)
    emb.train()
    out = emb(torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8))
    (out * torch.randn_like(out)).sum().backward()
    assert emb.weight.grad.abs().sum() > 0
    if learn:
        assert emb.bin_logits.grad is not None and emb.bin_logits.grad.abs().sum() > 0
    # The expanded table has at most K distinct vectors per channel.
    lut = emb.lut().detach()
    for c in range(3):
        assert len({tuple(v.tolist()) for v in lut[c]}) <= bins


def test_freeze_embedding():
    emb = PixelEmbedding(1, 4, 2).freeze()
    assert not emb.weight.requires_grad


@pytest.mark.parametrize("bits,qmax", [(8, 127), (4, 7), (2, 1), (1, 1)])
def test_weight_fake_quant_grid(bits, qmax):
    w = torch.randn(6, 3, 3, 3, requires_grad=True)
    wq, s = fake_quant_weight(w, bits)
    codes, s2 = weight_codes(w, bits)
    assert torch.allclose(wq.detach(), codes * s.view(-1, 1, 1, 1))
    assert codes.abs().max() <= qmax and torch.equal(codes, torch.round(codes))
    if bits == 1:
        assert set(codes.unique().tolist()) <= {-1.0, 1.0}
    wq.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight-through


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_activation_fake_quant(bits):
    q = ActQuant(bits)
    x = torch.linspace(-2, 8, 1001, requires_grad=True)
    y = q(x)
    codes = y.detach() / act_scale(bits)
    assert torch.allclose(codes, torch.round(codes), atol=1e-4)
    assert codes.min() == 0 and round(float(codes.max())) == (1 << bits) - 1
    y.sum().backward()
    inside = (x.detach() >= 0) & (x.detach() <= 6)
    assert torch.equal(x.grad, inside.float())


def test_bn_folding_matches_conv_then_bn():
    torch.manual_seed(0)
    conv = QConv2d(3, 8, 3, wbits=None)
    conv.train()
    x = torch.randn(16, 3, 8, 8)
    ident = ActQuant(None, kind="signed")
    for _ in range(5):
        conv(x, None, ident)  # populate running statistics
    conv.eval()
    ref = torch.nn.functional.conv2d(x, conv.weight, None, 1, 1)
    ref = conv.bn(ref)
    assert torch.allclose(conv(x, None, ident), ref, atol=1e-5)


def test_stride2_same_padding_is_tflites():
    from pixmcu.nn.layers import tflite_pad

    x = torch.ones(1, 1, 32, 32)
    y = tflite_pad(x, 3, 2, "same")
    assert y.shape[-2:] == (33, 33) and y[0, 0, 0, 0] == 1 and y[0, 0, -1, -1] == 0  # remainder goes after


def test_torch_requantization_equals_the_contract():
    from pixmcu import quant
    from pixmcu.nn.intexact import mbqm

    rng = np.random.default_rng(0)
    real = np.concatenate([rng.uniform(1e-5, 0.999, 60), [0.5, 0.25, 1 / 3, 2 ** -10, 1.7, 3.9, 1e-12]])
    m, shift = quant.quantize_multipliers(real)
    acc = rng.integers(quant.INT32_MIN, quant.INT32_MAX, (50, len(real)), endpoint=True)
    acc[0] = 1 << 20  # exact ties of both roundings
    acc[1] = -(1 << 20)
    acc[2] = 3
    acc[3] = -3
    acc[4] = quant.INT32_MIN  # the one saturating product, and left shifts that wrap
    acc[5] = quant.INT32_MAX
    acc[6] = rng.integers(-(1 << 21), 1 << 21, len(real))
    expect = quant.multiply_by_quantized_multiplier(acc, m[None], shift[None])
    got_int = mbqm(torch.from_numpy(acc), m[None], shift[None]).numpy()
    got_float = mbqm(torch.from_numpy(acc.astype(np.float64)), m[None], shift[None]).numpy()
    np.testing.assert_array_equal(got_int, expect)
    np.testing.assert_array_equal(got_float, expect)
    for j in (0, 61, 64, 65, 66):  # one multiplier for the whole tensor (the ADD path)
        np.testing.assert_array_equal(mbqm(torch.from_numpy(acc[:, j]), m[j], shift[j]).numpy(), expect[:, j])
    small = acc[:4, :64]  # the float64 fast path: multipliers below one, |acc| < 2^21
    np.testing.assert_array_equal(mbqm(torch.from_numpy(small.astype(np.float64)), m[None, :64], shift[None, :64]).numpy(),
                                  quant.multiply_by_quantized_multiplier(small, m[None, :64], shift[None, :64]))
