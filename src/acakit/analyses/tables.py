"""Terminal tables that fit: short variant labels and one rule for the digits of α.

Every table acakit prints must stay readable at 100 columns: no number may be cut to ``…``.
Two helpers serve every kind of result:

- :func:`short_variants`: a grid label such as
  ``tech.alpha=0.02, tech.noise={"p_drop":0.0333,...}`` names everything of its grid point; in a
  table only what *varies* between the rows is named, in short form (the last part of a dotted
  key, a noise spec as its level q). The full label stays in ``results.csv``.
- :func:`alpha_strings`: every α of one column is printed with the same number of decimals, the
  fewest that show each value to 3 significant digits (``0.0190, 0.0411, 0.0600``, not
  ``0.019, 0.0411, 0.06``).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

#: the probabilities of a noise spec; a dict with them is shown as its level q (their sum)
NOISE_KEYS = ("p_drop", "p_signal", "p_label", "p_feature_only")


def alpha_strings(values: Iterable[float], digits: int = 3, max_decimals: int = 6) -> list[str]:
    """Format a column of sizes with one rule: one number of decimals for the whole column.

    Parameters
    ----------
    values : iterable of float
        The column (NaN is printed as ``-``).
    digits : int, default 3
        Significant digits each non-zero value keeps at least.
    max_decimals : int, default 6
        At most this many decimals.

    Returns
    -------
    list of str
        The values with the fewest decimals (the same for all) that show every value to
        ``digits`` significant digits, trailing zeros kept so the column lines up.

    Examples
    --------
    >>> alpha_strings([0.019, 0.0411, 0.06])
    ['0.0190', '0.0411', '0.0600']
    >>> alpha_strings([0.0, 0.05, 0.1, 0.5])
    ['0.00', '0.05', '0.10', '0.50']
    >>> alpha_strings([2.0, 4.0, float("nan")])
    ['2', '4', '-']
    """
    vals = [float(v) for v in values]
    decimals = 0
    for v in vals:
        if not math.isfinite(v) or v == 0.0:
            continue
        rounded = float(f"{v:.{digits}g}")
        text = f"{rounded:.{max_decimals}f}".rstrip("0")
        decimals = max(decimals, len(text.split(".")[1]) if "." in text else 0)
    decimals = min(decimals, max_decimals)
    return ["-" if not math.isfinite(v) else f"{v:.{decimals}f}" for v in vals]


def _split_top(label: str) -> list[str]:
    """Split ``"a=1, b={'x': 1, 'y': 2}"`` at the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for i, ch in enumerate(label):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0 and label[i + 1:i + 2] == " ":
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _parse(value: str) -> Any:
    for load in (json.loads, ast.literal_eval):
        try:
            return load(value)
        except (ValueError, SyntaxError, TypeError):
            continue
    return value


def grid_values(label: str) -> dict[str, Any] | None:
    """The ``key -> value`` pairs of a grid label whose every part is ``key=value`` (values
    parsed from JSON or Python literals); None for a label that is not one (``base``)."""
    parts = _split_top(str(label))
    if not parts or not all("=" in p for p in parts):
        return None
    return {k: _parse(v) for k, v in (p.split("=", 1) for p in parts)}


def same_values(values: Iterable[Any]) -> bool:
    """Whether ``values`` are all equal as canonical JSON (dicts compared by content)."""
    return len({json.dumps(v, sort_keys=True, default=str) for v in values}) <= 1


def variant_values(label: str) -> dict[str, Any]:
    """The ``key -> value`` pairs of a grid label (values parsed from JSON or Python literals).

    Examples
    --------
    >>> variant_values('tech.alpha=0.02, tech.noise={"p_drop":0.1,"p_label":0.1}')
    {'tech.alpha': 0.02, 'tech.noise': {'p_drop': 0.1, 'p_label': 0.1}}
    """
    parts = _split_top(str(label))
    return {k: _parse(v) for k, v in (p.split("=", 1) for p in parts if "=" in p)}


def noise_level(value: Any) -> float | None:
    """The level q of a noise spec (the sum of its probabilities), None if not a noise spec.

    Examples
    --------
    >>> noise_level({"p_drop": 0.1, "p_signal": 0.05, "p_label": 0.05})
    0.2
    >>> noise_level(0.3) is None
    True
    """
    if isinstance(value, dict) and any(k in value for k in NOISE_KEYS):
        return round(sum(float(value.get(k, 0.0)) for k in NOISE_KEYS), 10)
    return None


def _short_value(value: Any, varying: set[str] | None = None) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        if any(k in value for k in NOISE_KEYS) and set(value) <= {*NOISE_KEYS, "perturb"}:
            q = sum(float(value.get(k, 0.0)) for k in NOISE_KEYS)
            return f"q={q:.2g}"
        keys = [k for k in value if varying is None or k in varying] or list(value)
        return " ".join(f"{k}={_short_value(value[k])}" for k in keys)
    if isinstance(value, list):
        return "[" + ",".join(_short_value(v) for v in value) + "]"
    return str(value)


def _short_key(key: str, keys: Sequence[str]) -> str:
    """The last part of a dotted key, or ``name``'s parent (``firm.name`` -> ``firm``); the
    whole key where the short one would collide with another."""
    def short(k: str) -> str:
        path = k.split(".")
        return path[-2] if path[-1] == "name" and len(path) > 1 else path[-1]

    s = short(key)
    return key if sum(short(k) == s for k in keys) > 1 else s


def short_variants(labels: Sequence[str]) -> list[str]:
    """Short labels for a table: only the parts that differ between ``labels``, in short form.

    Parameters
    ----------
    labels : sequence of str
        Grid labels ``"key=value, key=value"`` (values may be JSON or Python literals).

    Returns
    -------
    list of str
        One label per input: the ``key=value`` parts whose value varies between the labels,
        keys shortened to their last dotted part, numbers to 3 significant digits, dicts to
        their varying entries (a noise spec to its level ``q``, the sum of its probabilities).
        Labels that are not ``key=value`` lists are returned as they are.

    Examples
    --------
    >>> short_variants(['tech.alpha=0.02, tech.noise={"p_drop":0.0,"p_label":0.0}',
    ...                 'tech.alpha=0.04, tech.noise={"p_drop":0.1,"p_label":0.1}'])
    ['alpha=0.02 q=0', 'alpha=0.04 q=0.2']
    >>> short_variants(["firm=logistic_regression, C=1", "firm=gradient_boosting, C=1"])
    ['firm=logistic_regression', 'firm=gradient_boosting']
    >>> short_variants(["name=tfidf, params={'C': 100}", "name=svm, params=None"])
    ['name=tfidf C=100', 'name=svm']
    >>> short_variants(["base", "base"])
    ['base', 'base']
    """
    maybe = [grid_values(label) for label in labels]
    if any(d is None for d in maybe):
        return [str(x) for x in labels]
    parsed: list[dict[str, Any]] = [d for d in maybe if d is not None]
    keys = list(dict.fromkeys(k for d in parsed for k in d))
    vary = [k for k in keys if not same_values(d.get(k) for d in parsed)]
    if not vary:
        return [str(x) for x in labels]
    sub: dict[str, set[str]] = {}
    for k in vary:
        dicts = [d.get(k) for d in parsed if isinstance(d.get(k), dict)]
        subkeys = {s for d in dicts for s in d}
        sub[k] = {s for s in subkeys if not same_values(d.get(s) for d in dicts)}
    out = []
    for d in parsed:
        items = []
        for k in vary:
            v = d.get(k)
            if v is None or v == "None":  # not set at this grid point
                continue
            text = _short_value(v, sub.get(k))
            # a dict names its own entries ("C=100", "q=0.2"): no outer key
            items.append(text if isinstance(v, dict) else f"{_short_key(k, vary)}={text}")
        out.append(" ".join(items) or "base")
    return out


def fitting_table(title: Any, caption: Any | None = None) -> Any:
    """A rich table drawn to fit narrow terminals: a line under the header, no outer frame, one
    space of padding between columns (no number is cut at 100 columns when headers are short).
    """
    from rich import box
    from rich.table import Table

    return Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False,
                 collapse_padding=True, padding=(0, 1))


def bound_text(value: Any, digits: int = 3) -> str:
    """A lower bound on a success rate as printed: ``vacuous`` at or below 0 (it says nothing),
    ``-`` when not computed, else the number.

    Examples
    --------
    >>> bound_text(-0.23), bound_text(None), bound_text(0.9614)
    ('vacuous', '-', '0.961')
    """
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    v = float(value)
    if v <= 0:
        return "vacuous"
    return f"{v:.{digits}f}"
