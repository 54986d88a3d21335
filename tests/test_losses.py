"""Training losses (skoperator.losses): values against their formulas, protocol checks."""

import numpy as np
import pytest
import torch

from skoperator.losses import HuberLoss, LossContext, MSELoss, RelativeL2Loss, as_loss, check_loss


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


def test_huber_loss_default_delta_is_one():
    r = np.linspace(-3, 3, 13).reshape(1, -1, 1)
    got = float(HuberLoss()(torch.tensor(r), None, torch.tensor([0]))[0])
    assert HuberLoss().delta == 1.0 and got == pytest.approx(_huber(r, 1.0).mean(), rel=1e-12)


def test_a_single_weighted_entry_is_its_own_mean():
    r = torch.tensor([[[3.0], [5.0]]], dtype=torch.float64)
    w = torch.tensor([[[0.0], [1.0]]], dtype=torch.float64)
    assert float(HuberLoss(delta=10.0)(r, w, torch.tensor([0]))[0]) == 12.5  # 0.5 * 5^2
    assert float(MSELoss().prepare(_context())(r, w, torch.tensor([0]))[0]) == 25.0


def _scaled(scale):
    scale = torch.tensor(scale, dtype=torch.float64)
    return MSELoss().prepare(LossContext(g_scale=scale, n_functions=2, mean_square=None,
                                         device=torch.device("cpu")))


def test_mse_of_one_field_against_its_formula():
    loss = _scaled([3.0])
    r = torch.tensor([[[1.0], [2.0]], [[3.0], [-1.0]]], dtype=torch.float64)  # (2, 2, 1)
    value, report = loss(r, None, torch.tensor([0, 1]))
    assert (float(value), report, loss.report_factor()) == (15.0 / 4, None, 9.0)
    w = torch.tensor([[[1.0], [0.0]], [[2.0], [1.0]]], dtype=torch.float64)
    value, report = loss(r, w, torch.tensor([0, 1]))
    assert (float(value), report) == ((1.0 + 2 * 9.0 + 1.0) / 3, None)


def test_mse_of_several_fields_reports_each_field_in_its_units():
    loss = _scaled([2.0, 3.0])
    r = torch.tensor([[[1.0, 2.0], [3.0, 0.0]]], dtype=torch.float64)  # (1, 2 points, 2 fields)
    value, report = loss(r, None, torch.tensor([0]))
    # per field: means 5 and 2; report: 5 * 4 and 2 * 9, averaged
    assert (float(value), float(report), loss.report_factor()) == (3.5, 19.0, 1.0)
    w = torch.tensor([[[1.0, 0.0], [2.0, 1.0]]], dtype=torch.float64)
    value, report = loss(r, w, torch.tensor([0]))
    # weighted sums per field 1 + 2 * 9 = 19 and 0; three entries of non-zero weight
    assert float(value) == pytest.approx(19.0 / 3, rel=1e-15)
    assert float(report) == pytest.approx(19.0 * 4 / 3, rel=1e-15)
    w = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)  # one entry: its square
    value, report = loss(r, w, torch.tensor([0]))
    assert (float(value), float(report)) == (0.0, 0.0)
    w = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    value, report = loss(r, w, torch.tensor([0]))
    assert (float(value), float(report)) == (4.0, 36.0)


def _relative(mean_square, scale):
    ms = torch.tensor(mean_square, dtype=torch.float64)
    return RelativeL2Loss(floor=0.01).prepare(LossContext(
        g_scale=torch.tensor(scale, dtype=torch.float64), n_functions=len(ms),
        mean_square=lambda: ms, device=torch.device("cpu")))


def test_relative_l2_prepare_divides_by_each_function_s_mean_square_with_its_floors():
    # field 0: function 2 is below floor * field mean (7 / 3) -> the field mean;
    # field 1 is zero everywhere -> its squared scale
    loss = _relative([[4.0, 0.0], [3.0, 0.0], [0.0, 0.0]], [2.0, 5.0])
    expected = torch.tensor([[4 / 4.0, 1.0], [4 / 3.0, 1.0], [4 / (7 / 3), 1.0]],
                            dtype=torch.float64)
    torch.testing.assert_close(loss.inverse_mean_square_, expected, rtol=1e-15, atol=0)
    # a large floor: 0.9 is below 0.5 times the field mean 1.95
    floored = RelativeL2Loss(floor=0.5).prepare(LossContext(
        g_scale=torch.ones(1, dtype=torch.float64), n_functions=2,
        mean_square=lambda: torch.tensor([[3.0], [0.9]], dtype=torch.float64),
        device=torch.device("cpu")))
    assert floored.inverse_mean_square_.flatten().tolist() == [1 / 3.0, 1 / 1.95]


def test_relative_l2_with_floor_0_divides_a_rounded_zero_function_by_the_field_mean():
    # an all-zero function comes back from float32 standardised targets as ~1e-17
    loss = RelativeL2Loss(floor=0.0).prepare(LossContext(
        g_scale=torch.ones(1, dtype=torch.float64), n_functions=3,
        mean_square=lambda: torch.tensor([[3.0], [1.0], [1.4e-17]], dtype=torch.float64),
        device=torch.device("cpu")))
    field = (4.0 + 1.4e-17) / 3
    torch.testing.assert_close(loss.inverse_mean_square_.flatten(),
                               torch.tensor([1 / 3.0, 1.0, 1 / field], dtype=torch.float64))


def test_relative_l2_of_two_fields_counts_each_function_and_field_apart():
    loss = _relative([[1.0, 4.0], [1.0, 1.0]], [1.0, 1.0])
    r = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], dtype=torch.float64)  # (1, 3, 2)
    w = torch.tensor([[[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    value, _ = loss(r, w, torch.tensor([0]))
    # field 0: (1 + 9) / 2 / 1; field 1: 4 / 1 / 4
    assert float(value) == (5.0 + 1.0) / 2


def test_relative_l2_call_is_the_mean_of_the_relative_errors():
    loss = _relative([[4.0], [1.0]], [1.0])  # inverse mean squares 1/4 and 1
    r = torch.tensor([[[2.0], [0.0]], [[1.0], [3.0]]], dtype=torch.float64)
    value, report = loss(r, None, torch.tensor([0, 1]))
    assert report is None and float(value) == (2.0 / 4 + 5.0) / 2
    value, _ = loss(r, None, torch.tensor([1, 0]))  # rows pick their own mean squares
    assert float(value) == (2.0 + 5.0 / 4) / 2
    # weighted: function 0 at its first point only, function 1 unobserved (left out)
    w = torch.tensor([[[1.0], [0.0]], [[0.0], [0.0]]], dtype=torch.float64)
    value, _ = loss(r, w, torch.tensor([0, 1]))
    assert float(value) == 4.0 / 4
    w = torch.tensor([[[2.0], [1.0]], [[1.0], [1.0]]], dtype=torch.float64)
    value, _ = loss(r, w, torch.tensor([0, 1]))
    assert float(value) == pytest.approx((8.0 / 2 / 4 + 10.0 / 2) / 2, rel=1e-15)


class _Recording(MSELoss):
    def __call__(self, residual, weight, rows):
        _Recording.seen = (residual.detach().clone(), residual.requires_grad, weight,
                           rows.tolist())
        return super().__call__(residual, weight, rows)


@pytest.mark.parametrize("n_functions, n_outputs, rows", [(3, 2, [0, 1]), (1, 1, [0])])
def test_check_loss_calls_the_loss_once_on_a_small_batch(n_functions, n_outputs, rows):
    context = LossContext(g_scale=torch.ones(n_outputs), n_functions=n_functions,
                          mean_square=None, device=torch.device("cpu"))
    check_loss(_Recording().prepare(context), context)
    residual, grad, weight, seen_rows = _Recording.seen
    assert (grad, weight, seen_rows) == (True, None, rows)
    torch.testing.assert_close(residual, torch.full((len(rows), 3, n_outputs), 0.5))


class _Returns(MSELoss):
    def __init__(self, out=None):
        self.out = out

    def __call__(self, residual, weight, rows):
        if self.out == "raise":
            raise TypeError("bad signature")
        return self.out


@pytest.mark.parametrize("out, error, message", [
    ("raise", TypeError, r"loss=_Returns\(\) could not be called as loss\(residual, weight, "
                         r"rows\) -> \(objective, report\).*TypeError: bad signature"),
    (torch.tensor(1.0), TypeError, r"loss=_Returns\(\) returned Tensor; the protocol is "),
    ((torch.tensor(1.0),) * 3, TypeError,
     r"returned a tuple of 3; .*\. Return \(objective, None\) to report the objective\.$"),
    ((torch.ones(2), None), ValueError,
     r"returned a tensor of shape \(2,\) as its objective; .*Reduce it to a scalar of "
     r"shape \(\) \(for instance \.mean\(\), or \.squeeze\(\) of a one-element tensor\)\.$"),
    # a one-element objective passed the check and failed in training, naming nothing
    ((torch.ones(1), None), ValueError, r"returned a tensor of shape \(1,\) as its objective"),
    ((torch.tensor(1.0), None), ValueError, r"objective that does not depend on the residual"),
    ((torch.tensor(1.0), torch.ones(1, 2)), ValueError,
     r"returned a tensor of shape \(1, 2\) as its report"),
    ((1.0, None), ValueError, r"returned float as its objective"),
])
def test_check_loss_names_the_loss_and_the_protocol(out, error, message):
    context = _context()
    with pytest.raises(error, match=message):
        check_loss(_Returns(out), context)


def test_a_custom_loss_reports_its_objective_by_default():
    class Plain(HuberLoss):
        pass
    assert Plain().report_factor() == 1.0 and HuberLoss().report_factor() == 1.0


def test_as_loss_names_and_instances():
    assert [type(as_loss(n)) for n in ("mse", "relative_l2", "huber")] == \
        [MSELoss, RelativeL2Loss, HuberLoss]
    loss = HuberLoss(delta=0.2)
    assert as_loss(loss) is loss
    with pytest.raises(ValueError, match=r"loss='l1' is not a loss; expected one of \['huber', "
                                         r"'mse', 'relative_l2'\] or a skoperator.losses.BaseLoss"):
        as_loss("l1")
    with pytest.raises(ValueError, match="loss=3 is not a loss"):
        as_loss(3)


def test_relative_l2_keeps_the_dtype_of_the_scale():
    loss = RelativeL2Loss().prepare(LossContext(
        g_scale=torch.ones(1), n_functions=2,
        mean_square=lambda: torch.tensor([[4.0], [1.0]], dtype=torch.float64),
        device=torch.device("cpu")))
    assert loss.inverse_mean_square_.dtype == torch.float32
    assert loss.inverse_mean_square_.flatten().tolist() == [0.25, 1.0]
