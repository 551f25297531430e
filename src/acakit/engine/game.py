"""The ``game:`` section of a single-collective config: prices, target success, concept.

A config with ``game:`` asks the analyses (:mod:`acakit.analyses.game`) for the game between
the firm (its strategies: the values of the ``firm.defense`` grid axis) and the collective
(its answers: the values of the grid axes under ``collective``), played at each α of the sweep.
This module only validates the section and finds the two axes; nothing here is fitted or
solved, so a bad section fails in one line before any cell runs.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Equilibrium concepts the headline critical mass may be read from.
CONCEPTS = ("collective_leads", "firm_leads", "nash")


class GameSpec(BaseModel):
    """Prices of the firm's payoff, the target success and the headline concept.

    The firm's payoff in a cell is ``accuracy − price_success · success − price_honest ·
    honest_dropped`` (clean test accuracy of the model it trained, the collective's success,
    the share of honest training rows its defense dropped); the collective's payoff is its
    success. See ``docs/game.md``.
    """

    model_config = ConfigDict(extra="forbid")

    target_success: float = Field(0.5, gt=0, le=1)
    """S*: the critical mass is the smallest α whose equilibrium success reaches it."""
    price_success: float = Field(0.1, ge=0, le=1e6, allow_inf_nan=False)
    """What one unit of the collective's success costs the firm, in accuracy (default 0.1:
    success 1 weighs as much as 10 points of accuracy)."""
    price_honest: float = Field(0.1, ge=0, le=1e6, allow_inf_nan=False)
    """What dropping every honest training row costs the firm beyond its accuracy (default
    0.1, per share of honest rows dropped). Both prices are at most 10^6: a firm that values a
    unit of success at more than a million accuracy points is not told apart from an infinite
    price, and 1e308 overflowed the payoffs after every cell had run."""
    concept: Literal["collective_leads", "firm_leads", "nash"] = "collective_leads"
    """Which equilibrium the headline critical mass is read from (every concept is in the
    tables): the collective commits to an answer and the firm best-responds (default), the
    firm commits to a defense and the collective best-responds, or a mixed Nash equilibrium
    (the one worst for the collective)."""
    alpha: float | None = Field(None, ge=0, lt=1)
    """α of the payoff heat map (one of ``sweep.alpha``; default: the headline critical mass,
    else the largest α)."""

    @field_validator("target_success", "price_success", "price_honest", "alpha", mode="before")
    @classmethod
    def _no_bool(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError(f"a number, not {v}")
        return v


def _normal(v: object) -> object:
    """A grid value with what only looks different made equal: ``none`` defenses with or
    without empty params, dict key order (by the caller's sort_keys)."""
    if isinstance(v, dict):
        d = {k: _normal(x) for k, x in v.items() if not (k == "params" and x in ({}, None))}
        return d
    return v


def game_axes(grid: dict[str, list[object]]) -> tuple[list[str], list[str]]:
    """The firm's and the collective's grid keys of a sweep that plays the game.

    Parameters
    ----------
    grid : dict
        ``sweep.grid`` of a single-collective config.

    Returns
    -------
    defense_keys, answer_keys : list of str
        Keys starting with ``firm.defense`` and keys starting with ``collective``.

    Raises
    ------
    ValueError
        One line naming the field: no defense axis, no answer axis, fewer than two strategies
        on a side, or another grid axis (the game has two players and nothing else varies).

    Examples
    --------
    >>> game_axes({"firm.defense": [{"name": "none"}, {"name": "min_df"}],
    ...            "collective.camouflage": [0.0, 1.0]})
    (['firm.defense'], ['collective.camouflage'])
    """
    defense = [k for k in grid if k == "firm.defense" or k.startswith("firm.defense.")]
    answer = [k for k in grid if k == "collective" or k.startswith("collective.")]
    other = [k for k in grid if k not in defense and k not in answer]
    if not defense:
        raise ValueError("game: the sweep has no defense axis; add sweep.grid.firm.defense with "
                         "the firm's defenses (e.g. [{name: none}, {name: confident_learning}])")
    if not answer:
        raise ValueError("game: the sweep has no answer axis; add sweep.grid.collective with the "
                         "collective's answers (e.g. [{camouflage: 0.0}, {camouflage: 1.0}])")
    if other:
        raise ValueError(f"game: sweep.grid.{other[0]} varies something other than the firm's "
                         "defense (firm.defense...) and the collective's answer (collective...); "
                         "the game has two players and nothing else may vary")
    for side, keys in (("firm.defense", defense), ("collective", answer)):
        n = 1
        for k in keys:
            n *= len(grid[k])
            seen: dict[str, int] = {}
            for i, v in enumerate(grid[k]):
                text = json.dumps(_normal(v), sort_keys=True, default=str)
                if text in seen:  # two equal strategies make a one-strategy game look like two
                    raise ValueError(f"game: sweep.grid.{k} lists the same strategy twice "
                                     f"(entries {seen[text] + 1} and {i + 1}: {text[:80]}); "
                                     "a game needs distinct strategies")
                seen[text] = i
        if n < 2:
            raise ValueError(f"game: sweep.grid.{keys[0]} gives the {side.split('.')[0]} "
                             f"{n} strategy; a game needs at least 2")
    return defense, answer


def check_game(game: GameSpec, grid: dict[str, list[object]], alphas: list[float] | None) -> None:
    """Check ``game`` against its sweep (the two axes, ``game.alpha`` among ``sweep.alpha``).

    Raises
    ------
    ValueError
        One line, without the leading ``game:`` (the config names the field).
    """
    try:
        game_axes(grid)
    except ValueError as e:
        raise ValueError(str(e).removeprefix("game: ")) from None
    a = game.alpha
    if a is not None and (alphas is None or a not in alphas):
        allowed = ", ".join(f"{v:g}" for v in alphas or [])
        raise ValueError(f"alpha: {a:g} is not one of sweep.alpha ({allowed or 'the sweep is by count'})")
