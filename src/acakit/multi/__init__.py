"""Multiple collectives acting on one firm (Battiloro et al. 2025, 2026): simulation,
alignment measures, bounds in three knowledge tiers, interaction analyses.

See ``docs/multiple_collectives.md`` for the setting and the derivations.
"""

from acakit.multi.bounds import (
    TIERS,
    PointInputs,
    adversarial_loss,
    aggregate_bound,
    finite_tier_bounds,
    full_knowledge_bound,
    multi_planting_bound,
    tier_bounds,
    worst_case_bound,
)
from acakit.multi.estimate import finite_bounds_for, population_inputs, simulation_bounds
from acakit.multi.measures import (
    alignment_measures,
    jaccard_matrix,
    label_entropy,
    signal_overlap,
    size_entropy,
)
from acakit.multi.simulate import (
    OVERLAP_POLICIES,
    MemberCollective,
    MultiResult,
    assign_members,
    check_collectives,
    simulate,
)

__all__ = [
    "OVERLAP_POLICIES",
    "TIERS",
    "MemberCollective",
    "MultiResult",
    "PointInputs",
    "adversarial_loss",
    "aggregate_bound",
    "alignment_measures",
    "assign_members",
    "check_collectives",
    "finite_bounds_for",
    "finite_tier_bounds",
    "full_knowledge_bound",
    "jaccard_matrix",
    "label_entropy",
    "multi_planting_bound",
    "population_inputs",
    "signal_overlap",
    "simulate",
    "simulation_bounds",
    "size_entropy",
    "tier_bounds",
    "worst_case_bound",
]
