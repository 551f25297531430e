"""Multiple collectives acting on one firm (Battiloro et al. 2025, 2026): simulation,
alignment measures, bounds in three knowledge tiers, interaction analyses."""
