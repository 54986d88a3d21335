"""The README's snippets run as written and reach the accuracy they print."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def readme_run():
    """Run every python block of the README in order, in one namespace."""
    namespace = {}
    outputs = []
    for block in _python_blocks():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
        outputs.append(buffer.getvalue())
    return namespace, outputs


def test_readme_has_the_snippets_it_documents():
    blocks = _python_blocks()
    assert len(blocks) == 4
    assert "GridSearchCV" in blocks[1] and "PCA(20)" in blocks[2] and "n_outputs=2" in blocks[3]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_snippets_reach_the_accuracy_they_print(readme_run):
    import numpy as np

    from skoperator import DeepONetRegressor
    from skoperator.metrics import mean_function_r2

    ns, outputs = readme_run
    U, Y, G = ns["U"], ns["Y"], ns["G"]
    quick = mean_function_r2(G[1000:], ns["est"].predict(U[1000:]))
    assert quick >= 0.994, quick                           # printed: 0.995
    assert ns["fine"].shape == (500, 1000)
    assert ns["search"].best_score_ >= 0.997               # printed: 0.9986
    pca = mean_function_r2(G[1000:], ns["pipe"].predict(U[1000:]))
    alone = DeepONetRegressor(coords=Y, random_state=0).fit(U[:1000], G[:1000])
    r2_alone = mean_function_r2(G[1000:], alone.predict(U[1000:]))
    assert pca >= 0.975 and pca >= r2_alone - 0.01, (pca, r2_alone)   # printed: 0.980, 0.982
    fields = mean_function_r2(ns["G2"][1000:], ns["est2"].predict(U[1000:]), n_outputs=2,
                              multioutput="raw_values")
    assert np.all(fields >= 0.985), fields                 # printed: [0.996 0.990]
    assert np.all(ns["est2"].predict(U[1000:])[:, 0] == 0.0)   # s(0) = 0 exactly
    assert all(out.strip() for out in outputs[:3])
