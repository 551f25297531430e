"""A whole experiment config (base cell and sweep, outputs, metrics) and its cells, with the
stable cell id (:func:`spec_hash`)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from acakit.engine.config.specs import (
    CollectiveSpec,
    DatasetSpec,
    FirmSpec,
    _Model,
    check_fractions,
    check_seeds,
)
from acakit.engine.game import GameSpec, check_game


class SweepSpec(_Model):
    """The grid: α values (or member counts), seeds, and any other parameter by dotted path."""

    alpha: list[float] | None = None
    count: list[int] | None = None
    seed: list[int] = Field(default_factory=lambda: [0])
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("alpha")
    @classmethod
    def _alphas(cls, v: list[float] | None) -> list[float] | None:
        return check_fractions(v)

    @field_validator("seed", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        return check_seeds(v)

    @model_validator(mode="after")
    def _one_size(self) -> SweepSpec:
        if self.alpha is not None and self.count is not None:
            raise ValueError("give sweep.alpha or sweep.count, not both")
        return self


class OutputSpec(_Model):
    """Where results, tables and plots go."""

    dir: str = "results"
    plot: bool = True
    store: str | None = None
    """Result store (SQLite) of the sweep; relative paths are under ``dir``. ``acakit run`` uses
    ``<dir>/results.sqlite`` when not given."""


#: A config's ``labels:``: what a figure's legend calls a piece, a grid value or a whole grid point
#: (``{isolation_forest: "Isolation forest", plant_feature_only: "feature only"}``); presentation
#: only: not part of a cell, of its id, or of what makes two configs the same experiment.
Labels = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=400)],
         Annotated[str, StringConstraints(min_length=1, max_length=120)]],
    Field(max_length=500)]


class MetricSpec(_Model):
    """A further metric of every cell, by name from the metrics' registry (an installed plugin
    or a Python object; the built-in metrics are always computed), with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _known(self) -> MetricSpec:
        from acakit.registry import METRICS, params_problem, unknown_stored

        if unknown_stored(METRICS, self.name):
            return self
        METRICS.lookup(self.name, "name")
        if METRICS.is_builtin(self.name):
            raise ValueError(f"name: {self.name!r} is built in and always computed; list only "
                             "further metrics here")
        problem = params_problem(METRICS.object(self.name), self.params, skip=("result",))
        if problem:
            raise ValueError(f"params.{problem}")
        return self

    @model_serializer(mode="wrap")
    def _short(self, handler: Any) -> Any:
        d = handler(self)
        return d if self.params else d["name"] if isinstance(d, dict) else d


def _drop_empty_extras(model: Any, handler: Any) -> Any:
    """The dump without an empty ``metrics`` or ``labels``: configs that use neither keep the
    dump, and so the ids, they had before these fields existed."""
    d = handler(model)
    for key in ("metrics", "labels"):
        if isinstance(d, dict) and key in d and not d[key]:
            del d[key]
    return d


class ExperimentConfig(_Model):
    """A full experiment or sweep."""

    name: str = "experiment"
    experiment: Literal["collective"] = "collective"
    dataset: DatasetSpec
    firm: FirmSpec = Field(default_factory=FirmSpec)
    collective: CollectiveSpec
    sweep: SweepSpec = Field(default_factory=SweepSpec)
    confidence: float = Field(0.95, gt=0, lt=1)
    output: OutputSpec = Field(default_factory=OutputSpec)
    game: GameSpec | None = None
    """The game between the firm's defenses and the collective's answers (``docs/game.md``)."""
    metrics: list[MetricSpec] = Field(default_factory=list)
    """Further metrics of every cell, by registry name (plugins, Python objects); the built-in
    ones are always computed. Left out of the dump when empty, so ids stay."""
    labels: Labels = Field(default_factory=dict)
    """Legend words for names, grid values or grid points (:data:`Labels`)."""

    @model_serializer(mode="wrap")
    def _drop_no_metrics(self, handler: Any) -> Any:
        return _drop_empty_extras(self, handler)

    @field_validator("metrics")
    @classmethod
    def _distinct_metrics(cls, v: list[MetricSpec]) -> list[MetricSpec]:
        names = [m.name for m in v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"{dup!r} is listed twice")
        return v

    @field_validator("game")
    @classmethod
    def _game_axes(cls, v: GameSpec | None, info: ValidationInfo) -> GameSpec | None:
        sweep = info.data.get("sweep")
        if v is not None and sweep is not None:
            check_game(v, sweep.grid, sweep.alpha)
        return v


class CellBase(_Model):
    """What every kind of cell has: a kind, a stable id and the label of its grid values.

    Subclasses (:class:`CellSpec`, ``MultiCellSpec``, ``FairnessCellSpec``) add the fields
    that define the cell; :mod:`acakit.engine.runners` runs any of them through the module named by
    ``kind`` in :data:`acakit.engine.runners.CELL_KINDS`.
    """

    kind: ClassVar[str] = "collective"
    _variant: str = PrivateAttr(default="base")

    @property
    def variant(self) -> str:
        """Label of the grid values that made this cell (``"k=v, ..."``; not part of its id)."""
        return self._variant

    @property
    def cell_id(self) -> str:
        """Stable hash of the normalised spec (key order in the config does not matter)."""
        spec = self.model_dump(mode="json")
        return spec_hash(spec if self.kind == "collective" else {"kind": self.kind} | spec)


class CellSpec(CellBase):
    """One single-collective cell: everything needed to compute one row of results."""

    dataset: DatasetSpec
    firm: FirmSpec
    collective: CollectiveSpec
    seed: int
    confidence: float = 0.95
    metrics: list[MetricSpec] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _drop_no_metrics(self, handler: Any) -> Any:
        return _drop_empty_extras(self, handler)


def spec_hash(obj: Any) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of ``obj``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
