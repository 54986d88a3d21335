"""What ``verbose`` shows: a progress bar (1), one line per epoch (2), nothing (0)."""

import logging
import re
import subprocess
import sys

import numpy as np
import pytest

from skoperator import DeepONetRegressor, _progress, _training
from skoperator.datasets import make_antiderivative
from skoperator.networks import MLPBranch, MLPTrunk
from skoperator.optimizers import LBFGS, Adam


def _fit(verbose, max_iter=6, **params):
    U, Y, G = make_antiderivative(40, n_points=20, random_state=0)
    est = DeepONetRegressor(coords=Y, n_eval=5, max_iter=max_iter, tol=None,
                            branch=MLPBranch(layers=(8,)), trunk=MLPTrunk(layers=(8,)),
                            n_basis=8, batch_size=16,
                            device="cpu", random_state=0, verbose=verbose, **params)
    return est.fit(U, G)


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "skoperator"]


def test_verbose_0_is_silent(capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="skoperator")
    _fit(verbose=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert _messages(caplog) == []


def test_verbose_2_logs_one_line_per_epoch(capsys, caplog):
    caplog.set_level(logging.INFO, logger="skoperator")
    est = _fit(verbose=2, max_iter=6)
    lines = _messages(caplog)
    epochs = [m for m in lines if m.startswith("epoch ")]
    assert len(epochs) == est.n_iter_ == 6
    for k, (line, record) in enumerate(zip(epochs, est.history_), start=1):
        assert line.startswith(f"epoch {k}: loss {record['train_loss']:.4g}")
        assert re.search(rf"\({k}/6, \d+ s left\)$", line), line
        assert "validation" not in line
    assert lines[-1] == "training stopped after 6 epochs: max_iter"
    assert capsys.readouterr().out == ""  # no bare print


def test_verbose_2_shows_validation_score_with_early_stopping(caplog):
    caplog.set_level(logging.INFO, logger="skoperator")
    est = _fit(verbose=2, max_iter=4, early_stopping=True, validation_fraction=0.25)
    epochs = [m for m in _messages(caplog) if m.startswith("epoch ")]
    assert len(epochs) == est.n_iter_
    for line, score in zip(epochs, est.validation_scores_):
        assert f"validation R2 {score:.4f}" in line


def test_verbose_1_draws_a_tqdm_bar(capsys, caplog):
    pytest.importorskip("tqdm")
    assert _progress.tqdm is not None
    caplog.set_level(logging.INFO, logger="skoperator")
    _fit(verbose=1, max_iter=5, early_stopping=True, validation_fraction=0.25)
    out, err = capsys.readouterr()
    assert out == ""
    assert "5/5" in err and "epoch" in err  # the bar over epochs
    assert "loss=" in err and "val_R2=" in err  # training loss, validation score
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", err)  # elapsed<time left
    # no per-epoch log lines, only the closing one
    assert _messages(caplog) == ["training stopped after 5 epochs: max_iter"]


def test_verbose_1_without_tqdm_logs_every_tenth(monkeypatch, capsys, caplog):
    monkeypatch.setattr(_progress, "tqdm", None)
    caplog.set_level(logging.INFO, logger="skoperator")
    est = _fit(verbose=1, max_iter=20)
    epochs = [m for m in _messages(caplog) if m.startswith("epoch ")]
    assert [int(m.split(":")[0].split()[1]) for m in epochs] == list(range(2, 21, 2))
    assert all("s left)" in m for m in epochs)
    assert est.n_iter_ == 20
    assert capsys.readouterr().err == ""  # nothing outside logging


def test_verbose_restores_logger_state(caplog):
    logger = logging.getLogger("skoperator")
    level, handlers = logger.level, list(logger.handlers)
    _fit(verbose=2, max_iter=2)
    assert logger.level == level
    assert logger.handlers == handlers


def _fit_in_a_fresh_process(logging_setup, max_iter):
    """Run a small verbose=2 fit in a new interpreter after ``logging_setup``; its output."""
    code = logging_setup + (
        "from skoperator import DeepONetRegressor\n"
        "from skoperator.datasets import make_antiderivative\n"
        "U, Y, G = make_antiderivative(20, n_points=10, random_state=0)\n"
        "from skoperator.networks import MLPBranch, MLPTrunk\n"
        f"DeepONetRegressor(coords=Y, max_iter={max_iter}, tol=None,\n"
        "                  branch=MLPBranch(layers=(4,)), trunk=MLPTrunk(layers=(4,)),\n"
        "                  n_basis=4, device='cpu', random_state=0, verbose=2).fit(U, G)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def _stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("[skoperator]")]


def test_verbose_without_logging_config_writes_to_stderr():
    # A plain script with no logging set-up still shows the lines.
    result = _fit_in_a_fresh_process("", max_iter=3)
    assert result.stdout == ""
    lines = _stderr_lines(result)
    assert len(lines) == 4, result.stderr
    assert lines[0].startswith("[skoperator] epoch 1: loss ")
    assert lines[-1] == "[skoperator] training stopped after 3 epochs: max_iter"


def test_verbose_with_configured_logging_uses_its_handlers():
    # Logging configured to show INFO: the lines go through its handlers only.
    result = _fit_in_a_fresh_process(
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO,\n"
        "                    format='%(name)s|%(message)s')\n", max_iter=2)
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("skoperator|") for line in lines), lines
    assert "[skoperator]" not in result.stderr  # no second, temporary handler


def test_verbose_with_handlers_above_info_still_writes_to_stderr():
    # The root logger at INFO, its only handler at WARNING: the lines went to the
    # logger, which showed none of them.
    result = _fit_in_a_fresh_process(
        "import logging, sys\n"
        "handler = logging.StreamHandler(sys.stdout)\n"
        "handler.setLevel(logging.WARNING)\n"
        "logging.getLogger().addHandler(handler)\n"
        "logging.getLogger().setLevel(logging.INFO)\n", max_iter=2)
    assert result.stdout == ""
    lines = _stderr_lines(result)
    assert len(lines) == 3 and lines[0].startswith("[skoperator] epoch 1: loss "), result.stderr


def test_verbose_2_shows_the_lbfgs_polish_as_its_own_phase(caplog):
    caplog.set_level(logging.INFO, logger="skoperator")
    est = _fit(verbose=2, max_iter=4, optimizer=Adam(polish=LBFGS(max_iter=5)))
    lines = _messages(caplog)
    assert est.n_iter_ == 4
    epochs = [m for m in lines if m.startswith("epoch ")]
    assert [re.search(r"\((\d+)/4, \d+ s left\)$", m).group(1) for m in epochs] == \
        ["1", "2", "3", "4"]
    steps = [m for m in lines if re.fullmatch(r"L-BFGS \d+/5 \(\d+ s left\)", m)]
    done = [int(m.split()[1].split("/")[0]) for m in steps]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 5, steps
    polish = est.history_[-1]
    assert polish["solver"] == "lbfgs" and polish["lbfgs_iter"] == 5
    assert f"L-BFGS polish, 5 iterations: loss {polish['train_loss']:.4g}" in lines[-2]
    # epochs counted as n_iter_ counts them, the polish in iterations
    assert lines[-1] == "training stopped after 4 epochs and 5 L-BFGS iterations: max_iter"
    assert lines.index(epochs[-1]) < lines.index(steps[0])


def test_time_left_counts_the_polish(monkeypatch, caplog):
    calls = []

    def estimate(plan, keep_state=False):
        calls.append(keep_state)
        return 100.0  # seconds per L-BFGS iteration

    monkeypatch.setattr(_training, "seconds_per_iteration", estimate)
    caplog.set_level(logging.INFO, logger="skoperator")
    _fit(verbose=2, max_iter=3, optimizer=Adam(polish=LBFGS(max_iter=5)))
    epochs = [m for m in _messages(caplog) if m.startswith("epoch ")]
    left = [int(re.search(r"(\d+) s left\)$", m).group(1)) for m in epochs]
    assert len(left) == 3 and all(500 <= s < 600 for s in left), left
    assert calls == [True]  # estimated without changing the fit
    caplog.clear()
    _fit(verbose=0, max_iter=3, optimizer=Adam(polish=LBFGS(max_iter=5)))
    assert calls == [True]  # a silent fit does not spend time on it


def test_showing_the_polish_does_not_change_the_fit():
    U, _, _ = make_antiderivative(40, n_points=20, random_state=0)
    quiet = _fit(verbose=0, max_iter=3, optimizer=Adam(polish=LBFGS(max_iter=5)))
    shown = _fit(verbose=2, max_iter=3, optimizer=Adam(polish=LBFGS(max_iter=5)))
    np.testing.assert_array_equal(quiet.predict(U), shown.predict(U))
    assert quiet.loss_curve_ == shown.loss_curve_


def test_verbose_1_draws_a_second_bar_for_the_polish(capsys, caplog):
    pytest.importorskip("tqdm")
    caplog.set_level(logging.INFO, logger="skoperator")
    _fit(verbose=1, max_iter=4, optimizer=Adam(polish=LBFGS(max_iter=5)))
    err = capsys.readouterr().err
    assert re.search(r"epochs: 100%.*4/4 \[\d\d:\d\d<\d\d:\d\d, loss=", err), err
    assert re.search(r"L-BFGS: 100%.*5/5 \[\d\d:\d\d<00:00, loss=", err), err
    assert _messages(caplog) == ["training stopped after 4 epochs and 5 L-BFGS iterations: "
                                 "max_iter"]
