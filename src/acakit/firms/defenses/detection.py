"""How well a defense found the collective: the detection columns of a result row."""

from __future__ import annotations

from typing import Any

import numpy as np


def detection_metrics(weights: np.ndarray | None, members: np.ndarray) -> dict[str, float]:
    """How well a defense found the collective: precision, recall and the honest rows dropped.

    A row's removed mass is ``1 - weight`` (1 for a dropped row), so reweighting defenses are
    scored the same way as filters.

    Parameters
    ----------
    weights : numpy.ndarray or None
        The defense's weight of every training row (None: no defense).
    members : numpy.ndarray of bool
        Which training rows belong to the collective.

    Returns
    -------
    dict
        ``defense_flagged`` (share of the training mass removed), ``defense_precision`` (share
        of the removed mass that is the collective's), ``defense_recall`` (share of the
        collective's mass removed: r of the theory), ``defense_honest_dropped`` (share of the
        honest mass removed); NaN where undefined (no defense, nothing removed, no members).

    Examples
    --------
    >>> import numpy as np
    >>> d = detection_metrics(np.array([0, 1, 0, 1.0]), np.array([True, True, False, False]))
    >>> d["defense_precision"], d["defense_recall"], d["defense_honest_dropped"]
    (0.5, 0.5, 0.5)
    """
    members = np.asarray(members, dtype=bool)
    nan = float("nan")
    if weights is None:
        return {"defense_flagged": nan, "defense_precision": nan, "defense_recall": nan,
                "defense_honest_dropped": nan}
    removed = 1.0 - np.clip(np.asarray(weights, dtype=float), 0.0, 1.0)
    total = removed.sum()
    hit = removed[members].sum()
    n_m, n_h = int(members.sum()), int((~members).sum())
    return {
        "defense_flagged": float(total / len(removed)) if len(removed) else nan,
        "defense_precision": float(hit / total) if total > 0 and n_m else nan,
        "defense_recall": float(hit / n_m) if n_m else nan,
        "defense_honest_dropped": float(removed[~members].sum() / n_h) if n_h else nan,
    }


def defense_columns(spec: Any, firm: Any, members: np.ndarray) -> dict[str, Any]:
    """The defense columns of a result row, from a fitted firm with defense ``spec``.

    One place for every kind of cell: ``members`` are the collective's rows (single), the
    rows of all collectives or of one (multi) or the relabeled rows (fairness).

    Returns
    -------
    dict
        ``defense`` (its name, ``"none"`` without one), the detection metrics of
        :func:`detection_metrics` (the rows the fitted firm dropped or down-weighted against
        ``members``; NaN for a transform such as ``min_df``, which drops no row) and
        ``defense_seconds``.
    """
    weights = getattr(firm, "weights_", None)
    acts = getattr(getattr(firm, "defense_", None), "acts", "filter")
    out: dict[str, Any] = {"defense": spec.name if spec is not None else "none"}
    out |= detection_metrics(None if acts == "transform" else weights, members)
    out["defense_seconds"] = float(getattr(firm, "defense_seconds_", float("nan")))
    return out
