"""Minority collective action for fairness (Ben-Dov, Samadi, Sanyal, Țifrea, 2025).

A fraction α of a minority group relabels some of its own unfavourable labels, ranked by how a
majority member with the same features would be labelled, so that the firm's model becomes
fairer. See ``docs/fairness.md``.

Main entry points: :class:`GroupSpec`, :func:`plan_relabeling`, the scorers, :class:`Relabel`
(a strategy for :class:`acakit.collective.Collective`), :class:`FirmBaseline`,
:func:`fairness_metrics`, :func:`make_minority_synthetic` and :func:`run_config`.
"""

from acakit.fairness.baselines import BASELINES, FirmBaseline, massage_labels, reweighing_weights
from acakit.fairness.experiment import FairnessConfig, run_config, run_fairness
from acakit.fairness.groups import GroupSpec, check_alpha
from acakit.fairness.metrics import fairness_metrics
from acakit.fairness.relabel import Relabel, RelabelPlan, plan_relabeling
from acakit.fairness.scorers import (
    DistanceScorer,
    LabelScorer,
    ProbabilityScorer,
    RandomScorer,
    Scorer,
    make_scorer,
)
from acakit.fairness.synthetic import (
    counterfactual_proba,
    flip_precision,
    ideal_relabeling,
    make_minority_synthetic,
)

__all__ = [
    "BASELINES", "DistanceScorer", "FairnessConfig", "FirmBaseline", "GroupSpec", "LabelScorer",
    "ProbabilityScorer", "RandomScorer", "Relabel", "RelabelPlan", "Scorer", "check_alpha",
    "counterfactual_proba", "fairness_metrics", "flip_precision", "ideal_relabeling",
    "make_minority_synthetic", "make_scorer", "massage_labels", "plan_relabeling",
    "reweighing_weights", "run_config", "run_fairness",
]  # fmt: skip
