"""Multiple collectives acting on one firm (Battiloro et al. 2025, 2026): simulation,
alignment measures, bounds in three knowledge tiers, interaction analyses.

See ``docs/multiple_collectives.md`` for the setting and the derivations.
"""

from __future__ import annotations

import sys

from acakit._lazy import LazyPackage

# name -> module: the submodules (and scikit-learn, pandas, fairlearn behind them) load on
# first use, so `acakit --help` and the CLI's one-line errors do not pay for them.
_LAZY = {
    "MemberCollective": "acakit.multi.simulate",
    "MultiResult": "acakit.multi.simulate",
    "OVERLAP_POLICIES": "acakit.multi.simulate",
    "PointInputs": "acakit.multi.bounds",
    "TIERS": "acakit.multi.bounds",
    "adversarial_loss": "acakit.multi.bounds",
    "aggregate_bound": "acakit.multi.bounds",
    "alignment_measures": "acakit.multi.measures",
    "assign_members": "acakit.multi.simulate",
    "check_collectives": "acakit.multi.simulate",
    "finite_bounds_for": "acakit.multi.estimate",
    "finite_tier_bounds": "acakit.multi.bounds",
    "full_knowledge_bound": "acakit.multi.bounds",
    "jaccard_matrix": "acakit.multi.measures",
    "label_entropy": "acakit.multi.measures",
    "noise_components": "acakit.multi.estimate",
    "noisy_tier_bounds": "acakit.multi.bounds",
    "multi_planting_bound": "acakit.multi.bounds",
    "population_inputs": "acakit.multi.estimate",
    "signal_overlap": "acakit.multi.measures",
    "simulate": "acakit.multi.simulate",
    "simulation_bounds": "acakit.multi.estimate",
    "size_entropy": "acakit.multi.measures",
    "tier_bounds": "acakit.multi.bounds",
    "worst_case_bound": "acakit.multi.bounds",
}

__all__ = sorted(_LAZY)


sys.modules[__name__].__class__ = LazyPackage
