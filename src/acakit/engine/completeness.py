"""How much of a config's grid a results table holds, and the refusal of a partial one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Completeness:
    """How much of a config's grid a results table holds.

    Attributes
    ----------
    expected : int
        Cells the config expands to.
    ok, failed : int
        Cells stored as finished, as failed.
    missing_by_variant : dict
        Grid point (``variant``) -> cells without any record (neither ok nor failed).
    """

    expected: int
    ok: int
    failed: int = 0
    missing_by_variant: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        """Cells never run (no record)."""
        return sum(self.missing_by_variant.values())

    @property
    def partial(self) -> bool:
        """True when some cell of the grid did not finish."""
        return self.ok < self.expected

    def label(self) -> str:
        """``"partial: 42 of 189 cells"`` (empty when complete): what outputs are marked with."""
        return f"partial: {self.ok} of {self.expected} cells" if self.partial else ""

    def describe(self) -> str:
        """One line: what is there and what is missing, by grid point."""
        parts = [f"{self.missing} missing"] if self.missing else []
        if self.failed:
            parts.append(f"{self.failed} failed")
        worst = sorted(self.missing_by_variant.items(), key=lambda kv: -kv[1])[:2]
        where = "; missing most: " + ", ".join(f"{v!r} ({k})" for v, k in worst) if worst else ""
        return f"{self.label()} ({', '.join(parts)}){where}"

    @classmethod
    def of(cls, cells: list[Any], ok: set[str], failed: set[str]) -> Completeness:
        """The completeness of ``cells`` given the ids finished and failed."""
        ids = {c.cell_id for c in cells}
        missing: dict[str, int] = {}
        for c in {c.cell_id: c for c in cells}.values():
            if c.cell_id not in ok and c.cell_id not in failed:
                missing[c.variant] = missing.get(c.variant, 0) + 1
        return cls(len(ids), len(ok & ids), len(failed & ids), missing)


class PartialRunError(ValueError):
    """An analysis that needs the whole grid was given part of it; the message is one line."""


def check_complete(run: Any, allow_partial: bool = False) -> None:
    """Refuse (:class:`PartialRunError`, one line naming what is missing and the commands that
    finish it) a run (:class:`acakit.engine.EngineRun`) whose grid is not complete, unless
    ``allow_partial``."""
    c = run.info.completeness
    if c is None or not c.partial or allow_partial:
        return
    where = run.info.store
    if where is not None:
        todo = (f"finish it with: acakit results {where} --config cfg.yaml && acakit run cfg.yaml "
                f"--store {where}" + (" --retry-failed" if c.failed else ""))
    else:
        todo = "run the config again with a store"
    raise PartialRunError(f"report: {c.describe()}; {todo}; or draw what is there, marked "
                          "partial, with --allow-partial")
