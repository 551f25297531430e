"""What a cell is made of: the data set, the firm (and its defense), the signal, the noise and
the collective, as pydantic models that name the bad field and value in one line."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from acakit.data import DATASETS

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
