"""The audit's batteries as ordinary engine configs (``acakit run`` / ``acakit fairness``).

:func:`battery_configs` writes one config per planting/erasure battery of
:func:`acakit.audit.audit` (feature-label planting at up to three signal strengths, feature-only
planting and erasure with the strongest signal), :func:`fairness_config` the minority
relabeling battery of one sensitive column, :func:`to_yaml` the text a report embeds. Plain
dictionaries: each runs as it is with ``acakit run`` (or ``acakit fairness pareto``), which is
how a report's numbers are reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Signal strengths: number of feature columns the collective sets.
STRENGTHS: dict[str, int] = {"weak": 1, "medium": 2, "strong": 3}
#: Share of the minority in the relabeling collective and its budgets (fractions of candidates).
FAIRNESS_ALPHA = 0.3
FAIRNESS_BUDGETS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)


def to_yaml(d: dict[str, Any]) -> str:
    """A config as YAML text, keys in their order.

    Examples
    --------
    >>> print(to_yaml({"name": "audit", "sweep": {"alpha": [0.0, 0.01]}}), end="")
    name: audit
    sweep:
      alpha:
      - 0.0
      - 0.01
    """
    import yaml

    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


def battery_configs(data: str, label: str, sensitive: str | Sequence[str] | None, firm: str,
                    target: str, signals: list[tuple[str, Any]], alphas: Sequence[float],
                    seeds: Sequence[int], test_size: float = 0.3,
                    drop: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """One ``acakit run`` config per planting/erasure battery.

    Parameters
    ----------
    data : str
        The CSV file.
    label : str
        Its label column.
    sensitive : str or sequence of str or None
        Sensitive columns (kept out of the features by the loader).
    firm : str
        The firm's name or dotted path.
    target : str
        Target class of the planting collectives.
    signals : list of (column, value)
        Signal columns and values, most distinctive first
        (:func:`acakit.signal_columns.choose_signal_columns`).
    alphas : sequence of float
        Collective sizes.
    seeds : sequence of int
    test_size : float, default=0.3
    drop : sequence of str, default=()
        Columns of the CSV that are no feature.

    Returns
    -------
    dict of str to dict
        Battery name (``plant (weak: 1 column)``, ..., ``plant feature-only (strong)``,
        ``erase (strong)``) -> config.
    """
    params: dict[str, Any] = {"path": str(data), "label": label}
    if drop:
        params["drop"] = list(drop)
    if sensitive:
        params["sensitive"] = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    base = {"dataset": {"name": "csv", "params": params, "test_size": test_size},
            "firm": {"name": firm},
            "sweep": {"alpha": [float(a) for a in alphas], "seed": [int(s) for s in seeds]}}
    out: dict[str, dict[str, Any]] = {}
    strengths = [(n, k) for n, k in STRENGTHS.items() if k <= len(signals)]
    if strengths and strengths[-1][1] < min(3, len(signals)):
        strengths.append(("strong", len(signals)))
    for name, k in strengths:
        values = {c: _plain(v) for c, v in signals[:k]}
        out[f"plant ({name}: {k} column{'s' if k > 1 else ''})"] = base | {
            "name": f"audit: feature-label planting, {name} signal",
            "collective": {"strategy": "plant", "signal": {"type": "set_columns", "values": values},
                           "target": target, "eligibility": "any"}}
    strongest = {c: _plain(v) for c, v in signals[:strengths[-1][1]]}
    out["plant feature-only (strong)"] = base | {
        "name": "audit: feature-only planting, strong signal",
        "collective": {"strategy": "plant_feature_only",
                       "signal": {"type": "set_columns", "values": strongest},
                       "target": target, "eligibility": "target"}}
    out["erase (strong)"] = base | {
        "name": "audit: signal erasure, strong signal",
        "collective": {"strategy": "erase", "signal": {"type": "set_columns", "values": strongest},
                       "ideal": True, "reference": {"name": firm}}}
    return out


def fairness_config(data: str, label: str, sensitive: str, minority: str, favorable: str, firm: str,
                    seeds: Sequence[int], test_size: float = 0.3,
                    drop: Sequence[str] = ()) -> dict[str, Any]:
    """The ``experiment: fairness`` config of the minority relabeling battery of one sensitive
    column: a collective of :data:`FAIRNESS_ALPHA` of the minority relabels up to each of
    :data:`FAIRNESS_BUDGETS` of its candidates (ranked by probability, and at random), beside
    the ThresholdOptimizer baseline.

    Parameters
    ----------
    data, label : str
        The CSV file and its label column.
    sensitive, minority, favorable : str
        The sensitive column, its minority value and the favourable class.
    firm : str
    seeds : sequence of int
    test_size : float, default=0.3
    drop : sequence of str, default=()

    Returns
    -------
    dict
        The config (runnable with ``acakit fairness pareto``).
    """
    return {
        "experiment": "fairness",
        "name": f"audit: minority relabeling ({sensitive} = {minority})",
        "dataset": {"name": "csv", "params": {"path": str(data), "label": label,
                                              "sensitive": [sensitive]}
                    | ({"drop": list(drop)} if drop else {}), "test_size": test_size},
        "groups": {"minority": {sensitive: minority}, "favorable": favorable},
        "firm": {"name": firm},
        "relabel": {"methods": ["probability", "random"], "alpha": FAIRNESS_ALPHA,
                    "budgets": list(FAIRNESS_BUDGETS), "thresholds": [0.5]},
        "baselines": ["threshold_eo"],
        "seeds": [int(s) for s in seeds],
        "analyses": ["pareto"],
    }


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
