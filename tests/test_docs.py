"""The documentation: every public name is in the API reference, and the site
builds with warnings as errors (the gallery rendered without running it; the
examples run in tests/test_examples.py)."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PUBLIC_MODULES = ["skoperator", "skoperator.datasets", "skoperator.metrics",
                  "skoperator.reproduce", "skoperator.sampling", "skoperator.inspection",
                  "skoperator.networks", "skoperator.losses", "skoperator.schedules",
                  "skoperator.physics", "skoperator.uncertainty", "skoperator.io",
                  "skoperator.distributed", "skoperator.symmetry", "skoperator.optimizers",
                  "skoperator.callbacks", "skoperator.rollout"]
#: 0.2.0's flat network parameters, now settings of the components (the
#: changelog's migration table is the one page that names them).
REMOVED_PARAMETERS = re.compile(
    r"\b(branch_layers|trunk_layers|cnn_channels|fno_modes|fno_width|fno_layers|fno_head)\b"
    r"|\b(input_sizes|input_shape|fourier_features|fourier_scale)\s*=(?!=)|[\"']resmlp[\"']")


def _public_names():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if not name.startswith("__"):
                yield module_name, name


@pytest.mark.parametrize("module_name, name", list(_public_names()))
def test_api_reference_lists_public_name(module_name, name):
    api = (DOCS / "api.rst").read_text()
    listed = re.search(rf"^\s+{re.escape(name)}\s*$", api, flags=re.M)  # autosummary entry
    described = re.search(rf"^\.\. data:: {re.escape(name)}\s*$", api, flags=re.M)
    assert listed or described, (
        f"{module_name}.{name} is public (in __all__) but docs/api.rst does not list it; "
        "add it to the autosummary of its module there.")


def test_toctree_includes_every_page():
    index = (DOCS / "index.rst").read_text()
    for page in ["getting_started", "user_guide/index", "auto_examples/index", "benchmarks",
                 "experiments", "performance", "api", "changelog"]:
        assert re.search(rf"^\s+{re.escape(page)}\s*$", index, flags=re.M), page


def test_pages_and_examples_use_no_removed_parameter():
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS.glob("*.md"),
             *DOCS.glob("*.rst"), *(DOCS / "user_guide").glob("*.rst"),
             *(ROOT / "examples").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    found = []
    for page in pages:
        if page.name in ("changelog.rst", "api.rst"):
            continue
        text = _without_trunk_arguments(page.read_text())
        for number, line in enumerate(text.splitlines(), 1):
            if REMOVED_PARAMETERS.search(line):
                found.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "0.2.0 parameters (now component settings):\n" + "\n".join(found)


def _without_trunk_arguments(text):
    """``text`` with the arguments of every ``...Trunk(...)`` call blanked (lines kept).

    A trunk's own ``fourier_features=`` is its setting, not the flat estimator one.
    """
    chars = list(text)
    for match in re.finditer(r"Trunk\(", text):
        depth = 0
        for i in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            if text[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def test_docs_build_without_warnings(tmp_path):
    for module in ["sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme",
                   "myst_parser"]:
        pytest.importorskip(module, reason="the [docs] extra is not installed")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
           "-D", "plot_gallery=0", "-d", str(tmp_path / "doctrees"), str(DOCS),
           str(tmp_path / "html")]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"`{' '.join(cmd)}` failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
    html = tmp_path / "html"
    assert (html / "index.html").exists()
    assert (html / "gen_modules" / "skoperator.DeepONetRegressor.html").exists()
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    for stem in examples:
        assert (html / "auto_examples" / f"{stem}.html").exists(), stem


def test_changelog_parameter_count_is_the_constructors():
    from skoperator import DeepONetRegressor

    text = " ".join((DOCS / "changelog.rst").read_text().split())
    counts = re.findall(r"The constructor has (\d+) parameters", text)
    assert counts, "the changelog no longer states the constructor's parameter count"
    n_params = len(DeepONetRegressor().get_params(deep=False))
    assert int(counts[0]) == n_params, (
        f"the changelog says {counts[0]} constructor parameters; "
        f"DeepONetRegressor has {n_params}")


def test_docs_extra_installs_what_the_gallery_runs():
    """``pip install -e ".[docs]"`` then the documented sphinx command (which
    runs the gallery) needs every optional library an example uses."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    installed = {re.split(r"[<>=~!\[ ;]", req)[0].lower() for req in extras["docs"]}
    needs = {"sphinx", "numpydoc", "sphinx-gallery", "pydata-sphinx-theme", "myst-parser",
             "matplotlib"}
    for path in (ROOT / "examples").glob("plot_*.py"):
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        if re.search(r"\b(dump|load)\(", code) and "skoperator.io" in code:
            needs.add("safetensors")
        if "to_onnx(" in code:
            needs |= {"onnx", "onnxruntime", "onnxscript"}
        for lib in ["h5py", "zarr", "dask", "ray", "pandas", "tqdm"]:
            if re.search(rf"^\s*(import|from) {lib}\b", code, flags=re.M) or (
                    lib == "tqdm" and re.search(r"verbose\s*=\s*1\b", code)):
                needs.add(lib)
    assert needs <= installed, (
        f"the [docs] extra lacks {sorted(needs - installed)}, which the gallery's examples "
        "need when the documented build runs them")


def test_pages_name_every_merge_of_multibranch():
    from skoperator.networks import MERGES

    operators = (DOCS / "user_guide" / "operators.rst").read_text()
    for key in MERGES:
        if key != "concat":  # shown as ConcatMerge(layers=...)
            assert f'"{key}"' in operators, key
    assert "ConcatMerge" in operators
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "product, sum, product plus sum or concatenation" in readme
