"""Synthetic smart-city climate-adaptation data (the multi-collective motivating case).

A city allocates one climate-adaptation intervention per household report with a classifier
trained on past reports. Each row joins **sensor features** the residents cannot change and
**report features** they fill in themselves (and so can coordinate on):

=====================  ========================================  ==================
feature                values                                    who controls it
=====================  ========================================  ==================
``heat_exposure``      low, medium, high                         sensors
``flood_risk``         low, medium, high                         sensors
``canopy_cover``       low, high                                 sensors
``elderly_share``      low, high (share of residents over 65)    census
``reported_issue``     none, heat, flooding, shade, runoff       resident
``report_channel``     app, hotline, meeting                     resident
``urgency``            low, high, critical                       resident
=====================  ========================================  ==================

Generative model (all categorical, so the empirical-Bayes firm and the counting estimators
apply): sensors are independent (heat and flood risk: 40/35/25 %, canopy and elderly share:
50/50). The true need is a score per intervention, from the sensors:

- ``cooling_centre``: 1.2·heat + 1.5·[elderly high] (heat in 0, 1, 2);
- ``tree_planting``: 1.0·heat + 1.5·[canopy low];
- ``flood_protection``: 1.8·flood;
- ``green_roof``: 0.6·heat + 0.6·flood + 0.5·[canopy low];
- ``none``: 2.2 (the default when nothing stands out).

Residents report what they experience: ``reported_issue`` follows the largest of the heat,
flood and canopy signals with probability ``report_fidelity`` (else uniform); ``urgency``
grows with the true need; ``report_channel`` is independent (app 50 %, hotline 30 %,
meeting 20 %). The label is drawn from ``softmax(score / temperature + report bonus)``, where
the report bonus (``report_weight``, default 0.8) adds to the intervention matching the
reported issue (heat → cooling centre and tree planting, flooding → flood protection, shade →
tree planting, runoff → green roof): the city does listen to reports, which is exactly what a
coordinated group of residents can exploit. ``meta["posterior"]`` holds the exact
``P(y | x)`` for every cell (a DataFrame keyed by the features), so Δ and ξ of any signal can
be read off exactly.

A resident collective's signal sets some of the three report features (e.g. ``reported_issue:
heat, urgency: critical``); its signal set is every household (sensor values free) with those
reports. Two groups whose signals fix compatible values overlap (e.g. ``{issue: heat, urgency:
critical}`` and ``{issue: heat, channel: app}`` share every ``(heat, app, critical)`` report);
groups asking for the same intervention are aligned, the others compete.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from acakit.data.base import Dataset

INTERVENTIONS = ["none", "cooling_centre", "tree_planting", "flood_protection", "green_roof"]
LEVELS3 = ["low", "medium", "high"]
FEATURES: dict[str, list[str]] = {
    "heat_exposure": LEVELS3,
    "flood_risk": LEVELS3,
    "canopy_cover": ["low", "high"],
    "elderly_share": ["low", "high"],
    "reported_issue": ["none", "heat", "flooding", "shade", "runoff"],
    "report_channel": ["app", "hotline", "meeting"],
    "urgency": ["low", "high", "critical"],
}
SENSORS = ("heat_exposure", "flood_risk", "canopy_cover", "elderly_share")
REPORTS = ("reported_issue", "report_channel", "urgency")
# reported issue -> interventions it argues for
_BONUS = np.zeros((5, 5))
_BONUS[1, [1, 2]] = 1.0  # heat
_BONUS[2, 3] = 1.0  # flooding
_BONUS[3, 2] = 1.0  # shade
_BONUS[4, 4] = 1.0  # runoff


def _scores(heat: np.ndarray, flood: np.ndarray, canopy_low: np.ndarray, elderly: np.ndarray) -> np.ndarray:
    return np.stack([
        np.full(heat.shape, 2.2),
        1.2 * heat + 1.5 * elderly,
        1.0 * heat + 1.5 * canopy_low,
        1.8 * flood,
        0.6 * heat + 0.6 * flood + 0.5 * canopy_low,
    ], axis=-1)


def _posterior(codes: np.ndarray, temperature: float, report_weight: float) -> np.ndarray:
    heat, flood, canopy, elderly, issue = (codes[:, k] for k in range(5))
    logits = _scores(heat, flood, (canopy == 0).astype(float), (elderly == 1).astype(float))
    logits = logits / temperature + report_weight * _BONUS[issue]
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def make_smart_city(
    n_samples: int = 20000,
    temperature: float = 0.6,
    report_weight: float = 0.8,
    report_fidelity: float = 0.7,
    seed: int | None = 0,
) -> Dataset:
    """Household reports for climate-adaptation planning (see the module docstring).

    Parameters
    ----------
    n_samples : int, default=20000
        Number of reports.
    temperature : float, default=0.6
        Softness of the allocation rule (> 0; smaller: labels follow the need more closely).
    report_weight : float, default=0.8
        How much the city's past decisions followed the reported issue (>= 0).
    report_fidelity : float, default=0.7
        Probability that a resident reports the issue the sensors point to, in [0, 1].
    seed : int or None, default=0

    Returns
    -------
    Dataset
        Tabular, all columns categorical (strings), classes :data:`INTERVENTIONS`; the
        sensitive frame holds ``elderly_share``. ``meta["posterior"]``: exact ``P(y | x)`` per
        cell.

    Examples
    --------
    >>> ds = make_smart_city(n_samples=500, seed=0)
    >>> ds.classes[:3], ds.X.shape
    (['none', 'cooling_centre', 'tree_planting'], (500, 7))
    """
    if n_samples < 1 or temperature <= 0 or report_weight < 0 or not 0 <= report_fidelity <= 1:
        raise ValueError("need n_samples >= 1, temperature > 0, report_weight >= 0, "
                         "report_fidelity in [0, 1]")
    rng = check_random_state(seed)
    n = n_samples
    heat = rng.choice(3, n, p=[0.4, 0.35, 0.25])
    flood = rng.choice(3, n, p=[0.4, 0.35, 0.25])
    canopy = rng.randint(2, size=n)
    elderly = rng.randint(2, size=n)
    # the issue the sensors point to: heat (1), flooding (2), shade (3) or none (0)
    pointers = np.stack([np.full(n, 0.9), heat.astype(float), flood.astype(float),
                         (canopy == 0) * 1.0 + 0.5 * heat], axis=1)
    true_issue = pointers.argmax(1)
    issue = np.where(rng.random_sample(n) < report_fidelity, true_issue, rng.randint(5, size=n))
    need = _scores(heat, flood, (canopy == 0).astype(float), (elderly == 1).astype(float))[:, 1:].max(1)
    p_crit = np.clip((need - 1.5) / 4.0, 0.05, 0.6)
    u = rng.random_sample(n)
    urgency = np.where(u < p_crit, 2, np.where(u < p_crit + 0.35, 1, 0))
    channel = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    codes = np.stack([heat, flood, canopy, elderly, issue], axis=1)
    post = _posterior(codes, temperature, report_weight)
    y = (rng.random_sample(n)[:, None] > post.cumsum(1)).sum(1).clip(0, 4)
    cols = dict(zip(FEATURES, (heat, flood, canopy, elderly, issue, channel, urgency), strict=True))
    X = pd.DataFrame({k: np.asarray(FEATURES[k], dtype=object)[v] for k, v in cols.items()})
    # exact posterior table over every cell (channel and urgency do not enter P(y | x))
    grid = np.array(list(itertools.product(*(range(len(FEATURES[k])) for k in FEATURES))))
    table = pd.DataFrame({k: np.asarray(FEATURES[k], dtype=object)[grid[:, j]]
                          for j, k in enumerate(FEATURES)})
    table[INTERVENTIONS] = _posterior(grid[:, :5], temperature, report_weight)
    return Dataset(
        name="smart_city",
        X=X,
        y=y.astype(np.int64),
        classes=list(INTERVENTIONS),
        kind="tabular",
        sensitive=X[["elderly_share"]].copy(),
        feature_types=dict.fromkeys(FEATURES, "categorical"),
        meta={"posterior": table, "sensors": list(SENSORS), "reports": list(REPORTS)},
    )
