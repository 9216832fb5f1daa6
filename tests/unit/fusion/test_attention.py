"""Positive/negative cross-attention (Eq. 29-34) and attentive pooling."""

import math

import pytest
import torch

from m3tr.core.fusion.attention import (
    AttentivePooling,
    GuidedFFN,
    PairBlock,
    PosNegCrossAttention,
    masked_softmax,
)


def test_masked_softmax_ignores_masked_keys_and_empty_rows():
    scores = torch.tensor([[[1.0, 2.0, 100.0]], [[0.0, 0.0, 0.0]]])  # (2, 1, 3)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    w = masked_softmax(scores, mask)
    e = math.exp(1.0)
    assert torch.allclose(w[0, 0], torch.tensor([1 / (1 + e), e / (1 + e), 0.0]))
    assert torch.equal(w[1], torch.zeros(1, 3))


def test_positive_and_negative_attention_prefer_opposite_keys():
    torch.manual_seed(0)
    d = 4
    att = PosNegCrossAttention(d, alpha=0.8)
    assert att.gamma == pytest.approx(-0.2)
    eye = torch.eye(d)
    for lin in (att.q_pos, att.k_pos, att.v_pos, att.q_neg, att.k_neg, att.v_neg):
        lin.weight.data.copy_(eye)
        lin.bias.data.zero_()
    q = torch.tensor([[[10.0, 0.0, 0.0, 0.0]]])  # (1, 1, d)
    keys = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]]])  # (1, 2, d)
    pos, neg = att(q, keys, torch.ones(1, 2, dtype=torch.bool))
    # the positive output leans to the aligned key, the negative one to the opposed key
    assert pos[0, 0, 0] > 0 > neg[0, 0, 0]


def test_masked_keys_do_not_change_the_output():
    torch.manual_seed(0)
    block = PairBlock(8, 0.8, 0.0).eval()
    q = torch.randn(2, 3, 8)
    k = torch.randn(2, 5, 8)
    mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    out1 = block(q, k, mask)
    k2 = k.clone()
    k2[0, 2:] = 1e3 * torch.randn(3, 8)  # garbage where masked
    assert torch.allclose(out1, block(q, k2, mask), atol=1e-5)


def test_absent_key_modality_adds_nothing():
    torch.manual_seed(0)
    ffn = GuidedFFN(8)
    x = torch.randn(2, 3, 8)
    junk = torch.randn(2, 3, 8)
    has = torch.tensor([False, True])
    out = ffn(x, junk, junk, has)
    expected0 = ffn.w2(torch.relu(x[0]))  # Eq. 33 with no guide term
    assert torch.allclose(out[0], expected0, atol=1e-6)
    assert not torch.allclose(out[1], ffn.w2(torch.relu(x[1])))


def test_attentive_pooling_masks_and_backward():
    torch.manual_seed(0)
    pool = AttentivePooling(6)
    x = torch.randn(3, 4, 6, requires_grad=True)
    mask = torch.tensor([[True, False, False, False], [True, True, True, True], [False] * 4])
    out = pool(x, mask)
    assert torch.allclose(out[0], x[0, 0])  # one real token: pooled = that token
    assert torch.equal(out[2], torch.zeros(6))
    out.sum().backward()
    assert torch.equal(x.grad[0, 1:], torch.zeros(3, 6))
