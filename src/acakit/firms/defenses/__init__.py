"""Firms that defend themselves: data sanitisation before fitting.

A *defense* looks at the training data ``(X, y)`` a firm is given and, before the firm fits,
either **filters or reweights** rows (a weight per row: 0 drops it, 1 keeps it) or
**transforms** the data (vocabulary pruning, rare categorical values merged), the same way at
fit and at prediction time. :class:`DefendedClassifier` wraps any firm with one defense, so a
defended firm is just another firm: ``make_firm(..., defense={"name": ..., "params": ...})``
works for every kind of experiment, and the engine reads the rows the defense dropped from the
fitted wrapper (``weights_``) to measure how well it found the collective.

Built-in defenses (:data:`DEFENSES`):

================== =========== ==============================================================
name               acts by     what
================== =========== ==============================================================
isolation_forest   filter      feature outliers (scikit-learn ``IsolationForest``)
lof                filter      feature outliers (scikit-learn ``LocalOutlierFactor``)
confident_learning filter      label issues (cleanlab ``find_label_issues`` on cross-validated
                               probabilities)
duplicates         filter      exact duplicates, and near duplicates of texts (word n-gram
                               MinHash + LSH, datasketch)
spectral           filter      spectral signatures (Tran, Li, Madry 2018; numpy SVD) on the
                               firm's representation
min_df             transform   text: tokens in fewer than ``min_df`` training documents are
                               removed; tabular: categorical values in fewer than ``min_df``
                               training rows are merged into one value
callable           filter      any allowed function ``f(X, y, **params) -> keep mask or
                               weights`` named by a dotted path
================== =========== ==============================================================

One module per family (:mod:`~acakit.firms.defenses.outliers`,
:mod:`~acakit.firms.defenses.labels`, :mod:`~acakit.firms.defenses.duplicates`,
:mod:`~acakit.firms.defenses.transforms`, :mod:`~acakit.firms.defenses.custom`), the base class
in :mod:`~acakit.firms.defenses.base`, the wrapper in :mod:`~acakit.firms.defenses.defended`
and the detection metrics in :mod:`~acakit.firms.defenses.detection`; every name is importable
from ``acakit.firms.defenses``.

A config names a function by a dotted path under an allowed module only (the trust model of
:func:`acakit.firms.import_object`, see ``SECURITY.md``): nothing in a config runs arbitrary
code.
"""

from __future__ import annotations

from acakit.firms.defenses.base import Defense
from acakit.firms.defenses.custom import CallableDefense, import_function, keep_all
from acakit.firms.defenses.defended import DefendedClassifier, make_defense
from acakit.firms.defenses.detection import defense_columns, detection_metrics
from acakit.firms.defenses.duplicates import Duplicates
from acakit.firms.defenses.labels import ConfidentLearning
from acakit.firms.defenses.outliers import IsolationForestDefense, LOFDefense, SpectralSignatures
from acakit.firms.defenses.transforms import TOKEN_PATTERN, MinDF
from acakit.registry import DEFENSES_REGISTRY, Registry

__all__ = [
    "DEFENSES",
    "TOKEN_PATTERN",
    "CallableDefense",
    "ConfidentLearning",
    "Defense",
    "DefendedClassifier",
    "Duplicates",
    "IsolationForestDefense",
    "LOFDefense",
    "MinDF",
    "SpectralSignatures",
    "defense_columns",
    "detection_metrics",
    "import_function",
    "keep_all",
    "make_defense",
]


#: name -> (class, description): the defenses' registry (see :mod:`acakit.registry`)
DEFENSES: Registry[tuple[type[Defense], str]] = DEFENSES_REGISTRY
DEFENSES.expect_subclass_of(Defense, "acakit.firms.defenses.Defense")
for _name, _entry in {
    "isolation_forest": (IsolationForestDefense, "feature outliers (IsolationForest)"),
    "lof": (LOFDefense, "feature outliers (LocalOutlierFactor)"),
    "confident_learning": (ConfidentLearning, "label issues (cleanlab, cross-validated)"),
    "duplicates": (Duplicates, "exact and near-duplicate records (MinHash for texts)"),
    "spectral": (SpectralSignatures, "spectral signatures on the firm's representation"),
    "min_df": (MinDF, "rare tokens pruned (text), rare categorical values merged (tabular)"),
    "callable": (CallableDefense, "a user function (X, y) -> keep mask or weights"),
}.items():
    DEFENSES.register(_name, _entry)
DEFENSES.set_titles({"isolation_forest": "isolation forest", "lof": "local outlier factor",
                     "confident_learning": "confident learning", "duplicates": "duplicate filter",
                     "spectral": "spectral signatures", "min_df": "min. document frequency",
                     "callable": "custom filter"})
