"""Training losses (skoperator.losses): values against their formulas, protocol checks."""

import numpy as np
import pytest
import torch

from skoperator.losses import HuberLoss, LossContext, MSELoss, RelativeL2Loss, check_loss


def _huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))


@pytest.mark.parametrize("delta", [0.1, 0.5, 1.0, 2.5])
def test_huber_loss_is_the_exact_huber_formula_at_every_delta(delta):
    r = np.linspace(-4, 4, 41).reshape(1, -1, 1)
    got = float(HuberLoss(delta=delta)(torch.tensor(r), None, torch.tensor([0]))[0])
    assert got == pytest.approx(_huber(r, delta).mean(), rel=1e-12)


def test_huber_loss_weights_its_entries_like_the_mse():
    r = np.array([[[0.3], [2.0], [-5.0]]])
    w = torch.tensor([[[1.0], [0.0], [2.0]]], dtype=torch.float64)
    got = float(HuberLoss(delta=0.7)(torch.tensor(r), w, torch.tensor([0]))[0])
    h = _huber(r, 0.7)[0, :, 0]
    assert got == pytest.approx((h[0] + 2 * h[2]) / 2, rel=1e-12)


def _context(n_outputs=1):
    return LossContext(g_scale=torch.ones(n_outputs), n_functions=3,
                       mean_square=lambda: torch.ones(3, n_outputs, dtype=torch.float64),
                       device=torch.device("cpu"))


@pytest.mark.parametrize("loss", [MSELoss(), RelativeL2Loss(), HuberLoss(delta=0.3)])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_check_loss_accepts_the_registered_losses(loss, n_outputs):
    context = _context(n_outputs)
    assert check_loss(loss.prepare(context), context) is loss
