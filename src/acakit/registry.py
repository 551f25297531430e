"""Registries: the one place each kind of named piece is looked up.

acakit names six kinds of pieces in a config: **strategies** (the label rule a collective
applies with its signal), **signals** (feature maps g), **firms**, **defenses**, **metrics** and
**datasets**. Each kind has one :class:`Registry`; the built-ins register themselves there when
their module is imported, and the engine resolves every name through it, so there is no second
table of names anywhere.

Two routes add pieces of one's own, and a config stays data (it can name a piece, never load
code):

* **An installed plugin**: a distribution declares, in its own ``pyproject.toml``::

      [project.entry-points."acakit.strategies"]
      scale_column = "my_plugin:ScaleStrategy"

  (one group per kind: ``acakit.strategies``, ``acakit.signals``, ``acakit.firms``,
  ``acakit.defenses``, ``acakit.metrics``, ``acakit.datasets``). A group is loaded only when a
  config names something that is not built in, and only from installed distributions (Python's
  :func:`importlib.metadata.entry_points`): never from a path, a config or the working folder.
* **Python objects**: ``execute(config, plugins={"strategies": {"mine": MyStrategy}})`` (see
  :func:`using`); the loky and Ray runners ship them to their workers with cloudpickle.

What each kind's object must be is in ``docs/extending.md``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: the kinds, in the order ``acakit plugins`` lists them
KINDS = ("strategies", "signals", "firms", "defenses", "metrics", "datasets")
#: entry-point group of a kind: ``acakit.<kind>``
GROUP = "acakit.{kind}"
#: where each kind's built-ins register themselves (imported on the first lookup)
_BUILTIN_MODULES = {
    "strategies": "acakit.strategies",
    "signals": "acakit.strategies",
    "firms": "acakit.firms",
    "defenses": "acakit.firms.defenses",
    "metrics": "acakit.metrics",
    "datasets": "acakit.data",
}
BUILTIN = "acakit"
PYTHON = "python"


@dataclass(frozen=True)
class Origin:
    """Where a registered piece comes from.

    ``source`` is ``"acakit"`` for a built-in, ``"python"`` for an object handed in from Python,
    or the name of the installed distribution that declares the entry point; ``version`` is that
    distribution's version (acakit's for built-ins, ``""`` for Python objects); ``target`` is
    the entry point's ``module:attr`` or the object's qualified name.
    """

    source: str
    version: str
    target: str = ""

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN

    def label(self) -> str:
        """``dist version`` for an installed plugin, ``python:module.qualname`` for an object."""
        if self.source == PYTHON:
            return f"python:{self.target}"
        return f"{self.source} {self.version}".strip()


class PluginError(ValueError):
    """A plugin that cannot be loaded, registered or shipped (one line naming it)."""


def _qualname(obj: Any) -> str:
    mod = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{mod}.{name}"


class Registry(Mapping[str, V], Generic[V]):
    """The named pieces of one kind: built-in, handed in from Python, or from installed plugins.

    A read-only mapping ``name -> value``; a value has the kind's shape (e.g. a data set's is
    ``(loader, description)``), and :meth:`origin` says where it came from. Lookups try the
    built-ins, then the Python objects of the current :func:`using` block, then installed
    entry points (loaded on first need).

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    adapt : callable, optional
        ``adapt(name, obj) -> value``: turns a plugin's object into the kind's value shape
        (default: the object itself); raises ``TypeError``/``ValueError`` for a wrong object.
    """

    def __init__(self, kind: str, adapt: Callable[[str, Any], V] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        self.kind = kind
        self.group = GROUP.format(kind=kind)
        self._adapt = adapt or (lambda name, obj: obj)
        self._builtin: dict[str, V] = {}
        self._session: dict[str, tuple[V, Any]] = {}
        self._installed: dict[str, V] = {}
        self._origin: dict[str, Origin] = {}
        self._entry_points: dict[str, Any] | None = None
        self.base: type | None = None
        self.base_name = ""
        self._titles: dict[str, str] = {}

    def expect_subclass_of(self, base: type, shown_as: str = "") -> None:
        """Every piece of this kind must be a subclass of ``base`` (a class, not an instance).

        The module that defines ``base`` says so when it registers its built-ins, so the
        registry, at the bottom of the concept layer, imports none of the classes it checks
        (``acakit.strategies`` declares :class:`~acakit.strategies.Strategy`,
        ``acakit.firms.defenses`` :class:`~acakit.firms.defenses.Defense`); ``shown_as`` is the
        public name errors give (default: the class's module and name).
        """
        self.base = base
        self.base_name = shown_as or _qualname(base)

    # ------------------------------------------------------------------ registration
    def register(self, name: str, value: V) -> V:
        """Register a built-in (acakit's own modules call this); returns ``value``."""
        from acakit import __version__

        self._builtin[name] = value
        self._origin[name] = Origin(BUILTIN, __version__)
        return value

    def add(self, name: str, obj: Any) -> None:
        """Add a Python object under ``name`` for this process (see :func:`using`).

        Raises
        ------
        PluginError
            ``name`` is a built-in's, or the object is not one of this kind.
        """
        if not isinstance(name, str) or not name or "." in name or "/" in name:
            raise PluginError(f"plugins.{self.kind}: {name!r} is not a plain name (no dots or "
                              "slashes: a config names pieces, never import paths)")
        self._ensure_builtins()
        if name in self._builtin:
            raise PluginError(f"plugins.{self.kind}.{name}: a built-in has this name; choose "
                              "another")
        try:
            value = self._adapt(name, obj)
        except (TypeError, ValueError) as e:
            raise PluginError(f"plugins.{self.kind}.{name}: {e}") from None
        self._session[name] = (value, obj)
        self._origin[name] = Origin(PYTHON, "", _qualname(obj))

    def set_titles(self, titles: Mapping[str, str]) -> None:
        """Give built-ins the words a figure's legend names them by (``"isolation_forest"`` ->
        ``"isolation forest"``); the owning module calls this beside :meth:`register`."""
        self._titles.update(titles)

    def title(self, name: str) -> str:
        """The words for ``name`` in a legend: the built-in's title, a plugin object's ``title``
        attribute, else ``""`` (the caller then shows the name itself)."""
        if name in self._titles:
            return self._titles[name]
        if name in self._session:
            return str(getattr(self._session[name][1], "title", "") or "")
        return ""

    def remove(self, name: str) -> None:
        """Remove a Python object added with :meth:`add` (built-ins stay)."""
        self._session.pop(name, None)
        if name not in self._installed and name not in self._builtin:
            self._origin.pop(name, None)

    def session(self) -> dict[str, Any]:
        """The Python objects added in this process, ``name -> object`` (what runners ship)."""
        return {name: obj for name, (_, obj) in self._session.items()}

    # ------------------------------------------------------------------ lookups
    def _ensure_builtins(self) -> None:
        if not self._builtin:
            importlib.import_module(_BUILTIN_MODULES[self.kind])

    def _eps(self) -> dict[str, Any]:
        """The group's entry points by name (metadata only: nothing is imported)."""
        if self._entry_points is None:
            from importlib.metadata import entry_points

            self._entry_points = {}
            for ep in entry_points(group=self.group):
                self._entry_points.setdefault(ep.name, ep)
        return self._entry_points

    def _load(self, name: str) -> V:
        ep = self._eps()[name]
        dist = getattr(ep, "dist", None)
        source = getattr(dist, "name", None) or "unknown distribution"
        version = getattr(dist, "version", "") or ""
        try:
            obj = ep.load()
        except Exception as e:
            raise PluginError(f"{self.kind} {name!r} from {source} {version}: cannot be loaded "
                              f"({type(e).__name__}: {e})".replace("\n", " ")) from None
        try:
            value = self._adapt(name, obj)
        except (TypeError, ValueError) as e:
            raise PluginError(f"{self.kind} {name!r} from {source} {version}: {e}") from None
        self._installed[name] = value
        self._origin.setdefault(name, Origin(source, version, ep.value))
        return value

    def __getitem__(self, name: str) -> V:
        if not isinstance(name, str):
            raise KeyError(name)
        self._ensure_builtins()
        if name in self._builtin:
            return self._builtin[name]
        if name in self._session:
            return self._session[name][0]
        if name in self._installed:
            return self._installed[name]
        if isinstance(name, str) and name in self._eps():
            return self._load(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        self._ensure_builtins()
        return isinstance(name, str) and (name in self._builtin or name in self._session
                                          or name in self._installed or name in self._eps())

    def __iter__(self) -> Iterator[str]:
        self._ensure_builtins()
        seen = dict.fromkeys([*self._builtin, *self._session, *self._installed, *self._eps()])
        return iter(seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def builtins(self) -> list[str]:
        """The built-in names, in registration order."""
        self._ensure_builtins()
        return list(self._builtin)

    def is_builtin(self, name: str) -> bool:
        """Whether ``name`` is one of acakit's own pieces."""
        self._ensure_builtins()
        return name in self._builtin

    def origin(self, name: str) -> Origin:
        """Where ``name`` comes from (loads an installed plugin if not loaded yet)."""
        self[name]
        if name in self._session:
            return Origin(PYTHON, "", _qualname(self._session[name][1]))
        return self._origin[name]

    def lookup(self, name: str, field: str = "") -> V:
        """The value of ``name``, or a one-line ``ValueError`` naming ``field`` (when given) and
        the names available (built-in and installed)."""
        try:
            return self[name]
        except KeyError:
            where = f"{field}: " if field else ""
            raise ValueError(f"{where}{name!r} is not one of {', '.join(self)}") from None

    def object(self, name: str) -> Any:
        """The plugin's own object (class or function) behind ``name``, for parameter checks."""
        if name in self._session:
            return self._session[name][1]
        value = self[name]
        return value[0] if isinstance(value, tuple) else value

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} names)"


# ---------------------------------------------------------------------- the six registries
def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _callable(name: str, obj: Any) -> Any:
    if not callable(obj):
        raise TypeError(f"{obj!r} is not callable")
    return obj


def _with_description(name: str, obj: Any) -> tuple[Any, str]:
    return _callable(name, obj), _first_line(obj)


def _firm(name: str, obj: Any) -> tuple[Any, bool, str]:
    return _callable(name, obj), bool(getattr(obj, "needs_features", True)), _first_line(obj)


def _subclass(kind: str) -> Callable[[str, Any], Any]:
    """A check that ``obj`` subclasses the base class the kind's module declared
    (:meth:`Registry.expect_subclass_of`; the module is imported before any plugin is checked)."""
    def check(name: str, obj: Any) -> Any:
        registry = REGISTRIES[kind]
        base = registry.base
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"{_qualname(obj)} is not a subclass of {registry.base_name}")
        return obj
    return check


def _defense(name: str, obj: Any) -> tuple[Any, str]:
    return _subclass("defenses")(name, obj), _first_line(obj)


_strategy = _subclass("strategies")


STRATEGIES: Registry[Any] = Registry("strategies", _strategy)
"""Label rules: a :class:`~acakit.strategies.Strategy` class, built as ``cls(g, target,
**params)`` (``target`` None when the class says ``needs_target = False``)."""
SIGNALS: Registry[Any] = Registry("signals", _callable)
"""Feature maps: a callable ``factory(**params) -> g`` with ``g(X) -> X'`` and ``g.kind``."""
FIRMS_REGISTRY: Registry[tuple[Any, bool, str]] = Registry("firms", _firm)
"""Firms: ``(factory(**params) -> estimator, needs a featurizer, description)``."""
DEFENSES_REGISTRY: Registry[tuple[Any, str]] = Registry("defenses", _defense)
"""Defenses: ``(Defense subclass, description)``."""
METRICS: Registry[Any] = Registry("metrics", _callable)
"""Metrics: ``metric(result: acakit.metrics.CellResult, **params) -> float | dict``."""
DATASETS_REGISTRY: Registry[tuple[Any, str]] = Registry("datasets", _with_description)
"""Data sets: ``(loader(**params) -> Dataset, description)``."""

REGISTRIES: dict[str, Registry[Any]] = {
    "strategies": STRATEGIES, "signals": SIGNALS, "firms": FIRMS_REGISTRY,
    "defenses": DEFENSES_REGISTRY, "metrics": METRICS, "datasets": DATASETS_REGISTRY,
}


_TRUST_STORED: ContextVar[bool] = ContextVar("acakit_trust_stored", default=False)


@contextmanager
def stored_names() -> Iterator[None]:
    """Inside the block, a name no registry knows passes config validation (its parameters
    unchecked): a store's config was checked when it ran, and redrawing its tables needs none
    of the plugins that made its cells (a notebook's Python objects, an uninstalled plugin)."""
    token = _TRUST_STORED.set(True)
    try:
        yield
    finally:
        _TRUST_STORED.reset(token)


def unknown_stored(registry: Registry[Any], name: Any) -> bool:
    """Whether ``name`` is unknown to ``registry`` but accepted (see :func:`stored_names`)."""
    return _TRUST_STORED.get() and name not in registry


def check_plugins(plugins: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Validate a ``plugins`` argument: ``{kind: {name: object}}`` with kinds of :data:`KINDS`.

    Raises
    ------
    PluginError
        An unknown kind, a name that is not a plain name or a built-in's, an object of the
        wrong sort (one line naming ``plugins.<kind>.<name>``).
    """
    if not plugins:
        return {}
    if not isinstance(plugins, Mapping):
        raise PluginError(f"plugins: expected a mapping {{kind: {{name: object}}}}, got "
                          f"{type(plugins).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for kind, named in plugins.items():
        if kind not in REGISTRIES:
            raise PluginError(f"plugins: {kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(named, Mapping):
            raise PluginError(f"plugins.{kind}: expected a mapping {{name: object}}")
        out[kind] = dict(named)
    return out


def session_plugins() -> dict[str, dict[str, Any]]:
    """Every Python object added in this process, ``{kind: {name: object}}`` (empty kinds left
    out): what the runners ship to their workers."""
    return {k: s for k, r in REGISTRIES.items() if (s := r.session())}


@contextmanager
def using(plugins: Mapping[str, Mapping[str, Any]] | None) -> Iterator[None]:
    """Make Python objects available by name inside the ``with`` block.

    Parameters
    ----------
    plugins : mapping, optional
        ``{kind: {name: object}}``, e.g. ``{"strategies": {"scale": ScaleStrategy},
        "metrics": {"lift": signal_lift}}``; kinds from :data:`KINDS`.

    Raises
    ------
    PluginError
        See :func:`check_plugins`.

    Examples
    --------
    >>> from acakit.strategies import Plant
    >>> class Mine(Plant):
    ...     '''Plant, under another name.'''
    >>> with using({"strategies": {"mine": Mine}}):
    ...     STRATEGIES["mine"] is Mine
    True
    >>> "mine" in STRATEGIES
    False
    """
    checked = check_plugins(plugins)
    added: list[tuple[Registry[Any], str, Any]] = []
    try:
        for kind, named in checked.items():
            reg = REGISTRIES[kind]
            for name, obj in named.items():
                before = reg._session.get(name)
                reg.add(name, obj)
                added.append((reg, name, before))
        yield
    finally:
        for reg, name, before in reversed(added):
            reg.remove(name)
            if before is not None:
                reg._session[name] = before
                reg._origin[name] = Origin(PYTHON, "", _qualname(before[1]))


def install(plugins: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Add Python objects for the rest of this process (a runner's worker calls this with what
    the driver shipped); see :func:`using`."""
    for kind, named in check_plugins(plugins).items():
        for name, obj in named.items():
            REGISTRIES[kind].add(name, obj)


def _picklers(runner: str) -> list[Any]:
    """The cloudpickle modules that pickle a task for ``runner`` (ours, and the vendored copy)."""
    names = ["cloudpickle", "ray.cloudpickle" if runner == "ray" else "joblib.externals.cloudpickle"]
    out = []
    for name in names:
        try:
            out.append(importlib.import_module(name))
        except ImportError:  # pragma: no cover - the runner's own check says what is missing
            continue
    return out


def check_shippable(plugins: Mapping[str, Mapping[str, Any]], runner: str) -> None:
    """Raise :class:`PluginError` if a Python object cannot be sent to ``runner``'s workers
    (cloudpickle, as loky and Ray use), naming the object and what to do instead.

    An object from a module that is not installed (a script, a test file, a notebook's helper
    module) is sent by value, code included (``cloudpickle.register_pickle_by_value``): a worker
    on another machine could not import it by name."""
    import sys
    import sysconfig

    import cloudpickle

    installed_dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    for kind, named in plugins.items():
        for name, obj in named.items():
            mod = sys.modules.get(getattr(obj, "__module__", "") or "")
            path = str(getattr(mod, "__file__", "") or "")
            if (mod is not None and mod.__name__ != "__main__" and path
                    and not mod.__name__.startswith("acakit.")
                    and not any(path.startswith(d) for d in installed_dirs)):
                # a user's module (a test file, a script beside the notebook) may not be
                # importable where the workers run (a Ray node): send its code by value, with
                # the cloudpickle the runner pickles with (Ray and joblib vendor their own)
                for pickler in _picklers(runner):
                    pickler.register_pickle_by_value(mod)
            try:
                cloudpickle.dumps(obj)
            except Exception as e:
                raise PluginError(
                    f"plugins.{kind}.{name}: {_qualname(obj)} cannot be shipped to the {runner} "
                    f"workers ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                    "run with jobs=1 (serial), or define it in an importable module or an "
                    "installed plugin") from None


def params_problem(obj: Any, params: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str | None:
    """Why ``params`` do not fit a plugin's declared parameters, or None.

    A plugin declares its parameters in one of three ways, tried in order: a pydantic model
    ``Params`` (validated in full), scikit-learn's ``_parameter_constraints`` (checked with
    scikit-learn's own validator), or its signature (unknown and missing names).

    Parameters
    ----------
    obj : class or callable
    params : mapping
        The config's parameters.
    skip : tuple of str
        Arguments acakit passes itself (e.g. ``feature_map``, ``target``).

    Returns
    -------
    str or None
        ``"<param>: <why>"`` (one line), or None when they fit.
    """
    model = getattr(obj, "Params", None)
    if isinstance(model, type):
        from pydantic import BaseModel, ValidationError

        if issubclass(model, BaseModel):
            try:
                model.model_validate(dict(params))
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(x) for x in err["loc"]) or "params"
                return f"{loc}: {err['msg']}"
            return None
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    ps = [p for p in sig.parameters.values() if p.name not in skip]
    if not any(p.kind is p.VAR_KEYWORD for p in ps):
        names = [p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for key in params:
            if key not in names:
                return f"{key}: not a parameter (allowed: {', '.join(names) or 'none'})"
    for p in ps:
        if (p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name not in params):
            return f"{p.name}: required"
    constraints = getattr(obj, "_parameter_constraints", None)
    if isinstance(constraints, dict):
        from sklearn.utils._param_validation import (
            InvalidParameterError,
            validate_parameter_constraints,
        )

        try:
            validate_parameter_constraints(
                {k: v for k, v in constraints.items() if k in params}, dict(params),
                caller_name=getattr(obj, "__name__", "plugin"))
        except InvalidParameterError as e:
            return str(e).splitlines()[0]
    return None


class PluginFailure(RuntimeError):
    """A plugin raised while a cell ran; the message names the plugin and where it comes from."""


@contextmanager
def blame(kind: str, name: str | None, doing: str) -> Iterator[None]:
    """Re-raise what a plugin's code raises inside the block as :class:`PluginFailure` naming
    it (``strategies 'half' (acakit-example-plugin 0.1.0) failed in poison: ValueError: ...``),
    so a stored failure says which code failed; built-ins' errors pass unchanged."""
    reg = REGISTRIES[kind]
    if name is None or name not in reg or reg.is_builtin(name):
        yield
        return
    try:
        yield
    except Exception as e:
        text = str(e).strip().splitlines()
        raise PluginFailure(f"{kind} {name!r} ({reg.origin(name).label()}) failed {doing}: "
                            f"{type(e).__name__}" + (f": {text[0]}" if text else "")) from e


def provenance(used: Mapping[str, str | list[str] | None]) -> str:
    """The ``plugins`` column of a stored cell: ``kind.name=origin`` for every piece a cell used
    that is not built in, ``;``-joined (``""`` when all are built in)."""
    parts = []
    for kind, names in used.items():
        reg = REGISTRIES[kind]
        for name in [names] if isinstance(names, str) else names or []:
            if name in reg and not reg.is_builtin(name):
                parts.append(f"{kind}.{name}={reg.origin(name).label()}")
    return "; ".join(parts)


def installed() -> list[dict[str, str]]:
    """Every installed plugin entry point, one row per (kind, name): ``kind``, ``name``,
    ``distribution``, ``version``, ``target`` and ``status`` (``ok``, ``shadowed by a
    built-in``, or the load error). Loads each plugin to check it."""
    rows = []
    for kind, reg in REGISTRIES.items():
        for name, ep in reg._eps().items():
            dist = getattr(ep, "dist", None)
            row = {"kind": kind, "name": name,
                   "distribution": getattr(dist, "name", "") or "",
                   "version": getattr(dist, "version", "") or "", "target": ep.value}
            if reg.is_builtin(name):
                row["status"] = "shadowed by a built-in"
            else:
                try:
                    reg[name]
                    row["status"] = "ok"
                except PluginError as e:
                    row["status"] = str(e)
            rows.append(row)
    return rows


__all__ = [
    "DATASETS_REGISTRY", "DEFENSES_REGISTRY", "FIRMS_REGISTRY", "KINDS", "METRICS", "Origin",
    "PluginError", "PluginFailure", "REGISTRIES", "Registry", "SIGNALS", "STRATEGIES", "blame",
    "check_plugins", "check_shippable", "install", "installed", "params_problem", "provenance",
    "session_plugins", "stored_names", "unknown_stored", "using",
]
