"""Strategies for the parametric settings of Hardt et al. (2023): steer a minimizer, a descent.

In the paper's second setting the firm fits ``θ̂ = argmin_θ E_{P_α} ℓ(θ; x, y)`` and the
collective wants θ̂ to be its θ*; in the third the firm runs (S)GD on ``P_α`` and the collective,
seeing θ_t (every step or every K), chooses what it reports. The mixture gradient is

    α · (mean gradient of the reports) + (1 − α) · ∇L0(θ) + penalty,

so everything a collective can do is to choose its reports' mean gradient inside the set its
feasible set allows (:class:`FeasibleSet`). Three strategies:

- :class:`SteerMinimizer` (static, setting 2): reports chosen once, at θ*, so that θ* is a
  stationary point of the mixture risk (a convex problem over soft labels, solved with scipy;
  labels then rounded, and members' features edited within ``edit`` to remove the rounding error);
- :class:`GradientNeutralize` (setting 3): every step its reports cancel the base gradient along
  chosen coordinates, which stay at their held values;
- :class:`GradientControl` (setting 3): every step its reports make the mixture gradient point
  to θ* (the step that lands on θ*), clipped to what the feasible set allows.

The critical masses (:func:`critical_masses`) are acakit's derivation, not the paper's theorems.

Modules: :mod:`~acakit.steering.feasible` (what members may report, the reports' solver),
:mod:`~acakit.steering.goals` (θ* from a goal), :mod:`~acakit.steering.strategies` (the three
strategies), :mod:`~acakit.steering.critical` (critical masses).
"""

from __future__ import annotations

from acakit.steering.critical import critical_masses, reportable_gradient_norm, steer_critical_mass
from acakit.steering.feasible import FeasibleSet, ReportProblem, project_simplex
from acakit.steering.goals import feature_index, resolve_goal
from acakit.steering.strategies import (
    GradientControl,
    GradientNeutralize,
    Knowledge,
    SteerMinimizer,
)

#: strategy name (as configs give it) -> class
STEERING = {"gradient_control": GradientControl, "gradient_neutralize": GradientNeutralize,
            "steer_minimizer": SteerMinimizer}

__all__ = [
    "STEERING",
    "FeasibleSet",
    "GradientControl",
    "GradientNeutralize",
    "Knowledge",
    "ReportProblem",
    "SteerMinimizer",
    "critical_masses",
    "feature_index",
    "project_simplex",
    "reportable_gradient_norm",
    "resolve_goal",
    "steer_critical_mass",
]
