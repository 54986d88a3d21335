"""Reference data of the paper's benchmarks, read from local files."""

import os
from pathlib import Path

import numpy as np

from .._compat import validate_params
from ._heat import _N_CELLS, _cell_centres

_HEAT_FOLDER = "heat2d_reference"
_HEAT_ENV = "SKOPERATOR_HEAT_REFERENCE"
_HEAT_INPUTS = "inputs_test.npy"
_HEAT_TARGETS = "target_values_test.npy"
_HEAT_PREDICTIONS = "predicted_values_test.npy"


def _default_heat_places():
    """``../shared/data/heat2d_reference`` from the working directory and the checkout."""
    checkout = Path(__file__).resolve().parents[2]  # the folder holding skoperator/
    places = [
        Path.cwd() / ".." / "shared" / "data" / _HEAT_FOLDER,
        checkout.parent / "shared" / "data" / _HEAT_FOLDER,
    ]
    unique = []
    for place in places:
        place = place.resolve()
        if place not in unique:
            unique.append(place)
    return unique


def _heat_places(data_home):
    """The folders to look in, in order, and how they were chosen."""
    if data_home is not None:
        root, origin = Path(data_home).expanduser(), "data_home"
    elif os.environ.get(_HEAT_ENV):
        root, origin = Path(os.environ[_HEAT_ENV]).expanduser(), f"${_HEAT_ENV}"
    else:
        return _default_heat_places(), "the default places"
    return [root, root / _HEAT_FOLDER], origin


def _load_field(path):
    """One (n, 1024) array from ``path`` as float64."""
    array = np.load(path).astype(np.float64)
    if array.ndim != 2 or array.shape[1] != _N_CELLS:
        raise ValueError(
            f"{path} holds an array of shape {array.shape}, expected "
            f"(n_fields, {_N_CELLS}) (32 x 32 cells per row); it is not the "
            "heat-conduction reference data."
        )
    return array


@validate_params(
    {"data_home": [str, os.PathLike, None], "return_prediction": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_heat_reference(data_home=None, *, return_prediction=False):
    """Load the authors' 500 reference fields of the heat-conduction benchmark.

    The held-out test set of the heat-conduction example of Karumuri et al.
    [1]_, from their public repository: conductivity fields ``K``, the
    temperature ``T`` that solves the problem of :func:`make_heat_conduction`
    for them, and the authors' own DeepONet prediction of ``T``. The files
    are not shipped with the package and nothing is downloaded: they are
    read from a local folder holding ``inputs_test.npy``,
    ``target_values_test.npy`` and ``predicted_values_test.npy`` (float32
    arrays of shape (500, 1024)).

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder holding the files, or a folder holding a
        ``heat2d_reference`` folder with them; only there is looked. None
        means the folder named by the environment variable
        ``SKOPERATOR_HEAT_REFERENCE`` (or a folder holding a
        ``heat2d_reference`` folder) when it is set, else
        ``../shared/data/heat2d_reference`` relative to the current directory
        and then relative to the checkout that holds the package.

    return_prediction : bool, default=False
        Also return the authors' prediction ``P``.

    Returns
    -------
    K : ndarray of shape (500, 1024)
        Conductivity of each cell, float64, row-major with ``x1`` fastest.

    coords : ndarray of shape (1024, 2)
        Cell centres, columns ``(x1, x2)``, in the same order: the ``Y`` of
        :func:`make_heat_conduction`.

    T : ndarray of shape (500, 1024)
        Temperature at the cell centres, float64.

    P : ndarray of shape (500, 1024)
        The authors' DeepONet prediction of ``T``, float64; only with
        ``return_prediction=True``.

    Raises
    ------
    FileNotFoundError
        If no folder looked in holds the files; the message lists the
        folders.

    See Also
    --------
    make_heat_conduction : Generate fields of the same distribution.
    solve_heat_conduction : Reproduces ``T`` from ``K`` to about 1e-7.

    Notes
    -----
    The arrays are stored in float32 and returned as float64. The authors'
    prediction has a mean per-function R2 of 0.99582 against ``T``.

    References
    ----------
    .. [1] S. Karumuri, L. Graham-Brady and S. Goswami, "Efficient training of
       deep neural operator networks via randomized sampling",
       arXiv:2409.13280 (2024).

    Examples
    --------
    >>> from skoperator.datasets import load_heat_reference
    >>> K, coords, T = load_heat_reference()  # doctest: +SKIP
    >>> K.shape, coords.shape, T.shape  # doctest: +SKIP
    ((500, 1024), (1024, 2), (500, 1024))
    """
    names = [_HEAT_INPUTS, _HEAT_TARGETS]
    if return_prediction:
        names.append(_HEAT_PREDICTIONS)
    places, origin = _heat_places(data_home)
    for place in places:
        if all((place / name).is_file() for name in names):
            break
    else:
        looked = "\n".join(f"  - {place}" for place in places)
        raise FileNotFoundError(
            f"the heat-conduction reference files ({', '.join(names)}) are not "
            f"in any folder looked in ({origin}):\n{looked}\n"
            f"Set the environment variable {_HEAT_ENV} to the folder that holds "
            "them, or pass data_home=<that folder>."
        )
    K, T = _load_field(place / _HEAT_INPUTS), _load_field(place / _HEAT_TARGETS)
    arrays = [K, _cell_centres(), T]
    if return_prediction:
        arrays.append(_load_field(place / _HEAT_PREDICTIONS))
    if any(a.shape != K.shape for a in arrays[2:]):
        shapes = ", ".join(str(a.shape) for a in [K, *arrays[2:]])
        raise ValueError(
            f"the reference files in {place} do not match: shapes {shapes}; "
            "they should all be (n_fields, 1024). Copy them again from the "
            "same source."
        )
    return tuple(arrays)
