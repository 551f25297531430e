"""What a config may name and size: the modules a dotted path may import from (the one trust
check of every dotted path, see ``SECURITY.md``) and the limits on parameters that size the work.

Re-exported by :mod:`acakit.firms`; the defenses import it directly (they sit below
:mod:`acakit.firms`, which registers them).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Mapping
from typing import Any

#: Top-level packages whose classes a config may name by dotted path (see ``SECURITY.md``).
DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    "sklearn", "fairlearn", "aif360", "acakit", "xgboost", "lightgbm", "catboost", "imblearn",
)
#: Environment variable adding module prefixes (comma-separated) to the allowed ones; what
#: ``--allow-module`` sets, so that worker processes inherit it.
ALLOW_MODULES_ENV = "ACAKIT_ALLOW_MODULES"
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def allowed_modules() -> tuple[str, ...]:
    """The module prefixes a dotted firm path may start with: the defaults and
    ``$ACAKIT_ALLOW_MODULES``."""
    extra = [m.strip() for m in os.environ.get(ALLOW_MODULES_ENV, "").split(",") if m.strip()]
    return DEFAULT_ALLOWED_MODULES + tuple(m for m in extra if m not in DEFAULT_ALLOWED_MODULES)


def allow_modules(*prefixes: str) -> tuple[str, ...]:
    """Allow dotted firm paths under ``prefixes`` (e.g. ``"mypackage"``) in this process and the
    workers it starts from now on; returns the allowed prefixes.

    Raises
    ------
    ValueError
        If a prefix is not a dotted module name.
    """
    for m in prefixes:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", m):
            raise ValueError(f"--allow-module: {m!r} is not a module name (e.g. mypackage)")
    cur = list(allowed_modules())
    cur += [m for m in prefixes if m not in cur]
    os.environ[ALLOW_MODULES_ENV] = ",".join(m for m in cur if m not in DEFAULT_ALLOWED_MODULES)
    return tuple(cur)


def _is_allowed(path: str) -> bool:
    return any(path == m or path.startswith(m + ".") for m in allowed_modules())


def import_allowed(path: Any, where: str, not_dotted: str) -> Any:
    """The object a dotted path ``package.module.name`` names, imported only if the path is
    under an allowed module (:func:`allowed_modules`): the one trust check of every dotted path
    in a config (firm classes, defense functions).

    Parameters
    ----------
    path : str
        What the config says.
    where : str
        The config field, for the messages.
    not_dotted : str
        What to say when ``path`` is not a dotted name (after ``'{where}: {path!r} '``).

    Raises
    ------
    ValueError
        One line naming the field, the path and what is allowed.
    """
    if not isinstance(path, str) or not _DOTTED.match(path):
        raise ValueError(f"{where}: {path!r} {not_dotted}")
    parts = path.split(".")
    if "__main__" in parts or path.startswith(("acakit.cli", "acakit.app", "acakit.audit")):
        raise ValueError(f"{where}: {path!r} names acakit's command line, app or a __main__ "
                         "module, which a config never imports")
    if not _is_allowed(path):
        allowed = ", ".join(allowed_modules())
        raise ValueError(f"{where}: {path!r} is not under an allowed module ({allowed}); "
                         "allow its package with --allow-module (see SECURITY.md)")
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{where}: cannot import {path!r} ({str(e).splitlines()[0]})") from None


def import_object(path: str) -> Any:
    """Import the estimator class ``package.module.Name`` named in a config, if it is allowed.

    Nothing is imported unless ``path`` is a dotted name under an allowed module
    (:func:`allowed_modules`); what it names must be a class with ``fit``, ``predict`` and
    ``get_params`` (a scikit-learn compatible estimator). A config can thus never make acakit
    call ``os.system`` or import a module of its choosing.

    Raises
    ------
    ValueError
        One line naming the path and what is allowed.
    """
    obj = import_allowed(path, "firm.name",
                         "is neither a firm name nor a dotted path to a class (package.module.Class)")
    if not inspect.isclass(obj) or not all(hasattr(obj, m) for m in ("fit", "predict", "get_params")):
        raise ValueError(f"firm.name: {path!r} is not an estimator class (a class with fit, predict "
                         "and get_params)")
    return obj


#: Bounds on parameters that size the work (a tree count, an iteration count, a worker count):
#: a larger value is refused before any work instead of running until killed.
SIZE_LIMITS: dict[str, int] = {"n_estimators": 100_000, "n_jobs": 1024, "max_iter": 10_000_000,
                               "n_neighbors": 100_000, "epochs": 100_000, "max_epochs": 100_000,
                               "batch_size": 10_000_000, "num_perm": 100_000, "cv": 1_000,
                               "max_features": 10_000_000, "n_splits": 1_000}
#: Of those, the ones that count something and must be >= 1 (``n_jobs`` may be -1).
_AT_LEAST_ONE = {"n_estimators", "max_iter", "n_neighbors", "epochs", "max_epochs", "batch_size",
                 "num_perm", "max_features", "n_splits"}


def check_sizes(params: Mapping[str, Any] | None, field: str) -> None:
    """Refuse a size parameter that is not an integer or is out of :data:`SIZE_LIMITS`.

    Parameters
    ----------
    params : mapping
        Parameters as given in a config (nested mappings are walked).
    field : str
        Where they are (``firm.params``, ``firm.defense.params``), for the message.

    Raises
    ------
    ValueError
        ``field.name: ...`` in one line.

    Examples
    --------
    >>> check_sizes({"n_estimators": 100}, "firm.params")
    >>> check_sizes({"n_estimators": 10**9}, "firm.params")
    Traceback (most recent call last):
    ...
    ValueError: firm.params.n_estimators: 1000000000 is more than 100000
    """
    for key, v in (params or {}).items():
        if isinstance(v, Mapping):
            check_sizes(v, f"{field}.{key}")
            continue
        limit = SIZE_LIMITS.get(str(key))
        if limit is None or v is None:
            continue
        if key == "max_features" and not isinstance(v, int):
            continue  # also "sqrt", a fraction
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{field}.{key}: {v!r:.40} is not an integer")
        if v > limit:
            raise ValueError(f"{field}.{key}: {v} is more than {limit}")
        low = 1 if key in _AT_LEAST_ONE else -1 if key == "n_jobs" else 2 if key == "cv" else None
        if low is not None and v < low and not (key == "n_jobs" and v != 0):
            raise ValueError(f"{field}.{key}: {v} must be an integer >= {max(low, 1)}")
