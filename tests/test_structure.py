"""The package's structural rules (issue 29), read from the source: each failed on 0.3.0.

- no module of ``skoperator/`` over 400 lines besides its docstrings;
- ``make_plan`` at most 60 lines; ``DeepONetRegressor`` at most 30 parameters and 300 lines;
- no function-level import of a package module; scikit-learn's private helpers imported in
  ``_compat.py`` only;
- fitted state has one owner: no write to a fitted (``name_``) or private (``_name``)
  attribute of another object outside the object's own methods;
- capabilities through protocols: no ``isinstance`` / ``type() is`` on a concrete component
  or a private layer outside its own module.
"""

import ast
import pathlib
import re

import pytest

from skoperator import DeepONetRegressor

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "skoperator"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _docstring_lines(tree):
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def _code_lines(path, node=None):
    """Lines of a module (or of one of its nodes) besides its docstrings (the issue's measure)."""
    text = path.read_text().splitlines()
    docs = _docstring_lines(_tree(path) if node is None else node)
    first, last = (1, len(text)) if node is None else (node.lineno, node.end_lineno)
    return sum(1 for i in range(first, last + 1) if i not in docs)


def _name(path):
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_400_lines_of_code(path):
    assert _code_lines(path) <= 400, f"{_name(path)}: split it by job"


def _function(path, name):
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node
    raise LookupError(name)


def test_make_plan_is_at_most_60_lines():
    path = PACKAGE / "_planning.py"
    assert _code_lines(path, _function(path, "make_plan")) <= 60


def test_the_estimator_has_at_most_30_parameters_and_300_lines():
    assert len(DeepONetRegressor().get_params(deep=False)) <= 30
    path = PACKAGE / "_estimator.py"
    cls = _function(path, "DeepONetRegressor")  # its lines besides the class docstring
    assert cls.end_lineno - cls.lineno + 1 - (cls.body[0].end_lineno - cls.body[0].lineno + 1) \
        <= 300


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_package_modules_are_imported_at_the_top(path):
    inside = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (
                        sub.level > 0 or (sub.module or "").startswith("skoperator")):
                    inside.append(sub.lineno)
                if isinstance(sub, ast.Import) and any(
                        a.name.startswith("skoperator") for a in sub.names):
                    inside.append(sub.lineno)
    assert not inside, f"{_name(path)}: function-level package imports at lines {inside}"


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "_compat.py"], ids=_name)
def test_scikit_learn_privates_only_through_compat(path):
    private = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
            if any(part.startswith("_") for part in node.module.split(".")) or any(
                    a.name.startswith("_") for a in node.names):
                private.append(node.lineno)
    assert not private, f"{_name(path)}: import scikit-learn's private helpers from _compat"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_write_to_another_objects_fitted_or_private_attribute(path):
    writes = []
    for node in ast.walk(_tree(path)):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and not (
                        isinstance(sub.value, ast.Name) and sub.value.id == "self") and (
                        sub.attr.endswith("_") and not sub.attr.endswith("__")
                        or sub.attr.startswith("_") and not sub.attr.startswith("__")):
                    writes.append(f"{node.lineno}: {ast.unparse(target)}")
    assert not writes, f"{_name(path)}: {writes}"


def _component_and_layer_classes():
    """Concrete components and layers (torch modules, ``Base*`` subclasses) with their modules."""
    classes = {}
    for path in MODULES:
        for node in _tree(path).body:
            if isinstance(node, ast.ClassDef):
                bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")
                         for b in node.bases}
                classes.setdefault(node.name, (set(), set()))[0].add(path)
                classes[node.name][1].update(bases)
    kinds = {"Module", "Component"} | {n for n in classes if n.startswith("Base")}
    owners, grown = {}, True
    while grown:  # subclasses of subclasses
        grown = False
        for name, (paths, bases) in classes.items():
            if name not in owners and not name.startswith("Base") and (
                    bases & kinds or bases & owners.keys()):
                owners[name], grown = paths, True
    return owners


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_type_test_on_a_class_of_another_module(path):
    # protocols (Base*), torch/numpy/builtin types and a module's own classes are fine;
    # the allow-list of the safe file format is a set of trusted types by design.
    owners = _component_and_layer_classes()
    found = []
    text = path.read_text().splitlines()
    for node in ast.walk(_tree(path)):
        names = []
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
            cls = node.args[1]
            names = [e.id for e in ast.walk(cls) if isinstance(e, ast.Name)]
        if isinstance(node, ast.Compare) and any(isinstance(o, (ast.Is, ast.IsNot))
                                                 for o in node.ops):
            if isinstance(node.left, ast.Call) and getattr(node.left.func, "id", None) == "type":
                names = [e.id for c in node.comparators for e in ast.walk(c)
                         if isinstance(e, ast.Name)]
        for name in names:
            if name in owners and path not in owners[name]:
                found.append(f"{node.lineno}: {text[node.lineno - 1].strip()}")
    assert not found, f"{_name(path)}: test a capability instead: {found}"


def test_the_rules_above_see_the_code():  # the checks are not vacuous
    assert len(MODULES) > 30
    assert _code_lines(PACKAGE / "_estimator.py") > 150
    assert re.search(r"def make_plan", (PACKAGE / "_planning.py").read_text())
    owners = _component_and_layer_classes()
    assert {"MLPBranch", "PODTrunk", "MultiBranch", "FNO", "DeepONet"} <= owners.keys()
