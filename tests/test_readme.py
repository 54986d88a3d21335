"""The README's snippets: what tests/test_snippets.py does not check by their
printed values (its run of the README is shared, not repeated)."""

import numpy as np
import pytest
from test_snippets import ROOT, page_blocks, page_run

from skoperator import DeepONetRegressor
from skoperator.metrics import mean_function_r2

README = ROOT / "README.md"


def test_readme_has_the_snippets_it_documents():
    blocks = [b.source for b in page_blocks(README)]
    assert len(blocks) == 4
    assert "GridSearchCV" in blocks[1] and "PCA(20)" in blocks[2] and "n_outputs=2" in blocks[3]


def test_readme_grid_has_no_repeated_fit():
    # n_eval is not used by sampling="full": a grid crossing the two repeats one fit
    search = page_run(README)[0]["search"]
    fulls = [p for p in search.cv_results_["params"] if p["sampling"] == "full"]
    assert len(fulls) == 1 and "n_eval" not in fulls[0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_remarks_hold(tmp_path):
    ns, mismatches = page_run(README)
    assert not mismatches, mismatches
    U, Y, G = ns["U"], ns["Y"], ns["G"]
    # "# U: (1500, 100) inputs, Y: (100, 1), G: (1500, 100)" and "# (500, 1000)"
    assert U.shape == (1500, 100) and Y.shape == (100, 1) and G.shape == (1500, 100)
    assert ns["fine"].shape == (500, 1000)
    # "# 0.980; the estimator alone 0.982"
    alone = DeepONetRegressor(coords=Y, random_state=0).fit(U[:1000], G[:1000])
    r2_alone = mean_function_r2(G[1000:], alone.predict(U[1000:]))
    assert round(r2_alone, 3) == 0.982, r2_alone
    # "s(0) = 0 exactly for field 0"
    assert np.all(ns["est2"].predict(U[1000:])[:, 0] == 0.0)
