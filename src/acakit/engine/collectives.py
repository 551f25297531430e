"""A cell's collective, built from its spec: the feature map (signal), the strategy, the noise.

Shared by every kind that builds collectives (:mod:`acakit.engine.single`,
:mod:`acakit.engine.multi`) and by the checks against the data
(:mod:`acakit.engine.config.checks`); it depends only on the cell specs and the concept layers
(and the engine's cache, for the erase strategy's reference model).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from acakit.collective import Collective
from acakit.data.base import Dataset
from acakit.engine.config.experiment import CellSpec
from acakit.engine.config.specs import ColumnsSignal, PatchSignal, PluginSignal, ShiftSignal
from acakit.firms import make_firm
from acakit.registry import SIGNALS, STRATEGIES
from acakit.strategies import (
    AddShift,
    Erase,
    FeatureMap,
    InsertTrigger,
    SetColumns,
    StampPatch,
    Strategy,
)


def build_feature_map(cell: CellSpec, dataset: Dataset) -> FeatureMap:
    """The feature map g of a cell's collective (a plugin's: ``factory(**params)``)."""
    s = cell.collective.signal
    if isinstance(s, PluginSignal):
        return SIGNALS[s.type](**s.params)
    if isinstance(s, ColumnsSignal):
        return SetColumns(dict(s.values))
    if isinstance(s, PatchSignal):
        shape = dataset.image_shape or (8, 8)
        return StampPatch(image_shape=shape, size=s.size, value=s.value, row=s.row, col=s.col)
    if isinstance(s, ShiftSignal):
        return AddShift(s.shift)
    return InsertTrigger(token=s.token, every=s.every, count=s.count, position=s.position,
                         seed=cell.seed)


def build_strategy(cell: CellSpec, dataset: Dataset) -> Strategy:
    """The strategy of a cell's collective (target resolved against the data's classes)."""
    c = cell.collective
    g = build_feature_map(cell, dataset)
    if c.strategy == "erase":
        ref = make_firm(c.reference.name, dataset, c.reference.params, c.reference.featurizer)
        key = [cell.dataset.model_dump(mode="json"), cell.seed, c.reference.model_dump(mode="json")]
        return CachedErase(g, ideal=c.ideal, reference=ref, cache_key=key)
    cls = STRATEGIES[c.strategy]
    if not getattr(cls, "needs_target", True):
        return cls(g, **c.strategy_params)
    return cls(g, dataset.class_index(c.target), **c.strategy_params)  # type: ignore[arg-type]


class CachedErase(Erase):
    """:class:`~acakit.strategies.Erase` whose reference model comes from the on-disk cache.

    The reference model is fit on the clean training data only, so it depends on the data set,
    the split (seed) and the reference spec, never on the collective: cells that differ only in
    α share it. ``cache_key`` names what it depends on; the training labels' hash and size are
    added so a different training set never gets another one's model.
    """

    def __init__(self, feature_map: FeatureMap, ideal: bool = True, reference: Any = None,
                 cache_key: Any = None) -> None:
        super().__init__(feature_map, ideal=ideal, reference=reference)
        self.cache_key = cache_key

    def fit(self, train: Dataset) -> CachedErase:
        if not self.ideal:
            return self
        from sklearn.base import clone

        from acakit.engine.cache import content_hash, get_cache

        parts = [self.cache_key, len(train), content_hash(np.asarray(train.y))]
        self.reference_ = get_cache().memoize(
            "reference", parts, lambda: clone(self.reference).fit(train.X, train.y), memory=True)
        return self


def build_collective(cell: CellSpec, dataset: Dataset) -> Collective:
    """The collective of a cell."""
    c = cell.collective
    strategy = build_strategy(cell, dataset)
    return Collective(strategy, alpha=c.alpha, count=c.count, eligibility=c.eligibility,
                      seed=cell.seed, noise=build_noise(c, strategy), camouflage=c.camouflage)


def build_noise(c: Any, strategy: Any) -> Any:
    """The :class:`~acakit.collective.Noise` of a collective spec (None without ``noise``)."""
    return None if c.noise is None else c.noise.to_noise(strategy.feature_map)
