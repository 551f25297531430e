"""Legend labels a reader of a paper can read, and the checks that keep them so.

A grid point is named in ``results.csv`` by its full grid label
(``firm.defense={"name": "isolation_forest", "params": {"contamination": 0.01}}``); a terminal
table names only what varies, in ``key=value`` form (:func:`acakit.analyses.tables.short_variants`).
A legend says it in words: the name of a strategy, firm or defense
(``isolation forest (contamination: 0.01)``, ``feature-only planting``), a plain setting as
``key: value``, never ``=``, never the bare placeholder ``base``.

- :func:`legend_labels` turns grid labels into legend entries; a config's ``labels:`` mapping
  (from a built-in or plugin name, a grid value or a whole grid label to the text to show)
  overrides any of them, through :func:`label_overrides`.
- :func:`display_name` reads the words each built-in's module registered with it
  (:meth:`acakit.registry.Registry.set_titles`); a plugin's ``title`` attribute, else its name
  with underscores as spaces, unless ``labels:`` names it.
- :func:`label_problems` lists, for a drawn figure, a legend entry with ``=`` or a bare ``base``,
  a heat map without the values in its cells and a colour bar without a label; the tests run it
  over every example's figures.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from acakit.analyses.tables import _short_key, grid_values, noise_level, same_values

#: Names that are no registry's: the gradient strategies and the no-defense placeholder.
OTHER_TITLES: dict[str, str] = {"gradient_neutralize": "neutralize gradient",
                                "gradient_control": "control gradient", "none": "no defense"}
#: Keys whose value is the name of a piece: shown as that name alone.
NAME_KEYS = {"strategy", "firm", "defense", "name", "method", "type"}
#: Keys shown by another word.
KEY_NAMES = {"alpha": "α", "sublinear_tf": "sublinear tf", "keep_symbols": "keep symbols",
             "min_df": "min df", "p_drop": "p drop", "p_signal": "p signal", "p_label": "p label"}
#: What a run without a grid is called in a legend (instead of the placeholder ``base``).
SINGLE_VARIANT = "measured"

_OVERRIDES: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "acakit_label_overrides", default=MappingProxyType({}))


@contextlib.contextmanager
def label_overrides(labels: Mapping[str, str] | None) -> Iterator[None]:
    """While active, :func:`legend_labels` and :func:`display_name` use ``labels`` (a config's
    ``labels:``) first: a name, a grid value or a whole grid label -> the text to show."""
    # a user's "$" is a dollar sign, not matplotlib's mathtext
    token = _OVERRIDES.set({str(k): str(v).replace("$", r"\$") for k, v in (labels or {}).items()})
    try:
        yield
    finally:
        _OVERRIDES.reset(token)


def display_name(name: Any) -> str:
    """The readable name of a piece: the config's ``labels:`` entry, the title its registry
    holds (:meth:`~acakit.registry.Registry.title`), a dotted class path's class name, else the
    name with spaces.

    Examples
    --------
    >>> display_name("isolation_forest"), display_name("sklearn.dummy.DummyClassifier")
    ('isolation forest', 'DummyClassifier')
    >>> display_name("label_budget")
    'label budget'
    """
    from acakit.registry import REGISTRIES

    text = str(name)
    over = _OVERRIDES.get()
    if text in over:
        return str(over[text])
    if text in OTHER_TITLES:
        return OTHER_TITLES[text]
    for registry in REGISTRIES.values():  # the title its module registered (one place)
        title = registry.title(text) if text in registry else ""
        if title:
            return title
    if "." in text and not text.replace(".", "").isdigit():
        text = text.rsplit(".", 1)[1]
    return text.replace("_", " ")


def words(text: str) -> str:
    """A short ``name(k=v, ...)`` or ``k=v`` label (the game's strategy names) in words.

    Examples
    --------
    >>> words("isolation_forest(contamination=0.01)"), words("p_feature_only=0.5")
    ('isolation forest (contamination: 0.01)', 'p feature only: 0.5')
    """
    text = str(text)
    over = _OVERRIDES.get()
    if text in over:
        return str(over[text])
    m = re.fullmatch(r"([^()=]+)\((.*)\)", text)
    if m:
        return f"{display_name(m[1])} ({m[2].replace('=', ': ')})"
    if "=" in text:
        return ", ".join(f"{_key_text(k.strip())}: {v}" if v else k for k, _, v in
                         (part.partition("=") for part in text.split(", ")))
    return display_name(text)


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{_key_text(k)}: {_value_text(v)}" for k, v in value.items())
    text = str(value)
    return str(_OVERRIDES.get().get(text, text))


def _key_text(key: str) -> str:
    return KEY_NAMES.get(key, key.replace("_", " "))


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """The leaves of nested dicts by dotted path (``params.C``)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for k, v in value.items():
        out |= _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def _dict_text(value: dict[str, Any], varying: set[str]) -> str:
    """A dict grid value in words: its name (if it has one) and its varying settings."""
    q = noise_level(value)
    if q is not None:
        return f"noise q: {q:.2g}"
    name_key = next((k for k in ("name", "strategy", "type") if k in value), None)
    leaves = _leaves(value)
    settings = [f"{_key_text(path.rsplit('.', 1)[-1])}: {_value_text(v)}"
                for path, v in leaves.items() if path in varying and path != name_key]
    if name_key is None:
        return ", ".join(settings)
    name = display_name(value[name_key])
    return f"{name} ({', '.join(settings)})" if settings else name


def legend_labels(variants: Sequence[str]) -> list[str]:
    """Legend entries for grid labels: what varies between them, in words.

    Parameters
    ----------
    variants : sequence of str
        Grid labels ``"key=value, key=value"`` (values JSON or Python literals), or ``"base"``
        for a run without a grid.

    Returns
    -------
    list of str
        One entry per label, with no ``=``: a piece's name for a name key (``firm``,
        ``defense``, ``strategy``...), its name and varying settings for a dict value,
        ``key: value`` for any other setting, ``noise q: ...`` for a noise spec,
        :data:`SINGLE_VARIANT` for ``base``. A config's ``labels:`` (:func:`label_overrides`)
        replaces a whole label or any name or value in it.

    Examples
    --------
    >>> legend_labels(['firm.defense={"name": "none"}',
    ...                'firm.defense={"name": "isolation_forest", "params": {"contamination": 0.01}}'])
    ['no defense', 'isolation forest (contamination: 0.01)']
    >>> legend_labels(["collective.signal.count=1", "collective.signal.count=20"])
    ['count: 1', 'count: 20']
    >>> legend_labels(["base"])
    ['measured']
    """
    over = _OVERRIDES.get()
    parsed = [grid_values(label) for label in variants]
    grids = [d for d in parsed if d is not None]
    keys = list(dict.fromkeys(k for d in grids for k in d))
    vary = [k for k in keys if not same_values(d.get(k) for d in grids)] or keys
    sub: dict[str, set[str]] = {}
    for k in vary:
        leaves = [_leaves(d[k]) for d in grids if isinstance(d.get(k), dict)]
        paths = {p for lv in leaves for p in lv}
        sub[k] = {p for p in paths if len(leaves) < 2 or not same_values(lv.get(p) for lv in leaves)}
    out = []
    for label, d in zip(variants, parsed, strict=True):
        if str(label) in over:
            out.append(str(over[str(label)]))
            continue
        if d is None:
            out.append(SINGLE_VARIANT if str(label) == "base" else str(label).replace("=", ": "))
            continue
        items = []
        for k in vary:
            v = d.get(k)
            if v is None or v == "None":
                continue
            short = _short_key(k, vary)
            if isinstance(v, dict):
                items.append(_dict_text(v, sub.get(k, set())))
            elif short.rsplit(".", 1)[-1] in NAME_KEYS:
                items.append(display_name(v))
            else:
                items.append(f"{_key_text(short.rsplit('.', 1)[-1])}: {_value_text(v)}")
        text = ", ".join(i for i in items if i) or SINGLE_VARIANT
        out.append(str(over.get(text, text)))
    return out


def legend_map(variants: Sequence[Any]) -> dict[str, str]:
    """``variant -> legend entry`` for the distinct variants of a column (in first-seen order)."""
    names = list(dict.fromkeys(str(v) for v in variants))
    return dict(zip(names, legend_labels(names), strict=True))


def label_problems(fig: Any) -> list[str]:
    """What a paper's reader would not want in a figure's words (one line each, empty if none):
    a legend entry with ``=`` or a bare ``base``, a heat map whose cells show no values, a colour
    bar without a label."""
    problems = []
    legends = [*(ax.get_legend() for ax in fig.axes), *fig.legends]
    for leg in legends:
        if leg is None:
            continue
        for t in leg.get_texts():
            text = t.get_text()
            if "=" in text or text.strip() == "base":
                problems.append(f"legend entry {text!r} is raw config, not words")
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            if not (ax.get_ylabel() or ax.get_xlabel()):
                problems.append("a colour bar without a label")
            continue
        heat = [im for im in [*ax.images, *ax.collections] if type(im).__name__ in
                ("AxesImage", "QuadMesh")]
        if heat and not any(t.get_text().strip() for t in ax.texts):
            problems.append(f"heat map {ax.get_title()!r} shows no values in its cells")
    return problems
