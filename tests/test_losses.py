import math

import pytest
import torch

from igtt.nn.losses import dmi_loss, joint_matrix, masked_balanced_bce, soft_iou_loss

EPS = 1e-6


def t(values):
    return torch.tensor([values], dtype=torch.float32)


def test_joint_matrix_by_hand():
    # p = [1, 0, 0.5, 0.5], y = [1, 0, 1, 0]
    q = joint_matrix(t([1, 0, 0.5, 0.5]), t([1, 0, 1, 0]))[0]
    # q00 = mean(p*y) = (1 + 0.5)/4, q01 = mean(p*(1-y)) = 0.5/4
    # q10 = mean((1-p)*y) = 0.5/4, q11 = mean((1-p)*(1-y)) = (1 + 0.5)/4
    expected = torch.tensor([[1.5, 0.5], [0.5, 1.5]]) / 4
    assert torch.allclose(q, expected)
    assert q.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "p, y, signed, expected",
    [
        ([1, 0, 1, 0], [1, 0, 1, 0], False, -math.log(0.25 + EPS)),  # det = 1/4
        ([1, 0, 1, 0], [0, 1, 0, 1], False, -math.log(0.25 + EPS)),  # det = -1/4, |det| = 1/4
        ([1, 0, 1, 0], [0, 1, 0, 1], True, -math.log(EPS)),  # signed: anti-correlation counts as none
        ([1, 0, 0.5, 0.5], [1, 0, 1, 0], False, -math.log(0.125 + EPS)),  # det = (2.25 - .25)/16
        ([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0], False, -math.log(EPS)),  # constant p: no information
    ],
)
def test_dmi_loss_values(p, y, signed, expected):
    assert dmi_loss(t(p), t(y), signed=signed).item() == pytest.approx(expected, rel=1e-5)


def test_dmi_all_black_label_gives_zero_gradient():
    # the paper's start: an all-zero label makes det Q = 0 for every p
    p = torch.rand(2, 8, 8, requires_grad=True)
    loss = dmi_loss(p, torch.zeros(2, 8, 8)) + soft_iou_loss(p, torch.zeros(2, 8, 8))
    loss.backward()
    assert torch.count_nonzero(p.grad) == 0


def test_soft_iou_by_hand():
    # inter = 1 + 0.5 = 1.5; union = (1+1-1) + (0.5+1-0.5) + 0 = 2 -> 1 - 0.75
    assert soft_iou_loss(t([1, 0.5, 0]), t([1, 1, 0])).item() == pytest.approx(0.25, abs=1e-5)
    assert soft_iou_loss(t([1, 0, 1]), t([1, 0, 1])).item() == pytest.approx(0.0, abs=1e-5)


def test_masked_balanced_bce_ignores_unlabelled_and_balances():
    logits = torch.tensor([[0.0, 0.0, 5.0, -5.0]])
    y = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    # only the first two pixels count: BCE(0, 1) = BCE(0, 0) = log 2
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert masked_balanced_bce(logits, y, w).item() == pytest.approx(math.log(2), rel=1e-6)
    # one foreground against three background pixels still weighs half
    logits = torch.tensor([[0.0, 100.0, 100.0, 100.0]])
    y = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = torch.ones(1, 4)
    fg = (math.log(2) + 0 + 0) / 3
    bg = 100.0  # BCE of logit 100 against 0
    assert masked_balanced_bce(logits, y, w).item() == pytest.approx((fg + bg) / 2, rel=1e-4)
