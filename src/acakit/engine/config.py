"""Experiment configs: pydantic models, grid expansion and validation before any work starts.

A config (YAML or TOML) describes one base cell (dataset, firm, collective, seed) and a sweep
over it. Every error names the field, the bad value and the allowed values in one line.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from acakit._safe import visible
from acakit.data import DATASETS, Dataset, check_params, load
from acakit.engine.game import GameSpec, check_game


class ConfigError(ValueError):
    """A config is invalid; the message is one line naming the field.

    Line breaks inside the message (a key or value of the user's that holds one) are shown as
    ``\\n``, so the message stays one line whatever the config holds.
    """

    #: The longest message; longer ones (a long list of values) are cut with "...".
    MAX_LEN = 500

    def __init__(self, message: object = "") -> None:
        text = visible(message)  # line breaks, escape sequences: shown, never obeyed
        super().__init__(text if len(text) <= self.MAX_LEN else text[:self.MAX_LEN - 3] + "...")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Model):
    """Which data, with which loader parameters, and the test fraction."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    test_size: float = 0.3

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from acakit.registry import unknown_stored

        if v not in DATASETS and not unknown_stored(DATASETS, v):
            raise ValueError(f"{v!r} is not one of {', '.join(DATASETS)}")
        return v

    @field_validator("test_size")
    @classmethod
    def _frac(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError(f"{v} is not in (0, 1)")
        return v


class DefenseSpec(_Model):
    """A defense the firm applies to its training data before fitting (see
    ``acakit.firms.defenses.DEFENSES``; ``none`` is no defense)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> DefenseSpec:
        from acakit.registry import DEFENSES_REGISTRY, unknown_stored

        if unknown_stored(DEFENSES_REGISTRY, self.name):
            return self
        if self.name == "none":
            if self.params:
                raise ValueError("params: defense 'none' takes no parameters")
            return self
        from acakit.firms.defenses import make_defense

        try:
            make_defense(self.name, self.params)
        except ValueError as e:  # "firm.defense.name: ..." -> "name: ..." under firm.defense
            msg = str(e).removeprefix("firm.defense.")
            msg = "params: " + msg.removeprefix("params.") if msg.startswith("params.") else msg
            raise ValueError(msg) from None
        return self


class FirmSpec(_Model):
    """A firm by name (see ``acakit.firms.FIRMS``) or dotted import path, with parameters and
    an optional defense (``defense: {name: confident_learning, params: {...}}``)."""

    name: str = "logistic_regression"
    params: dict[str, Any] = Field(default_factory=dict)
    featurizer: dict[str, Any] = Field(default_factory=dict)
    defense: DefenseSpec | None = None
    """Absent (or ``name: none``): no defense, and the spec (hence every cell id) is exactly
    that of a firm without the field."""

    @field_validator("defense")
    @classmethod
    def _none(cls, v: DefenseSpec | None) -> DefenseSpec | None:
        return None if v is not None and v.name == "none" else v

    @model_serializer(mode="wrap")
    def _drop_no_defense(self, handler: Any) -> Any:
        d = handler(self)
        if isinstance(d, dict) and d.get("defense", 0) is None:
            del d["defense"]
        return d

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from acakit.firms import FIRMS, check_firm_name
        from acakit.registry import unknown_stored

        if "." not in v and unknown_stored(FIRMS, v):
            return v
        try:
            check_firm_name(v)
        except ValueError as e:
            raise ValueError(str(e).removeprefix("firm.name: ")) from None
        return v


class TriggerSignal(_Model):
    """Text trigger (see :class:`acakit.strategies.InsertTrigger`)."""

    type: Literal["trigger"]
    token: str = "\u2063"
    every: int = Field(20, ge=1)
    count: int | None = Field(None, ge=0)
    position: Literal["every", "start", "random"] = "every"


class ColumnsSignal(_Model):
    """Tabular signal (see :class:`acakit.strategies.SetColumns`)."""

    type: Literal["set_columns"]
    values: dict[str, Any] = Field(min_length=1)


class PatchSignal(_Model):
    """Image patch (see :class:`acakit.strategies.StampPatch`)."""

    type: Literal["patch"]
    size: int = Field(2, ge=1)
    value: float = 16.0
    row: int = Field(0, ge=0)
    col: int = Field(0, ge=0)


class ShiftSignal(_Model):
    """Vector shift (see :class:`acakit.strategies.AddShift`)."""

    type: Literal["shift"]
    shift: float | list[float]


class PluginSignal(_Model):
    """A signal of the signals' registry that is not built in (an installed plugin or a Python
    object, see :mod:`acakit.registry`): ``{type: NAME, params: {...}}``, built as
    ``factory(**params)``, its parameters checked against what the plugin declares."""

    type: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> PluginSignal:
        from acakit.registry import SIGNALS, params_problem, unknown_stored

        if unknown_stored(SIGNALS, self.type):
            return self
        factory = SIGNALS.lookup(self.type, "type")
        problem = params_problem(SIGNALS.object(self.type), self.params)
        if problem:
            raise ValueError(f"params.{problem}")
        if not isinstance(getattr(factory, "kind", None), str):
            raise ValueError(f"type: signal {self.type!r} declares no kind (a class attribute "
                             "kind: 'tabular', 'text', 'image' or 'vector')")
        return self


def _signal_tag(v: Any) -> str | None:
    """The union member of a signal: a built-in's own model (its name in the signals'
    registry), else the plugin model."""
    from acakit.registry import SIGNALS

    t = v.get("type") if isinstance(v, dict) else getattr(v, "type", None)
    if isinstance(t, str) and SIGNALS.is_builtin(t):
        return t
    return None if t is None else "plugin"


Signal = Annotated[
    Annotated[TriggerSignal, Tag("trigger")] | Annotated[ColumnsSignal, Tag("set_columns")]
    | Annotated[PatchSignal, Tag("patch")] | Annotated[ShiftSignal, Tag("shift")]
    | Annotated[PluginSignal, Tag("plugin")],
    Discriminator(_signal_tag),
]


def signal_kind(signal_type: str) -> str:
    """The kind of data a signal of the signals' registry acts on (``tabular``, ``text``, ...)."""
    from acakit.registry import SIGNALS

    return str(SIGNALS[signal_type].kind)


class PerturbSpec(_Model):
    """The perturbed signal of noisy members (see :func:`acakit.strategies.perturb_signal`):
    ``kind`` is ``position`` / ``rate`` / ``character`` (text triggers) or ``subset`` / ``value``
    (``set_columns`` signals), with that kind's parameters only."""

    kind: Literal["position", "rate", "character", "subset", "value"]
    token: str | None = Field(None, min_length=1)
    every: int | None = Field(None, ge=1)
    count: int | None = Field(None, ge=0)
    position: Literal["every", "start", "random"] | None = None
    keep: int | None = Field(None, ge=1)
    values: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        """The parameters given (not None), without ``kind``."""
        return {k: v for k, v in self.model_dump().items() if k != "kind" and v is not None}


class NoiseSpec(_Model):
    """Coordination noise of a collective (see :class:`acakit.collective.Noise`): each member
    drops out with ``p_drop``, applies the ``perturb`` signal with ``p_signal``, reports a
    wrong label with ``p_label``, plants feature-only with ``p_feature_only`` (a mixed
    strategy), else acts."""

    p_drop: float = Field(0.0, ge=0, le=1)
    p_signal: float = Field(0.0, ge=0, le=1)
    p_label: float = Field(0.0, ge=0, le=1)
    p_feature_only: float = Field(0.0, ge=0, le=1)
    perturb: PerturbSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> NoiseSpec:
        total = self.p_drop + self.p_signal + self.p_label + self.p_feature_only
        if total > 1 + 1e-12:
            raise ValueError(f"the probabilities sum to {total:.4g} > 1")
        if self.p_signal > 0 and self.perturb is None:
            raise ValueError("perturb: required when p_signal > 0 (which perturbed signal)")
        if self.perturb is not None:
            allowed = {"position": {"position", "count"}, "rate": {"every", "count"},
                       "character": {"token"}, "subset": {"keep"}, "value": {"values"}}
            extra = set(self.perturb.params()) - allowed[self.perturb.kind]
            if extra:
                raise ValueError(f"perturb.{sorted(extra)[0]}: not a parameter of kind "
                                 f"{self.perturb.kind!r} (allowed: "
                                 f"{', '.join(sorted(allowed[self.perturb.kind]))})")
            if self.perturb.kind == "character" and self.perturb.token is None:
                raise ValueError("perturb.token: required for kind 'character'")
            if self.perturb.kind == "value" and not self.perturb.values:
                raise ValueError("perturb.values: required for kind 'value'")
            if self.perturb.kind == "rate" and not self.perturb.params():
                raise ValueError("perturb: kind 'rate' needs every and/or count")
        return self

    def to_noise(self, feature_map: Any) -> Any:
        """The :class:`acakit.collective.Noise` of this spec for a collective whose signal is
        ``feature_map`` (the perturbed signal built by
        :func:`acakit.strategies.perturb_signal`)."""
        from acakit.collective import Noise
        from acakit.strategies import perturb_signal

        perturbed = None if self.perturb is None else perturb_signal(
            feature_map, self.perturb.kind, **self.perturb.params())
        return Noise(p_drop=self.p_drop, p_signal=self.p_signal, p_label=self.p_label,
                     p_feature_only=self.p_feature_only, perturbed=perturbed)


class CollectiveSpec(_Model):
    """A collective: strategy, signal, target (or target set), eligibility and size.

    One model for every kind of config: the ``collective:`` of a single-collective config and
    each element of a multi-collective config's ``collectives:`` (which must be named there).
    """

    name: str | None = Field(None, min_length=1)
    strategy: str = "plant"
    """A label rule of the strategies' registry: ``plant``, ``plant_feature_only``, ``erase``
    or an installed plugin's (also written ``{name: NAME, params: {...}}``)."""
    strategy_params: dict[str, Any] = Field(default_factory=dict)
    """A plugin strategy's parameters (left out of the dump when empty: ids stay)."""
    signal: Signal
    target: str | int | None = None
    targets: list[str | int] | None = None
    """The target set Y* when it is more than ``{target}`` (multi-collective configs)."""
    eligibility: str | dict[str, Any] = "any"
    alpha: float | None = None
    count: int | None = Field(None, ge=0)
    ideal: bool = True
    reference: FirmSpec = Field(default_factory=FirmSpec)
    noise: NoiseSpec | None = None
    """Coordination noise and mixed strategy: signal diversity (``p_signal`` with a
    ``perturb``) and label mixing (``p_feature_only``). Left out of the dump when None, so a
    collective without noise keeps its cell id."""
    camouflage: float = Field(0.0, ge=0, le=1)
    """Share of the acting members who take the non-signal values of a typical training row
    of the class they report (:func:`acakit.collective.camouflage`; set_columns signals).
    Left out of the dump when 0."""

    @model_serializer(mode="wrap")
    def _drop_defaults(self, handler: Any) -> Any:
        out = handler(self)
        if isinstance(out, dict):
            if self.noise is None:
                out.pop("noise", None)
            if self.camouflage == 0:
                out.pop("camouflage", None)
            if not self.strategy_params:
                out.pop("strategy_params", None)
        return out

    @model_validator(mode="before")
    @classmethod
    def _strategy_mapping(cls, v: Any) -> Any:
        s = v.get("strategy") if isinstance(v, dict) else None
        if isinstance(s, dict):  # strategy: {name, params} -> strategy + strategy_params
            extra = set(s) - {"name", "params"}
            if extra or "name" not in s:
                raise ValueError(f"strategy: give {{name: NAME, params: {{...}}}} (got keys "
                                 f"{', '.join(map(str, s))})")
            if "strategy_params" in v:
                raise ValueError("strategy_params: give the parameters once (strategy.params "
                                 "or strategy_params)")
            v = {**v, "strategy": s["name"], "strategy_params": s.get("params") or {}}
        return v

    @field_validator("strategy")
    @classmethod
    def _strategy_known(cls, v: str) -> str:
        from acakit.registry import STRATEGIES, unknown_stored

        if not unknown_stored(STRATEGIES, v):
            STRATEGIES.lookup(v)
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float | None) -> float | None:
        return check_fractions(v)

    @field_validator("target", "targets", mode="before")
    @classmethod
    def _no_bool(cls, v: Any) -> Any:
        for t in v if isinstance(v, list) else [v]:
            if isinstance(t, bool):
                raise ValueError(f"{t!r} is a boolean, not a class; quote it (\"{str(t).lower()}\") "
                                 "if a class is named so")
        return v

    @field_validator("eligibility")
    @classmethod
    def _elig(cls, v: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(v, str) and v not in ("any", "target", "non_target"):
            raise ValueError(f"{v!r} is not one of any, target, non_target, {{class: C}}, "
                             "{group: {column: value}}")
        if isinstance(v, dict) and set(v) not in ({"class"}, {"group"}):
            raise ValueError(f"{v!r} must be {{class: C}} or {{group: {{column: value}}}}")
        return v

    @model_validator(mode="after")
    def _target_needed(self) -> CollectiveSpec:
        from acakit.registry import STRATEGIES, params_problem, unknown_stored

        if unknown_stored(STRATEGIES, self.strategy):
            return self
        cls = STRATEGIES[self.strategy]
        if STRATEGIES.is_builtin(self.strategy):
            if self.strategy_params:
                raise ValueError(f"strategy_params: the built-in strategy {self.strategy!r} "
                                 "takes none (its parameters are the signal's and the "
                                 "collective's)")
        else:
            skip = ("feature_map", "target")
            problem = params_problem(cls, self.strategy_params, skip)
            if problem:
                raise ValueError(f"strategy_params.{problem}")
        if getattr(cls, "needs_target", True) and self.target is None:
            raise ValueError(f"target: required for strategy {self.strategy!r}")
        if self.targets is not None and not self.targets:
            raise ValueError("targets: the target set is empty")
        n = self.noise
        if n is not None and n.p_feature_only > 0 and self.strategy != "plant":
            raise ValueError("noise.p_feature_only: a mixed strategy needs strategy 'plant'")
        if n is not None and n.perturb is not None:
            want = "trigger" if n.perturb.kind in ("position", "rate", "character") else "set_columns"
            if self.signal.type != want:
                raise ValueError(f"noise.perturb.kind: {n.perturb.kind!r} perturbs a {want} "
                                 f"signal, not {self.signal.type!r}")
        if self.camouflage > 0 and self.signal.type != "set_columns":
            raise ValueError(f"camouflage: needs a set_columns signal (the columns it keeps), "
                             f"not {self.signal.type!r}")
        return self


MAX_SEED = 2**32 - 1


def check_fractions(values: list[float] | float | None) -> Any:
    """Every collective size α is a fraction in [0, 1] (one check for every kind's schema)."""
    for a in values if isinstance(values, list) else [] if values is None else [values]:
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"{a} is not a fraction in [0, 1]")
    return values


def check_seeds(seeds: Any) -> Any:
    """Seeds are integers in [0, 2^32 - 1] (what numpy's random generators accept); used as a
    ``mode="before"`` validator, so ``true`` is refused instead of becoming seed 1."""
    for s in seeds if isinstance(seeds, list) else []:
        if isinstance(s, bool) or (isinstance(s, int) and not 0 <= s <= MAX_SEED):
            raise ValueError(f"{s!r} is not a seed (an integer in 0..{MAX_SEED})")
    return seeds


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


def _drop_empty_metrics(model: Any, handler: Any) -> Any:
    d = handler(model)
    if isinstance(d, dict) and not d.get("metrics", 1):
        del d["metrics"]
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

    @model_serializer(mode="wrap")
    def _drop_no_metrics(self, handler: Any) -> Any:
        return _drop_empty_metrics(self, handler)

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
        return _drop_empty_metrics(self, handler)


def spec_hash(obj: Any) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of ``obj``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """First error of a pydantic ``ValidationError`` as ``field: message (got value)``."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"] if p not in ("function-after",))
    from acakit.registry import SIGNALS

    tags = {*SIGNALS.builtins(), "plugin"}  # the signal union's member names, not fields
    loc = ".".join(p for p in loc.split(".") if p not in tags or p == loc)
    msg = e["msg"].removeprefix("Value error, ")
    m = re.match(r"^([a-z_]+(?:\.[a-z_0-9]+)*): ", msg)
    if loc and m and e["type"] == "value_error" and not loc.endswith(m.group(1)):
        loc, msg = f"{loc}.{m.group(1)}", msg[m.end():]  # "collective: target: ..." -> one path
    where = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "config"
    got = e.get("input")
    text = repr(got)
    text = text if len(text) <= 80 else text[:77] + "..."
    shown = "" if isinstance(got, dict) or got is None or repr(got) in msg else f" (got {text})"
    return f"{where}: {msg}{shown}"


#: The largest config file acakit reads (a config is a few hundred lines; this is generous).
MAX_CONFIG_BYTES = 1 << 20


#: The most YAML nodes a config may expand to through aliases (``*name``): generous for any
#: real config (the largest example has a few hundred), fatal to an "alias bomb".
MAX_CONFIG_NODES = 100_000


def _expanded_size(node: Any, memo: dict[int, int], limit: int) -> int:
    """Nodes of ``node`` with every alias expanded, computed without expanding (memo by id)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a cycle counts once (PyYAML refuses recursive structures later anyway)
    n = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            n += _expanded_size(child, memo, limit)
            if n > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            n += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if n > limit:
                break
    memo[key] = n
    return n


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader (no Python objects) with a size limit and no duplicate keys.

    Anchors and aliases (``&name``, ``*name``) may be used, but the document must expand to at
    most :data:`MAX_CONFIG_NODES` nodes: a few hundred bytes of nested aliases (an "alias bomb")
    would otherwise expand to gigabytes. A key given twice in one mapping is refused instead of
    the last one silently winning.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # an unhashable key: let PyYAML's own error say so
            if key in seen:
                raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: key {key!r} is given "
                                     "twice in the same mapping")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, MAX_CONFIG_NODES)
        if size > MAX_CONFIG_NODES:
            raise yaml.YAMLError(f"it expands to more than {MAX_CONFIG_NODES:,} values through "
                                 "YAML aliases (*name); write it out or use fewer aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML or TOML file into a dict (one-line error if unreadable).

    The file must be UTF-8, at most :data:`MAX_CONFIG_BYTES` long; YAML is read with the safe
    loader (no Python objects), at most :data:`MAX_CONFIG_NODES` values once aliases are
    expanded, without duplicate keys.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config: file {str(p)!r} does not exist")
    if not p.is_file():
        raise ConfigError(f"config: {str(p)!r} is not a regular file (a YAML or TOML config)")
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config: {p.name} is {size:,} bytes; a config may have at most "
                          f"{MAX_CONFIG_BYTES:,}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config: {p.name} is not UTF-8 text (byte 0x{data[e.start]:02x} at "
                          f"offset {e.start})") from None
    try:
        raw = tomllib.loads(text) if p.suffix == ".toml" else _load_yaml(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"config: {p.name} is not valid {p.suffix[1:].upper()}: "
                          f"{str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config: {p.name} must hold a mapping at the top level")
    return raw


def parse_config(raw: Mapping[str, Any]) -> ExperimentConfig:
    """Validate a config dict (no data is loaded).

    ``collective: {...}`` is the short form of ``collectives: [{...}]``: a single-collective
    config is the engine's cell with M = 1 collective, and either spelling is accepted.
    """
    raw = dict(raw)
    if "collectives" in raw:
        items = raw.pop("collectives")
        if "collective" in raw:
            raise ConfigError("collectives: give either collective (one) or collectives (a list), "
                              "not both")
        if not isinstance(items, list) or len(items) != 1:
            n = len(items) if isinstance(items, list) else type(items).__name__
            raise ConfigError(f"collectives: a config with experiment: collective holds exactly "
                              f"one collective (got {n}); for several use experiment: multi")
        raw["collective"] = items[0]
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


def _set_path(d: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``d[a][b][c] = value`` for ``dotted = "a.b.c"``; a dict value is merged, not replaced,
    so one grid entry can change several fields together (e.g. strategy and eligibility)."""
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        if k not in cur or not isinstance(cur[k], dict):
            cur[k] = {}
        cur = cur[k]
    last = keys[-1]
    if isinstance(value, dict) and isinstance(cur.get(last), dict):
        for k, v in value.items():
            _set_path(cur[last], k, v)
    else:
        cur[last] = value


def grid_label(keys: list[str], values: tuple[Any, ...]) -> str:
    """``"firm=logistic_regression, count=5"`` for grid keys and one combination of values."""
    parts = []
    for k, v in zip(keys, values, strict=True):
        path = k.split(".")
        short = path[-2] if path[-1] == "name" and len(path) > 1 else path[-1]
        if isinstance(v, dict):
            parts += [f"{a}={b}" for a, b in v.items()]
        else:
            parts.append(f"{short}={v}")
    return ", ".join(parts) or "base"


def expand(config: ExperimentConfig) -> list[CellSpec]:
    """Expand a config into its cells (grid x sizes x seeds), each validated.

    Raises
    ------
    ConfigError
        If a cell is invalid (the field is named with the grid values that produced it) or the
        grid expands to no cell.
    """
    base = config.model_dump(mode="json", include={"dataset", "firm", "collective", "confidence",
                                                   "metrics"})
    sweep = config.sweep
    grid_keys = list(sweep.grid)
    for k in grid_keys:
        if k.split(".")[0] not in ("dataset", "firm", "collective"):
            raise ConfigError(f"sweep.grid: {k!r} must start with dataset., firm. or collective.")
        if not sweep.grid[k]:
            raise ConfigError(f"sweep.grid.{k}: empty list, the sweep would have 0 cells")
        if k in ("collective.alpha", "collective.count") and (sweep.alpha or sweep.count):
            given = "sweep.alpha" if sweep.alpha is not None else "sweep.count"
            raise ConfigError(f"sweep.grid.{k}: the size is swept by {given}, which would override "
                              "this grid; give the sizes in one place")
    c = config.collective
    if (sweep.alpha is not None or sweep.count is not None) and (c.alpha is not None or
                                                                   c.count is not None):
        field = "alpha" if c.alpha is not None else "count"
        given = "sweep.alpha" if sweep.alpha is not None else "sweep.count"
        raise ConfigError(f"collective.{field}: {given} sets the sizes and would override it; "
                          "give the sizes in one place")
    if sweep.alpha is not None:
        sizes: list[tuple[str, Any]] = [("alpha", a) for a in sweep.alpha]
    elif sweep.count is not None:
        sizes = [("count", c) for c in sweep.count]
    else:
        sizes = [("alpha", c.alpha)] if c.alpha is not None else [("count", c.count)]
        if sizes[0][1] is None:
            raise ConfigError("collective.alpha: give collective.alpha/count or sweep.alpha/count")
    cells: list[CellSpec] = []
    for combo in itertools.product(*(sweep.grid[k] for k in grid_keys)):
        for size_key, size in sizes:
            for seed in sweep.seed:
                d = copy.deepcopy(base)
                for k, v in zip(grid_keys, combo, strict=True):
                    _set_path(d, k, v)
                d["collective"]["alpha"] = size if size_key == "alpha" else None
                d["collective"]["count"] = size if size_key == "count" else None
                d["seed"] = seed
                try:
                    cell = CellSpec.model_validate(d)
                except ValidationError as e:
                    where = ", ".join(f"{k}={v!r}" for k, v in zip(grid_keys, combo, strict=True))
                    msg = format_validation_error(e)
                    raise ConfigError(msg + (f" [grid: {where}]" if where else "")) from None
                cell._variant = grid_label(grid_keys, combo)
                cells.append(cell)
    if not cells:
        raise ConfigError("sweep: the grid expands to 0 cells (an empty alpha, count or seed list)")
    return cells


#: The most cells a sweep may expand to unless raised (``--max-cells``, ``$ACAKIT_MAX_CELLS``):
#: every example has a few hundred; a million cells would take gigabytes before the first ran.
MAX_CELLS = 50_000
#: Environment variable raising (or lowering) :data:`MAX_CELLS`.
MAX_CELLS_ENV = "ACAKIT_MAX_CELLS"


def max_cells(limit: int | None = None) -> int:
    """The sweep budget: ``limit`` if given, else ``$ACAKIT_MAX_CELLS``, else :data:`MAX_CELLS`.

    Raises
    ------
    ConfigError
        A limit that is not an integer >= 1.
    """
    name, value = "--max-cells", limit
    if value is None:
        name, value = MAX_CELLS_ENV, os.environ.get(MAX_CELLS_ENV, "").strip() or MAX_CELLS
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {visible(value)!r:.40} is not an integer >= 1") from None
    if n < 1:
        raise ConfigError(f"{name}: {n} is not an integer >= 1")
    return n


def check_sweep_size(axes: list[tuple[str, int]], per_cell: Any = None,
                     limit: int | None = None) -> int:
    """Refuse a sweep larger than the budget, counting its cells without making any.

    Parameters
    ----------
    axes : list of (str, int)
        The fields the grid multiplies and their lengths (``[("sweep.alpha", 1000),
        ("sweep.seed", 10000)]``); the cells are their product (an axis may be a count already
        multiplied out, e.g. a fairness config's actions).
    per_cell : object, optional
        One cell's spec (anything JSON-serialisable), to estimate the memory of the expansion.
    limit : int, optional
        See :func:`max_cells`.

    Returns
    -------
    int
        The number of cells.

    Raises
    ------
    ConfigError
        One line: how many cells, which fields, the limit and how to raise it.
    """
    n = math.prod(max(0, int(k)) for _, k in axes)
    cap = max_cells(limit)
    if n <= cap:
        return n
    size = ""
    if per_cell is not None:  # a validated cell holds its spec several times over (models, dicts)
        each = 8 * len(json.dumps(per_cell, default=str))
        size = f", about {_human_bytes(n * each)} in memory"
    parts = " x ".join(f"{name} ({k:,})" for name, k in axes if k != 1) or "the grid"
    raise ConfigError(f"sweep: {parts} is {n:,} cells{size}, more than the limit of {cap:,}; make "
                      f"the grid smaller or raise the limit (--max-cells N or {MAX_CELLS_ENV})")


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.0f} TB"  # pragma: no cover


def count_cells(config: ExperimentConfig) -> list[tuple[str, int]]:
    """The axes of a single-collective sweep and their lengths (their product is the number of
    cells :func:`expand` makes), worked out without making a cell."""
    sweep = config.sweep
    axes = [(f"sweep.grid.{k}", len(v)) for k, v in sweep.grid.items()]
    if sweep.alpha is not None:
        axes.append(("sweep.alpha", len(sweep.alpha)))
    elif sweep.count is not None:
        axes.append(("sweep.count", len(sweep.count)))
    axes.append(("sweep.seed", len(sweep.seed)))
    return axes


def data_stamp(spec: Any) -> list[Any]:
    """What a data set's cached values depend on beyond its spec: for a loader reading a file
    (a ``path`` parameter, e.g. the CSV loader), the file's absolute path, size and modification
    time, so an edited file, or the same relative path from another folder, is never served
    another file's cached data, split or clean firm."""
    path = (spec.params or {}).get("path")
    if not isinstance(path, str):
        return []
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except OSError:
        return [str(p)]
    return [str(p), st.st_size, st.st_mtime_ns]


@lru_cache(maxsize=8)
def _load_cached(name: str, params_json: str, stamp: tuple[Any, ...] = ()) -> Dataset:
    return load(name, **json.loads(params_json))


def loader_error(e: BaseException) -> ConfigError:
    """A data loader's exception as one line naming the field (``dataset.params`` unless the
    message names one): a loader given parameters of the wrong kind raises whatever numpy or
    pandas raise."""
    text = str(e).strip()
    msg = text.splitlines()[0] if text else type(e).__name__
    if isinstance(e, ImportError):
        return ConfigError(f"dataset.name: {msg}")
    return ConfigError(msg if re.match(r"^[a-z_]+(\.[a-z_]+)*: ", msg) else f"dataset.params: {msg}")


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Load (and memoise in this process) the data set of a spec.

    Raises
    ------
    ConfigError
        One line naming the field if the loader refuses its parameters.
    """
    try:
        return _load_cached(spec.name, json.dumps(spec.params, sort_keys=True),
                            tuple(data_stamp(spec)))
    except ConfigError:
        raise
    except Exception as e:  # a loader's own error about its parameters
        from acakit.registry import DATASETS_REGISTRY as reg

        if (spec.name in reg and not reg.is_builtin(spec.name)
                and not str(e).startswith("dataset.")):  # say which plugin failed
            text = str(e).strip().splitlines()
            raise ConfigError(f"dataset.name: {spec.name!r} ({reg.origin(spec.name).label()}) "
                              f"failed to load: {type(e).__name__}"
                              + (f": {text[0]}" if text else "")) from None
        raise loader_error(e) from None


def check_cells_against_data(cells: list[CellSpec]) -> None:
    """Check what only the data can tell: classes, columns, signal kind, group columns.

    Loads each distinct data set once; raises :class:`ConfigError` naming the field.
    """
    from acakit.firms import check_firm_fits, check_firm_params

    seen: set[str] = set()
    for cell in cells:
        key = spec_hash([cell.dataset.model_dump(mode="json"), cell.collective.model_dump(
            mode="json", exclude={"alpha", "count"}), cell.firm.model_dump(mode="json")])
        if key in seen:
            continue
        seen.add(key)
        try:
            if DATASETS.is_builtin(cell.dataset.name):  # a plugin's: checked by data.load
                check_params("dataset", cell.dataset.name, DATASETS[cell.dataset.name][0],
                             cell.dataset.params)
            ds = load_dataset(cell.dataset)
        except ValueError as e:
            raise ConfigError(str(e).splitlines()[0]) from None
        c = cell.collective
        if c.target is not None:
            try:
                ds.class_index(c.target)
            except ValueError as e:
                raise ConfigError(f"collective.target: {e}") from None
        kind = signal_kind(c.signal.type)
        if kind != ds.kind:
            from acakit.registry import SIGNALS

            allowed = [t for t in SIGNALS if signal_kind(t) == ds.kind]
            raise ConfigError(f"collective.signal.type: {c.signal.type!r} does not fit "
                              f"{ds.kind} data ({ds.name}); allowed: {', '.join(allowed)}")
        if isinstance(c.signal, ColumnsSignal):
            missing = [k for k in c.signal.values if k not in ds.X.columns]
            if missing:
                raise ConfigError(f"collective.signal.values: column {missing[0]!r} is not in "
                                  f"{ds.name}; columns: {', '.join(map(str, ds.X.columns))}")
        if isinstance(c.eligibility, dict) and "class" in c.eligibility:
            try:
                ds.class_index(c.eligibility["class"])
            except ValueError as e:
                raise ConfigError(f"collective.eligibility.class: {e}") from None
        if isinstance(c.eligibility, dict) and "group" in c.eligibility:
            cols = set(ds.sensitive.columns if ds.sensitive is not None else [])
            cols |= set(ds.X.columns) if ds.kind == "tabular" else set()
            for col in dict(c.eligibility["group"]):
                if col not in cols:
                    raise ConfigError(f"collective.eligibility.group: column {col!r} is not in "
                                      f"{ds.name}; allowed: {', '.join(sorted(map(str, cols)))}")
        try:
            check_firm_fits(cell.firm.name, ds)
            check_firm_params(cell.firm.name, ds, cell.firm.params, cell.firm.featurizer)
            if cell.firm.defense is not None:
                from acakit.firms import make_firm

                defended = make_firm(cell.firm.name, ds, cell.firm.params, cell.firm.featurizer,
                                     defense=cell.firm.defense)
                _try_callable_defense(defended, ds)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    _check_pools(cells)


def _try_callable_defense(firm: Any, ds: Dataset, n: int = 50) -> None:
    """Call a user's defense function on the first ``n`` rows before any work: one that raises
    or returns anything but one keep flag or weight in [0, 1] per row is refused here, not in
    every cell."""
    import numpy as np

    from acakit.firms.defenses import CallableDefense

    defense = getattr(firm, "defense", None)
    if not isinstance(defense, CallableDefense):
        return
    head = ds.take(np.arange(min(n, len(ds))))
    try:
        defense.weights(head.X, np.asarray(head.y), lambda: None)
    except Exception as e:  # the user's function: any failure is a bad config
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if not msg.startswith("firm.defense"):
            msg = f"firm.defense.params.function: {defense.function} fails on the data ({msg})"
        raise ConfigError(msg) from None


def split_checked(ds: Dataset, test_size: float, seed: int) -> tuple[Dataset, Dataset]:
    """The train/test split of a cell, or a one-line ConfigError if the data cannot be split
    (too few rows, a class with a single row)."""
    from acakit.data.base import train_test_split

    try:
        return train_test_split(ds, test_size, seed=seed)
    except ValueError as e:
        raise ConfigError(f"dataset: {ds.name} ({len(ds)} rows) cannot be split with test_size "
                          f"{test_size} ({str(e).splitlines()[0]})") from None


def _check_pools(cells: list[CellSpec]) -> None:
    """Every cell's collective fits in its eligible pool (on the cell's own training split)."""
    from acakit.engine.single import build_collective

    pools: dict[str, tuple[int, int, Any]] = {}
    for cell in cells:
        c = cell.collective
        key = spec_hash([cell.dataset.model_dump(mode="json"),
                         c.model_dump(mode="json", exclude={"alpha", "count"}), cell.seed])
        if key not in pools:
            train, _ = split_checked(load_dataset(cell.dataset), cell.dataset.test_size, cell.seed)
            try:
                col = build_collective(cell, train)
            except ValueError as e:  # e.g. a perturbed signal that does not fit the signal
                msg = str(e).splitlines()[0]
                where = ("collective.noise.perturb." if c.noise is not None and c.noise.perturb
                         is not None and msg.split(":")[0] in c.noise.perturb.params()
                         else "collective: ")
                raise ConfigError(where + msg) from None
            n_eligible = int(col.eligible(train).sum())
            pools[key] = (n_eligible, len(train), col)
            if n_eligible == 0 and isinstance(c.eligibility, dict) and "group" in c.eligibility:
                raise ConfigError(f"collective.eligibility.group: no training row has "
                                  f"{c.eligibility['group']!r} ({cell.dataset.name}, seed {cell.seed})")
        n_eligible, n_train, _ = pools[key]
        need = c.count if c.count is not None else int(round(float(c.alpha or 0.0) * n_train))
        if need > n_eligible:
            field = "count" if c.count is not None else "alpha"
            value = c.count if c.count is not None else c.alpha
            raise ConfigError(f"collective.{field}: {value} needs {need} members, but only "
                              f"{n_eligible} of the {n_train} training rows are eligible "
                              f"(eligibility {c.eligibility!r}, seed {cell.seed})")


def load_config(path: str | Path) -> tuple[ExperimentConfig, list[CellSpec]]:
    """Read, validate and expand a config file, checking it against the data.

    Returns
    -------
    config : ExperimentConfig
    cells : list of CellSpec
    """
    config = parse_config(read_config(path))
    cells = expand(config)
    check_cells_against_data(cells)
    return config, cells
