"""Every gallery example runs at small size and draws its figure.

The examples read ``SKOPERATOR_EXAMPLE_QUICK=1`` to shrink their data and
epochs; at full size each takes about a minute (run them with
``python examples/plot_NAME.py``, or build the docs without ``-D plot_gallery=0``).
"""

import runpy
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def test_gallery_has_the_examples_the_docs_promise():
    names = {p.stem for p in EXAMPLES}
    assert {"plot_quickstart", "plot_n_eval_sweep", "plot_pca_pipeline",
            "plot_new_coordinates", "plot_diffusion_reaction", "plot_heat_conduction",
            "plot_training_curves", "plot_two_inputs_two_outputs", "plot_sampling_strategies",
            "plot_poisson_n_eval", "plot_sharpness", "plot_adaptive_sampling",
            "plot_scattered_points", "plot_physics_informed", "plot_uncertainty"} <= names


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_draws_a_figure(path, monkeypatch, tmp_path):
    monkeypatch.setenv("SKOPERATOR_EXAMPLE_QUICK", "1")
    monkeypatch.chdir(tmp_path)  # anything an example writes lands here
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    plt.close("all")
    try:
        runpy.run_path(str(path), run_name="__main__")
        figures = [plt.figure(n) for n in plt.get_fignums()]
        assert figures, f"{path.name} drew no figure"
        for fig in figures:
            fig.canvas.draw()  # renders every artist: catches errors at draw time
            drawn = [ax for ax in fig.axes
                     if ax.lines or ax.images or ax.patches or ax.collections]
            assert drawn, f"{path.name}: a figure has no plotted data"
        fig.savefig(tmp_path / f"{path.stem}.png")
        assert (tmp_path / f"{path.stem}.png").stat().st_size > 10_000
    finally:
        plt.close("all")
