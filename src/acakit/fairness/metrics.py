"""Fairness metrics of a firm's predictions, computed with fairlearn.

The equalized-odds gap is the **mean** of the TPR and FPR gaps between minority and majority
(fairlearn's ``equalized_odds_difference(..., agg="mean")``), as in Ben-Dov et al.; the
worst-case version (max of the two) is reported too. Labels are coded 1 = favourable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from acakit.metrics import trivial_firm


def _error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) != np.asarray(y_pred)))


def fairness_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    group: np.ndarray,
    attributes: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Error and unfairness of predictions.

    Parameters
    ----------
    y_true, y_pred : array of {0, 1}
        True and predicted labels, 1 = favourable.
    group : array of str
        ``"minority"`` / ``"majority"`` per row.
    attributes : DataFrame, optional
        The defining sensitive attributes; with two or more columns the intersectional gaps
        (over every combination of values present) and the worst group's error are added.

    Returns
    -------
    dict
        ``error``, ``eo_gap`` (mean of TPR and FPR gaps), ``eo_gap_max``, ``tpr_gap``,
        ``fpr_gap``, ``dp_gap``, ``error_minority``, ``error_majority``,
        ``selection_minority``, ``selection_majority``, ``tpr_minority``, ``tpr_majority``,
        ``fpr_minority``, ``fpr_majority``, ``trivial_firm`` (why the predictions are trivial,
        :func:`acakit.metrics.trivial_firm`, or ``""``: a zero gap reached by predicting one
        class is no fairness); with intersectional attributes also
        ``eo_gap_intersectional``, ``dp_gap_intersectional``, ``worst_group_error``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 0, 1, 0]); p = np.array([1, 0, 0, 0])
    >>> g = np.array(["majority", "majority", "minority", "minority"])
    >>> fairness_metrics(y, p, g)["eo_gap"]
    0.5
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    group = np.asarray(group)
    frame = MetricFrame(
        metrics={"error": _error, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "selection": selection_rate},
        y_true=y_true, y_pred=y_pred, sensitive_features=pd.Series(group, name="group"),
    )
    diff = frame.difference(method="between_groups")
    by = frame.by_group
    out: dict[str, Any] = {
        "error": float(frame.overall["error"]),
        "eo_gap": float(equalized_odds_difference(y_true, y_pred, sensitive_features=group,
                                                  agg="mean")),
        "eo_gap_max": float(equalized_odds_difference(y_true, y_pred, sensitive_features=group)),
        "tpr_gap": float(diff["tpr"]),
        "fpr_gap": float(diff["fpr"]),
        "dp_gap": float(demographic_parity_difference(y_true, y_pred, sensitive_features=group)),
    }
    for g in ("minority", "majority"):
        out[f"error_{g}"] = float(by.loc[g, "error"]) if g in by.index else float("nan")
        out[f"selection_{g}"] = float(by.loc[g, "selection"]) if g in by.index else float("nan")
        out[f"tpr_{g}"] = float(by.loc[g, "tpr"]) if g in by.index else float("nan")
        out[f"fpr_{g}"] = float(by.loc[g, "fpr"]) if g in by.index else float("nan")
    out["trivial_firm"] = trivial_firm(y_pred, y_true)
    if attributes is not None and attributes.shape[1] >= 2:
        attrs = attributes.reset_index(drop=True).astype(str)
        out["eo_gap_intersectional"] = float(equalized_odds_difference(
            y_true, y_pred, sensitive_features=attrs, agg="mean"))
        out["dp_gap_intersectional"] = float(demographic_parity_difference(
            y_true, y_pred, sensitive_features=attrs))
        inter = MetricFrame(metrics=_error, y_true=y_true, y_pred=y_pred, sensitive_features=attrs)
        out["worst_group_error"] = float(inter.group_max())
    return out


def per_group_table(y_true: np.ndarray, y_pred: np.ndarray, attributes: pd.DataFrame) -> Any:
    """fairlearn ``MetricFrame.by_group`` of error, TPR, FPR and selection rate per group."""
    return MetricFrame(
        metrics={"error": _error, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "selection": selection_rate},
        y_true=np.asarray(y_true), y_pred=np.asarray(y_pred),
        sensitive_features=attributes.reset_index(drop=True).astype(str),
    ).by_group
