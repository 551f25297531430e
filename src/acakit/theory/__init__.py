"""Theory you can compute: success bounds, critical masses, their estimators and a planner.

- :mod:`acakit.theory.bounds`: infinite-data bounds (Hardt et al., ICML 2023), pure and vectorised;
- :mod:`acakit.theory.finite`: finite-sample bounds (Gauthier, Bach, Jordan, ICML 2025);
- :mod:`acakit.theory.estimators`: Δ, ξ and per-point quantities from a :class:`~acakit.data.Dataset`;
- :mod:`acakit.theory.planner`: :func:`plan` ("how many of us do we need?").
"""

from acakit.theory.bounds import (
    check_inputs,
    critical_count,
    critical_mass,
    erasing_bound,
    erasing_critical_mass,
    feature_only_bound,
    feature_only_critical_mass,
    gradient_control_critical_mass,
    gradient_control_feasible,
    hoeffding_radius,
    planting_bound,
    planting_critical_mass,
    success_bound,
    unplanting_bound,
    unplanting_critical_mass,
)

__all__ = [
    "check_inputs",
    "critical_count",
    "critical_mass",
    "erasing_bound",
    "erasing_critical_mass",
    "feature_only_bound",
    "feature_only_critical_mass",
    "gradient_control_critical_mass",
    "gradient_control_feasible",
    "hoeffding_radius",
    "planting_bound",
    "planting_critical_mass",
    "success_bound",
    "unplanting_bound",
    "unplanting_critical_mass",
]
