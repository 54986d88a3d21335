"""Branch and trunk networks as components that own their settings.

``DeepONetRegressor(branch=..., trunk=...)`` takes a component, a short name
(a key of :data:`BRANCHES` or :data:`TRUNKS`, the component's default
configuration), a ``torch.nn.Module`` or a factory. A component holds its
settings as constructor arguments and has ``get_params``/``set_params``, so
that scikit-learn searches them as nested parameters::

    GridSearchCV(DeepONetRegressor(branch=FNOBranch()), {"branch__modes": [8, 12]})

The branches of a :class:`MultiBranch` are nested by position
(``branch__0__layers``). The built-in components live in private modules by
kind (branches, trunks, merges); every public name and the registries are
imported from here.

The protocols, written once (in a private module, exported here):

- a branch subclasses :class:`BaseBranch` and implements
  ``build(n_in, n_out, context) -> nn.Module``, a module mapping
  (batch, n_in) inputs to (batch, n_out) coefficients; ``needs_grid``
  declares that it reads its input as a grid (``grid``, ``channels``);
  ``n_inputs()`` says how many columns of ``U`` it reads;
- a trunk subclasses :class:`BaseTrunk` and implements
  ``build(d, n_out, context) -> nn.Module``, a module mapping (..., d)
  standardised coordinates to (..., n_out) basis functions; ``table = True``
  declares a trunk known at the training points only (a table over them, as
  the POD), whose module must then be a :class:`TableModule` (``points``,
  ``modes``, ``at_index``, ``lookup``), a subclass or a module with the same
  members; ``conditioned = True`` declares a trunk that reads the branch's
  output too (:class:`NOMADTrunk`, :class:`ShiftedTrunk`), whose module's
  ``forward(y, b)`` returns the outputs and whose ``branch_width`` says how
  many branch outputs it reads;
- capabilities are class attributes of the component, read by the
  estimator and never guessed from its class: ``needs_grid`` (branch),
  ``table`` (trunk), ``vectorizable`` (an ensemble can train several copies
  as one batched network); a branch says which columns of ``U`` it reads
  with ``n_inputs()`` and ``input_sizes(n_columns)``;
- a merge of several branches (:class:`MultiBranch`) subclasses
  :class:`BaseMerge` and implements ``build(n_branches, n_out, context)``.

The output of every module is checked on first use (shape and dtype), with an
error that names the component and its protocol.
"""

import copy
import dataclasses
import functools

import torch
from torch import nn

from . import _layers
from ._branches import CNNBranch, FNOBranch, MLPBranch
from ._compat import StrOptions, is_count
from ._component import check_nested
from ._decoders import NOMADTrunk, ShiftedTrunk
from ._merges import MERGES, ConcatMerge, ProductMerge, ProductSumMerge, SumMerge
from ._protocols import BaseBranch, BaseMerge, BaseTrunk, BuildContext, TableModule, check_module
from ._trunks import MLPTrunk, PODTrunk, ResNetTrunk

__all__ = [
    "BRANCHES", "TRUNKS", "MERGES", "BuildContext", "BaseBranch", "BaseTrunk", "BaseMerge",
    "MLPBranch", "CNNBranch", "FNOBranch", "MultiBranch", "MLPTrunk", "ResNetTrunk",
    "PODTrunk", "NOMADTrunk", "ShiftedTrunk", "TableModule", "ProductMerge", "SumMerge",
    "ProductSumMerge", "ConcatMerge",
]


class MultiBranch(BaseBranch):
    """Several input functions, one branch each, merged (MIONet and its variants).

    ``U`` holds the input functions side by side; each branch reads its own
    columns, in order (its ``n_sensors``, or ``channels * prod(grid)`` for a
    grid branch; one branch may leave its size unset and read what the others
    leave), and its own grid.

    Every setting of every branch is a nested parameter named by the
    branch's position, as the named steps of scikit-learn's ``Pipeline``:
    ``set_params(branch__1__layers=(64,))``, ``GridSearchCV(...,
    {"branch__0__n_sensors": [50, 100]})``, or a whole branch replaced with
    ``branch__1=FNOBranch(...)``; ``get_params(deep=True)`` lists them.

    Parameters
    ----------
    branches : list of branch
        One branch per input function, in the order of their columns in
        ``U``: components, short names, modules or factories. Branch ``i``
        is the nested parameter ``"i"``.
    merge : <MERGES> or merge component, default="product"
        How the branches' outputs combine (the keys of :data:`MERGES`):
        <MERGE_LIST>. See the Notes.

    Notes
    -----
    The default was chosen by measurement (``python benchmarks/bench_merge.py``,
    rows in ``benchmarks/results/merge.txt``): two MLP branches, 1,000
    training functions, 300 epochs of random sampling (``n_eval=32``),
    ``n_basis=80``, mean per-function R2 over two seeds on 500 new functions:

    ============ ========================== =======================
    merge        additive: A(u1) + A(u2)    multiplicative: A(u1) u2
    ============ ========================== =======================
    product      0.985                      0.974
    product_sum  0.993                      0.967
    ============ ========================== =======================

    With ``n_basis=40``: product 0.979 and 0.972, product_sum 0.993 and
    0.966, sum 0.994 and negative (a sum cannot multiply), concat 0.991 and
    0.79. The product is the only merge that learns both well; give it a
    larger ``n_basis`` than one input would need.

    Examples
    --------
    >>> from skoperator.networks import MultiBranch, MLPBranch, FNOBranch
    >>> mb = MultiBranch([MLPBranch(n_sensors=100), FNOBranch(grid=(32, 32))])
    >>> mb.set_params(**{"1__modes": 8}).branches[1].modes
    8
    >>> [k for k in mb.get_params() if k.startswith("0__")]
    ['0__activation', '0__layers', '0__n_sensors']
    """

    _parameter_constraints = {"branches": [list, tuple],
                              "merge": [StrOptions(set(MERGES)), BaseMerge]}

    def __init__(self, branches, merge="product"):
        self.branches = branches
        self.merge = merge

    def get_params(self, deep=True):
        """Get the parameters, with each branch's settings when ``deep``.

        Parameters
        ----------
        deep : bool, default=True
            Also return each branch (``"0"``, ``"1"``, ...) and its settings
            (``"0__layers"``...), and those of the merge component.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        if deep and isinstance(self.branches, (list, tuple)):
            for i, branch in enumerate(self.branches):
                params[str(i)] = branch
                if hasattr(branch, "get_params"):
                    params.update((f"{i}__{k}", v) for k, v in branch.get_params().items())
        return params

    def set_params(self, **params):
        """Set the parameters; ``"i"`` replaces branch ``i``, ``"i__name"`` sets its ``name``.

        Parameters
        ----------
        **params : dict
            ``branches``, ``merge`` (and ``merge__...``), ``"i"`` or
            ``"i__name"`` for the branch at position ``i``.

        Returns
        -------
        self : MultiBranch
            The component.
        """
        own = {k: v for k, v in params.items() if k.partition("__")[0].isdigit()}
        # replacements first ("1" before "1__layers"): a nested key reads the new branch
        own = dict(sorted(own.items(), key=lambda item: "__" in item[0]))
        rest = {k: v for k, v in params.items() if k not in own}
        check_nested(self, rest)
        branches = list(rest.pop("branches", self.branches))
        for key, value in own.items():  # every position and name checked before any is set
            head, _, name = key.partition("__")
            i = int(head)
            if i >= len(branches):
                raise ValueError(
                    f"Invalid parameter {key!r} for MultiBranch: it has {len(branches)} "
                    f"branches, named 0 to {len(branches) - 1}; pass one of those positions.")
            if not name:
                branches[i] = value  # on the local list only, until every key is checked
            elif not hasattr(branches[i], "set_params"):
                raise ValueError(
                    f"Invalid parameter {key!r} for MultiBranch: branch {i} is "
                    f"{branches[i]!r}, which has no settings; replace it by a component, "
                    f"for instance set_params({head}=MLPBranch({name}=...)).")
            if name:
                check_nested(branches[i], {name: value})
        if "branches" in params:
            super().set_params(branches=params["branches"])
        for key, value in own.items():
            head, _, name = key.partition("__")
            if name:
                branches[int(head)].set_params(**{name: value})
        if own:
            self.branches = type(self.branches)(branches)
        return super().set_params(**rest) if rest else self

    def components(self):
        """Return the branches as components (short names and modules resolved).

        Returns
        -------
        components : list of BaseBranch
            One validated branch component per input function.
        """
        if not isinstance(self.branches, (list, tuple)) or len(self.branches) < 1:
            raise ValueError(
                f"MultiBranch(branches={self.branches!r}): expected a non-empty list of "
                "branches, one per input function.")
        out = []
        for i, branch in enumerate(self.branches):
            try:
                out.append(as_branch(branch).check())
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"MultiBranch branches[{i}]: {exc}") from exc
        return out

    def n_inputs(self):
        sizes = [b.n_inputs() for b in self.components()]
        return None if None in sizes else sum(sizes)

    def input_sizes(self, n_columns):
        """Return the number of columns of ``U`` of each input function.

        Parameters
        ----------
        n_columns : int
            Columns of ``U``; the branch that does not say how many columns it
            reads (at most one) gets those the others leave.

        Returns
        -------
        sizes : tuple of int
            Columns of each input function, in the order of the branches,
            adding up to ``n_columns``.

        Raises
        ------
        ValueError
            If more than one branch leaves its size unset, or if the sizes do
            not add up to ``n_columns``.
        """
        sizes = [b.n_inputs() for b in self.components()]
        unknown = [i for i, s in enumerate(sizes) if s is None]
        known = sum(s for s in sizes if s is not None)
        if len(unknown) > 1:
            raise ValueError(
                f"MultiBranch: branches {unknown} do not say how many columns of U they read; "
                "set n_sensors (or grid) on all branches but at most one.")
        if unknown:
            sizes[unknown[0]] = n_columns - known
        if min(sizes) < 1 or sum(sizes) != n_columns:
            raise ValueError(
                f"MultiBranch reads {sizes} columns per input function (sum {sum(sizes)}) but "
                f"U has {n_columns} columns; set each branch's n_sensors (or grid) so that "
                "they add up to the columns of U.")
        return tuple(int(s) for s in sizes)

    def sizes(self, n_columns):
        """Return the number of columns of ``U`` of each input function.

        Parameters
        ----------
        n_columns : int
            Columns of ``U``.

        Returns
        -------
        sizes : tuple of int
            As :meth:`input_sizes` (the name of 0.3.0).
        """
        return self.input_sizes(n_columns)

    def merge_component(self):
        """Return the merge as a component.

        Returns
        -------
        merge : BaseMerge
            The ``merge`` component, or a new one of its short name.
        """
        merge = self.merge
        return MERGES[merge]() if isinstance(merge, str) else merge

    def build(self, n_in, n_out, context):
        branches = self.components()
        sizes = self.input_sizes(n_in)
        sub = dataclasses.replace(context, multi_input=True, input_shape=None)
        merge = self.merge_component().check()
        width = merge.branch_width(n_out)
        if not is_count(width):
            raise ValueError(f"merge={merge!r}: branch_width({n_out}) returned {width!r}; "
                             "expected a positive int (the width of every branch's output).")
        nets = [check_module(b, b.build(size, width, sub), (2, size), (2, width), "branch")
                for b, size in zip(branches, sizes)]
        return _layers.Merged(nets, sizes, merge.build(len(nets), n_out, context))


def _merge_choices(doc):
    """``doc`` with ``<MERGES>`` and ``<MERGE_LIST>`` written from the :data:`MERGES` registry."""
    keys = "{" + ", ".join(f'"{k}"' for k in MERGES) + "}"
    summaries = {k: (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")
                 for k, cls in MERGES.items()}
    listing = "; ".join(f'"{k}", {s[:1].lower()}{s[1:]} (:class:`{MERGES[k].__name__}`)'
                        for k, s in summaries.items())
    return doc.replace("<MERGES>", keys).replace("<MERGE_LIST>", listing)


MultiBranch.__doc__ = _merge_choices(MultiBranch.__doc__)


#: ``branch=`` name -> branch component class (its default configuration).
BRANCHES = {"mlp": MLPBranch, "cnn": CNNBranch, "fno": FNOBranch}

#: ``trunk=`` name -> trunk component factory (its default configuration).
TRUNKS = {"mlp": MLPTrunk, "resnet": ResNetTrunk, "pod": PODTrunk,
          "pod_corrected": functools.partial(PODTrunk, correction=True),
          "nomad": NOMADTrunk, "shifted": ShiftedTrunk}


class _UserModule:
    """A user's module (deep-copied) or factory (called on a seeded RNG) as a component."""

    def __init__(self, spec, role):
        self.spec, self.role = spec, role
        self.description = f"the {role} module or factory {spec!r}"

    def n_inputs(self):
        return None

    def check(self):
        return self

    def build(self, n_in, n_out, context):
        if isinstance(self.spec, nn.Module):
            return copy.deepcopy(self.spec)
        seed = int(torch.randint(0, 2**62, (1,), generator=context.generator))
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                module = self.spec(n_in, n_out)
        except Exception as exc:
            raise ValueError(
                f"The {self.role} factory raised {type(exc).__name__}: {exc} (called as "
                f"factory({n_in}, {n_out})). A {self.role} factory takes (n_inputs, n_outputs) "
                "and returns a torch.nn.Module.") from exc
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"The {self.role} factory must return a torch.nn.Module; got "
                f"{type(module).__name__}. Pass a callable (n_inputs, n_outputs) -> nn.Module.")
        return module


class _UserBranch(_UserModule, BaseBranch):
    pass


class _UserTrunk(_UserModule, BaseTrunk):
    pass


def as_branch(spec):
    """The branch component of a ``branch=`` value (name, component, list, module or factory)."""
    if isinstance(spec, BaseBranch):
        return spec
    if isinstance(spec, str):
        if spec not in BRANCHES:
            raise ValueError(f"branch={spec!r} is not a branch; expected one of "
                             f"{sorted(BRANCHES)}, a branch component, a module or a factory.")
        return BRANCHES[spec]()
    if isinstance(spec, (list, tuple)):
        return MultiBranch(list(spec))
    if isinstance(spec, nn.Module) or callable(spec):
        return _UserBranch(spec, "branch")
    raise ValueError(f"branch={spec!r} is not a branch; expected one of {sorted(BRANCHES)}, "
                     "a branch component, a list of branches, a module or a factory.")


def as_trunk(spec):
    """The trunk component of a ``trunk=`` value (name, component, module or factory)."""
    if isinstance(spec, BaseTrunk):
        return spec
    if isinstance(spec, str):
        if spec not in TRUNKS:
            raise ValueError(f"trunk={spec!r} is not a trunk; expected one of "
                             f"{sorted(TRUNKS)}, a trunk component, a module or a factory.")
        return TRUNKS[spec]()
    if isinstance(spec, nn.Module) or callable(spec):
        return _UserTrunk(spec, "trunk")
    raise ValueError(f"trunk={spec!r} is not a trunk; expected one of {sorted(TRUNKS)}, a "
                     "trunk component, a module or a factory.")


