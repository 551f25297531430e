"""Minority collective action for fairness (Ben-Dov, Samadi, Sanyal, Țifrea, 2025).

A fraction α of a minority group relabels some of its own unfavourable labels, ranked by how a
majority member with the same features would be labelled, so that the firm's model becomes
fairer. See ``docs/fairness.md``.

Main entry points: :class:`GroupSpec`, :func:`plan_relabeling`, the scorers, :class:`Relabel`
(a strategy for :class:`acakit.collective.Collective`), :class:`FirmBaseline`,
:func:`fairness_metrics`, :func:`counterfactual_dataset` and :func:`counterfactual_success` (the
paper's success S(α)), :func:`make_minority_synthetic`; whole experiments run through the engine
(``experiment: fairness`` configs, :func:`acakit.analyses.fairness.run_config`).
"""

from __future__ import annotations

import sys

from acakit._lazy import LazyPackage

# name -> module: the submodules (and scikit-learn, pandas, fairlearn behind them) load on
# first use, so `acakit --help` and the CLI's one-line errors do not pay for them.
_LAZY = {
    "BASELINES": "acakit.fairness.baselines",
    "DisparateImpactRepair": "acakit.fairness.baselines",
    "DistanceScorer": "acakit.fairness.scorers",
    "FirmBaseline": "acakit.fairness.baselines",
    "GroupSpec": "acakit.fairness.groups",
    "LabelScorer": "acakit.fairness.scorers",
    "ProbabilityScorer": "acakit.fairness.scorers",
    "RandomScorer": "acakit.fairness.scorers",
    "Relabel": "acakit.fairness.relabel",
    "RelabelPlan": "acakit.fairness.relabel",
    "Scorer": "acakit.fairness.scorers",
    "check_alpha": "acakit.fairness.groups",
    "check_baseline": "acakit.fairness.baselines",
    "counterfactual_dataset": "acakit.fairness.counterfactual",
    "counterfactual_proba": "acakit.fairness.synthetic",
    "counterfactual_success": "acakit.fairness.counterfactual",
    "fairness_metrics": "acakit.fairness.metrics",
    "flip_precision": "acakit.fairness.synthetic",
    "ideal_relabeling": "acakit.fairness.synthetic",
    "make_minority_synthetic": "acakit.fairness.synthetic",
    "make_scorer": "acakit.fairness.scorers",
    "massage_labels": "acakit.fairness.baselines",
    "plan_relabeling": "acakit.fairness.relabel",
    "reweighing_weights": "acakit.fairness.baselines",
}

__all__ = sorted(_LAZY)


sys.modules[__name__].__class__ = LazyPackage
