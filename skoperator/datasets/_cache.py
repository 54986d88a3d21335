"""A disk cache for generated data sets, shared by the ``make_*`` generators.

A generator whose solve takes more than seconds stores its arrays under a
data folder, as scikit-learn's fetchers do (``sklearn.datasets.get_data_home``):
``data_home`` when given, else the folder named by the environment variable
``SKOPERATOR_DATA``, else ``~/skoperator_data``.

- :func:`get_data_home`: that folder, created if missing.
- :func:`cached`: ``cached(name, params, make, data_home=None)`` returns the
  arrays ``make()`` returns, loaded from ``<data_home>/<name>/<key>.npz`` when
  a call with the same ``name`` and ``params`` stored them, else computed and
  stored. The key is a hash of ``name`` and ``params``; the file also holds
  ``params``, compared on load, so that a hash collision or a file of another
  version recomputes instead of returning wrong arrays. Writes are atomic (a
  temporary file beside, then :func:`os.replace`), so that concurrent
  processes and interrupted writes never leave a partial file under the key.
  A hit returns arrays equal bit for bit to those first computed (``.npz``
  stores them losslessly).
"""

import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

DATA_HOME_ENV = "SKOPERATOR_DATA"
_DEFAULT_DATA_HOME = "~/skoperator_data"
_PARAMS_KEY = "__params__"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def get_data_home(data_home=None):
    """The folder of the disk cache, created if missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder. None means the environment variable ``SKOPERATOR_DATA``
        when it is set, else ``~/skoperator_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder, with ``~`` expanded.
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or _DEFAULT_DATA_HOME
    if not str(data_home).strip():
        raise ValueError("data_home must name a folder; got an empty path. Pass a folder "
                         "(\".\" for the current one), or None for the default.")
    path = Path(data_home).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ValueError(f"data_home must be a folder (or a path where one can be made); got "
                         f"{str(data_home)!r}, which is a file or lies under one ({exc}). "
                         "Pass another folder (or set SKOPERATOR_DATA to one).") from exc
    except OSError as exc:  # no permission, a read-only or missing file system
        raise type(exc)(f"data_home {str(data_home)!r} cannot be made ({exc}); pass a folder "
                        "this process can write (or set SKOPERATOR_DATA to one), or "
                        "cache=False.") from exc
    return path


def _plain(value, name):
    """``value`` as JSON-ready Python data (ints, floats, str, bool, None, lists)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    raise TypeError(
        f"the cache key {name!r} must be an int, float, str, bool, None or a "
        f"list of them, got {type(value).__name__} ({value!r}); pass a plain "
        "value (e.g. an int random_state) or do not cache."
    )


def _key(name, params):
    """``(file stem, canonical JSON text)`` of a call."""
    text = json.dumps(
        {"name": name, "params": {k: _plain(v, k) for k, v in params.items()}},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24], text


def _load(path, text):
    """The arrays stored at ``path`` for the key ``text``, or None."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored[_PARAMS_KEY]) != text:
                return None
            n_arrays = len(stored.files) - 1
            return tuple(stored[f"a{i}"] for i in range(n_arrays))
    # missing, partial (cut, empty) or foreign file
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _store(path, text, arrays):
    """Write ``arrays`` and the key to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        prefix=path.stem + ".", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(
                file,
                **{_PARAMS_KEY: np.array(text)},
                **{f"a{i}": a for i, a in enumerate(arrays)},
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached(name, params, make, data_home=None):
    """The arrays of ``make()``, from the disk cache when stored there.

    Parameters
    ----------
    name : str
        Name of the data set: a folder of the cache (letters, digits, ``_``,
        ``.``, ``-``).

    params : dict
        Everything the arrays depend on (sizes, law, ``random_state`` as an
        int, a version of the generator...), str keys to ints, floats, str,
        bool, None or lists of them.

    make : callable
        Called without arguments on a miss; returns a tuple of ndarrays.

    data_home : str or path-like, default=None
        The cache folder (see :func:`get_data_home`).

    Returns
    -------
    arrays : tuple of ndarray
        The arrays of ``make()``, identical on a hit.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"name must be a folder name of letters, digits, '_', '.' and '-', "
            f"got {name!r}."
        )
    stem, text = _key(name, params)
    path = get_data_home(data_home) / name / f"{stem}.npz"
    arrays = _load(path, text)
    if arrays is None:
        try:  # before the solve: a folder that cannot be made costs nothing yet
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(f"the data cache cannot make its folder {path.parent} ({error}); "
                          "pass another data_home, or cache=False.") from error
        arrays = tuple(np.asarray(a) for a in make())
        try:
            _store(path, text, arrays)
        except OSError as error:  # a full disk: the solve's arrays are still returned
            warnings.warn(f"the data cache could not store {path} ({error}); the data "
                          "are returned, not cached.", RuntimeWarning, stacklevel=3)
    return arrays


def generated(name, params, make, *, cache, random_state, data_home=None):
    """``make(rng)`` for a generator's ``random_state``, through the cache when ``cache``.

    The one path of the ``make_*`` generators with a ``cache`` argument:
    without it, ``make(check_random_state(random_state))``; with it, the
    same arrays kept under ``params`` and the int ``random_state`` (a
    ``ValueError`` otherwise, raised before anything is computed).

    Parameters
    ----------
    name, params, data_home :
        As for :func:`cached` (``random_state`` is added to ``params``).
    make : callable
        ``make(rng)`` with a ``numpy.random.RandomState``; returns a tuple
        of ndarrays.
    cache : bool
        Whether to use the disk cache.
    random_state : int, RandomState instance or None
        The generator's ``random_state``; an int when ``cache``.

    Returns
    -------
    arrays : tuple of ndarray
    """
    if not cache:
        return make(check_random_state(random_state))
    if not isinstance(random_state, Integral) or isinstance(random_state, bool):
        raise ValueError(
            f"cache=True needs an int random_state (the arrays are stored under "
            f"it), got random_state={random_state!r}; pass an int, or cache=False."
        )
    return cached(name, {**params, "random_state": int(random_state)},
                  lambda: make(check_random_state(random_state)), data_home)
