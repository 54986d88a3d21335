"""Every public docstring validates against its signature with numpydoc.

As scikit-learn validates its own estimators (``sklearn/tests/test_docstrings.py``):
the parameters documented are the parameters of the signature, in order, with
types and descriptions; returns are documented; public classes and functions
have an Examples section. The same checks run in the docs build
(``numpydoc_validation_checks`` in ``docs/conf.py``).
"""

import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

PUBLIC_MODULES = ["skoperator", "skoperator.datasets", "skoperator.metrics",
                  "skoperator.reproduce", "skoperator.sampling", "skoperator.inspection",
                  "skoperator.networks", "skoperator.losses", "skoperator.schedules",
                  "skoperator.physics", "skoperator.uncertainty", "skoperator.io",
                  "skoperator.distributed", "skoperator.symmetry", "skoperator.rollout"]
# Checks left out everywhere, as in scikit-learn: an extended summary and a
# See Also section are not required, and "name : type" return lines are
# scikit-learn's dialect (RT02).
IGNORED = frozenset({"ES01", "SA01", "RT02"})
# Methods need no Examples section of their own (their class has one).
IGNORED_METHODS = IGNORED | {"EX01"}


def _public_objects():
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            yield f"{module_name}.{name}", IGNORED
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") or not callable(value):
                        continue
                    yield f"{module_name}.{name}.{attr}", IGNORED_METHODS


CASES = sorted(set(_public_objects()), key=lambda case: case[0])


@pytest.mark.parametrize("name, ignored", CASES, ids=[c[0] for c in CASES])
def test_docstring_is_valid_numpydoc(name, ignored):
    result = numpydoc_validate.validate(name)
    errors = [f"{code}: {message}" for code, message in result["errors"]
              if code not in ignored]
    assert not errors, f"{name}:\n" + "\n".join(errors)


def test_the_docs_build_runs_the_same_checks():
    from pathlib import Path

    conf = (Path(__file__).resolve().parents[1] / "docs" / "conf.py").read_text()
    assert 'numpydoc_validation_checks = {"all", "ES01", "SA01", "RT02", "EX01"' in conf
